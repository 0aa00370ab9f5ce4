import { describe, expect, it } from 'vitest';
import { waitUntil } from './wait-until.js';

describe('waitUntil', () => {
  it('returns the first truthy value and treats a throw as not met yet', async () => {
    let n = 0;
    const v = await waitUntil(() => {
      n++;
      if (n < 3) throw new Error('not yet');
      return n === 5 ? 'done' : false;
    });
    expect(v).toBe('done');
  });
  it('times out with the last error in the message', async () => {
    await expect(waitUntil(() => { throw new Error('file missing'); }, { timeoutMs: 50, what: 'jobs.json' }))
      .rejects.toThrow(/jobs\.json.*file missing/);
  });
});

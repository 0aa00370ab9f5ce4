// The build server's idle collection (issue 18 §1): one memory-reducing collection once builds
// are over and output has stopped, and that collection really gives V8's grown heap back.
import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { EventBus } from '../../events';
import { reduceMemory } from '../../jobs/release-memory';
import { createJob } from '../../jobs/model';
import { IdleCollector } from '../idle-collect';

describe('reduceMemory', () => {
  it('shrinks a heap grown by garbage (young generation included)', async () => {
    // A burst like a log flood: many short strings, some of them held across collections.
    let keep: string[][] = [];
    for (let r = 0; r < 40; r++) {
      keep.push(Array.from({ length: 20_000 }, (_, i) => `INFO line ${r}-${i} ${'x'.repeat(30)}`));
      if (keep.length > 10) keep.shift();
    }
    keep = [];
    const newSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    const before = { total: process.memoryUsage().heapTotal, young: newSpace() };
    await reduceMemory();
    const after = { total: process.memoryUsage().heapTotal, young: newSpace() };
    expect(keep).toHaveLength(0);
    expect(after.total).toBeLessThan(before.total - 10 * 1024 * 1024);
    // What a plain full GC (gc() under --expose-gc) keeps: the grown semi-spaces.
    expect(before.young).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(after.young).toBeLessThanOrEqual(2 * 1024 * 1024);
  });
});

describe('IdleCollector', () => {
  function setup(running = false) {
    const bus = new EventBus();
    const calls: number[] = [];
    let busy = running;
    const c = new IdleCollector({
      bus,
      busy: () => busy,
      gc: () => {
        calls.push(Date.now());
        return Promise.resolve();
      },
      delayMs: 50,
    });
    return { bus, calls, c, setBusy: (b: boolean) => (busy = b) };
  }
  const job = createJob({ configuration: 'a.yaml', job_type: 'compile' });

  it('collects once after a build ended and output stopped, not again while idle', async () => {
    const { bus, calls, c } = setup();
    bus.emit('job_started', { job });
    bus.emit('job_output', { job_id: job.job_id, line: 'x\n' });
    bus.emit('job_completed', { job });
    await waitUntil(() => c.collections === 1, { what: 'the idle collection' });
    await new Promise((r) => setTimeout(r, 200)); // a quiet period is not a reason to collect again
    expect(calls).toHaveLength(1);
    bus.emit('job_started', { job });
    bus.emit('job_failed', { job });
    await waitUntil(() => c.collections === 2, { what: 'the next build’s collection' });
    c.stop();
  });

  it('waits while a build runs or output is still being sent, then collects once', async () => {
    const { bus, calls, c, setBusy } = setup(true);
    bus.emit('job_cancelled', { job });
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toHaveLength(0);
    setBusy(false);
    await waitUntil(() => c.collections === 1, { what: 'the collection once nothing is busy' });
    await new Promise((r) => setTimeout(r, 150));
    expect(calls).toHaveLength(1);
    c.stop();
  });

  it('never collects before any build ran, nor after stop()', async () => {
    const { bus, calls, c } = setup();
    await new Promise((r) => setTimeout(r, 150));
    c.stop();
    bus.emit('job_completed', { job });
    await new Promise((r) => setTimeout(r, 150));
    expect(calls).toHaveLength(0);
  });
});

import { describe, expect, it } from 'vitest';
import type { BackendClient } from '../../backend/backend';
import { followJobLog, onLogBatch } from '../follow';
import { logBuffer } from '../log-store';

/** A backend whose followLog answers with `history` after letting `during` run (events in flight). */
function backend(history: string[], during: () => void = () => undefined): BackendClient {
  return {
    api: {
      followLog: async () => {
        during();
        return { job: {} as never, lines: history, truncated: false };
      },
      unfollowLog: async () => ({ ok: true as const }),
    },
  } as unknown as BackendClient;
}

const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `l${from + i}\n`);

describe('following a log', () => {
  it('replays batches that arrived while followLog was in flight, without duplicates', async () => {
    const id = 'aaaaaaaaaaa1';
    await followJobLog(
      backend(lines(10), () => {
        onLogBatch(id, 8, lines(5, 8)); // overlaps history (8, 9) then continues
      }),
      id,
    );
    const b = logBuffer(id);
    expect(b.length).toBe(13);
    expect(b.get(12)).toBe('l12\n');
    expect(b.skipped).toBe(0);
    onLogBatch(id, 13, ['l13\n']);
    expect(b.get(13)).toBe('l13\n');
  });

  it('keeps a longer buffer on re-follow when its tail is the backend history; resets otherwise', async () => {
    const id = 'aaaaaaaaaaa2';
    await followJobLog(backend(lines(1000)), id);
    onLogBatch(id, 1000, lines(5000, 1000));
    expect(logBuffer(id).length).toBe(6000);
    // The backend retains only the last 2000 lines: same tail → keep all 6000.
    await followJobLog(backend(lines(2000, 4000)), id);
    expect(logBuffer(id).length).toBe(6000);
    onLogBatch(id, 2000, ['l6000\n']);
    expect(logBuffer(id).length).toBe(6001);
    // A history that does not match (e.g. the job was re-run) replaces the buffer.
    await followJobLog(backend(['restarted\n']), id);
    expect(logBuffer(id).length).toBe(1);
  });
});

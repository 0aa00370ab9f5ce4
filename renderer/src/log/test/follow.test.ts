import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import type { BackendClient } from '../../backend/backend';
import { closeJobLog, EARLIER_PAGE, followJobLog, HISTORY_TAIL, loadAllEarlierLines, loadEarlierLines, onLogBatch } from '../follow';
import { heldLogCount, logBuffer, touchLog, useLogVersion } from '../log-store';

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

describe('closing a log frees it', () => {
  it('closing drops the buffer and its version; a late batch does not bring it back; reopening fetches it again', async () => {
    const id = 'ccccccccccc1';
    const before = heldLogCount();
    await followJobLog(backend(lines(5000)), id);
    touchLog(id);
    // The version bump waits for the next frame.
    await waitUntil(() => (useLogVersion.getState().versions[id] ?? 0) > 0, { what: 'the log version bump' });
    expect(heldLogCount()).toBe(before + 1);
    closeJobLog(id);
    expect(heldLogCount()).toBe(before);
    expect(useLogVersion.getState().versions[id]).toBeUndefined();
    onLogBatch(id, 5000, ['late\n']);
    expect(heldLogCount()).toBe(before);
    await followJobLog(backend(lines(10)), id);
    expect(logBuffer(id).length).toBe(10);
    closeJobLog(id);
  });
});

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

  it('a finished log opens on its tail; "load earlier" pages the rest in front, in order', async () => {
    const id = 'aaaaaaaaaaa3';
    const full = lines(HISTORY_TAIL + EARLIER_PAGE + 500);
    const calls: Array<{ kind: string; params: Record<string, unknown> }> = [];
    const b = {
      api: {
        followLog: async (params: { jobId: string; tail?: number }) => {
          calls.push({ kind: 'followLog', params });
          const tail = params.tail ?? full.length;
          const firstIndex = Math.max(0, full.length - tail);
          return { job: {} as never, lines: full.slice(firstIndex), truncated: false, firstIndex };
        },
        getLogRange: async (params: { jobId: string; before: number; max: number }) => {
          calls.push({ kind: 'getLogRange', params });
          const start = Math.max(0, params.before - params.max);
          return { start, lines: full.slice(start, params.before), total: full.length };
        },
        unfollowLog: async () => ({ ok: true as const }),
      },
    } as unknown as BackendClient;
    await followJobLog(b, id);
    const buf = logBuffer(id);
    expect(calls[0]).toEqual({ kind: 'followLog', params: { jobId: id, tail: HISTORY_TAIL } });
    expect(buf.length).toBe(HISTORY_TAIL);
    expect(buf.firstIndex).toBe(EARLIER_PAGE + 500);
    expect(buf.get(0)).toBe(full[EARLIER_PAGE + 500]);
    // One click: the page right before the first row, prepended.
    expect(await loadEarlierLines(b, id)).toBe(500);
    expect(calls[1]).toEqual({ kind: 'getLogRange', params: { jobId: id, before: EARLIER_PAGE + 500, max: EARLIER_PAGE } });
    expect(buf.length).toBe(HISTORY_TAIL + EARLIER_PAGE);
    expect(buf.get(0)).toBe(full[500]);
    expect(buf.prepended).toBe(EARLIER_PAGE);
    // The rest (e.g. before a download): everything, nothing left to load.
    await loadAllEarlierLines(b, id);
    expect(buf.firstIndex).toBe(0);
    expect(buf.text()).toBe(full.join(''));
    expect(await loadEarlierLines(b, id)).toBe(0);
    expect(calls.filter((c) => c.kind === 'getLogRange')).toHaveLength(2);
    // Re-opening keeps the complete buffer (its tail is the backend's history): nothing to load.
    await followJobLog(b, id);
    expect(buf.length).toBe(full.length);
    expect(buf.firstIndex).toBe(0);
  });

  it('an older backend without firstIndex means a complete history', async () => {
    const id = 'aaaaaaaaaaa4';
    await followJobLog(backend(lines(3)), id);
    expect(logBuffer(id).firstIndex).toBe(0);
  });
});

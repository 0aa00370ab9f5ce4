// Following a job's log from the renderer: history from followLog, then live batches. Batches
// that arrive while the followLog call is in flight are held and replayed by sequence number,
// so history + live has no gap and no duplicate even if a transport reorders a response.
import type { BackendClient } from '../backend/backend';
import { logBuffer, touchLog } from './log-store';

const pending = new Map<string, Array<{ firstSeq: number; lines: string[] } | { gap: [number, number] }>>();

/** Called for every logBatch event (from sync.ts). */
export function onLogBatch(jobId: string, firstSeq: number, lines: string[]): void {
  const q = pending.get(jobId);
  if (q) {
    q.push({ firstSeq, lines });
    return;
  }
  logBuffer(jobId).applyBatch(firstSeq, lines);
  touchLog(jobId);
}

export function onLogGap(jobId: string, fromSeq: number, toSeq: number): void {
  const q = pending.get(jobId);
  if (q) {
    q.push({ gap: [fromSeq, toSeq] });
    return;
  }
  logBuffer(jobId).markGap(fromSeq, toSeq);
  touchLog(jobId);
}

/** Starts (or restarts, e.g. after a reconnect) following a job; resolves with its status. */
export async function followJobLog(backend: BackendClient, jobId: string): Promise<void> {
  pending.set(jobId, []);
  try {
    const res = await backend.api.followLog({ jobId });
    const buf = logBuffer(jobId);
    buf.reset(res.lines);
    for (const item of pending.get(jobId) ?? []) {
      if ('gap' in item) buf.markGap(item.gap[0], item.gap[1]);
      else buf.applyBatch(item.firstSeq, item.lines);
    }
  } finally {
    pending.delete(jobId);
    touchLog(jobId);
  }
}

export async function unfollowJobLog(backend: BackendClient, jobId: string): Promise<void> {
  pending.delete(jobId);
  await backend.api.unfollowLog({ jobId }).catch(() => undefined);
}

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
    // Re-opening (or re-connecting to) a job this window already holds more of than the backend
    // retains: keep the longer buffer when its tail is exactly the backend's history.
    if (buf.length > res.lines.length && tailMatches(buf, res.lines)) buf.rebase(res.lines.length);
    else buf.reset(res.lines);
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

function tailMatches(buf: { length: number; get(i: number): string }, lines: readonly string[]): boolean {
  if (lines.length === 0) return false;
  const n = Math.min(lines.length, 500);
  for (let k = 1; k <= n; k++) if (buf.get(buf.length - k) !== lines[lines.length - k]) return false;
  return true;
}

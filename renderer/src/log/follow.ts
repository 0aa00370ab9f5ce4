// Following a job's log from the renderer: history from followLog, then live batches. Batches
// that arrive while the followLog call is in flight are held and replayed by sequence number,
// so history + live has no gap and no duplicate even if a transport reorders a response.
// A finished job's history comes as its last HISTORY_TAIL lines; "Load earlier lines" fetches the
// rest page by page (getLogRange).
import type { BackendClient } from '../backend/backend';
import { dropLog, logBuffer, touchLog } from './log-store';

/** Lines of a finished job's log sent on open (the rest is one click away). */
export const HISTORY_TAIL = 1000;
/** Lines one "Load earlier lines" click fetches. */
export const EARLIER_PAGE = 2000;

const pending = new Map<string, Array<{ firstSeq: number; lines: string[] } | { gap: [number, number] }>>();

/** Logs closed in this window: a batch still in flight for one must not bring its buffer back. */
const closed = new Set<string>();

/** Called for every logBatch event (from sync.ts). */
export function onLogBatch(jobId: string, firstSeq: number, lines: string[]): void {
  if (closed.has(jobId)) return;
  const q = pending.get(jobId);
  if (q) {
    q.push({ firstSeq, lines });
    return;
  }
  logBuffer(jobId).applyBatch(firstSeq, lines);
  touchLog(jobId);
}

export function onLogGap(jobId: string, fromSeq: number, toSeq: number): void {
  if (closed.has(jobId)) return;
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
  closed.delete(jobId);
  pending.set(jobId, []);
  try {
    const res = await backend.api.followLog({ jobId, tail: HISTORY_TAIL });
    const buf = logBuffer(jobId);
    const firstIndex = res.firstIndex ?? 0;
    // Re-opening (or re-connecting to) a job this window already holds more of than the backend
    // retains: keep the longer buffer when its tail is exactly the backend's history. Its extra
    // rows stand for the log's earlier lines, so fewer (or none) are left to load.
    if (buf.length > res.lines.length && tailMatches(buf, res.lines)) {
      buf.rebase(res.lines.length);
      buf.firstIndex = Math.max(0, firstIndex - (buf.length - res.lines.length));
    } else buf.reset(res.lines, res.lines.length, firstIndex);
    for (const item of pending.get(jobId) ?? []) {
      if ('gap' in item) buf.markGap(item.gap[0], item.gap[1]);
      else buf.applyBatch(item.firstSeq, item.lines);
    }
  } finally {
    pending.delete(jobId);
    touchLog(jobId);
  }
}

/**
 * "Load earlier lines": fetches up to `max` lines before the first one the window has and puts
 * them in front. Resolves with how many earlier lines are still left on the backend.
 */
export async function loadEarlierLines(backend: BackendClient, jobId: string, max = EARLIER_PAGE): Promise<number> {
  const buf = logBuffer(jobId);
  if (buf.firstIndex <= 0) return 0;
  const res = await backend.api.getLogRange({ jobId, before: buf.firstIndex, max });
  buf.prepend(res.lines, res.start);
  touchLog(jobId);
  return buf.firstIndex;
}

/** Loads every earlier line (e.g. before "Download output"). */
export async function loadAllEarlierLines(backend: BackendClient, jobId: string): Promise<void> {
  let guard = 1000;
  while (logBuffer(jobId).firstIndex > 0 && guard-- > 0) {
    const before = logBuffer(jobId).firstIndex;
    const left = await loadEarlierLines(backend, jobId, 10_000);
    if (left >= before) break; // the backend had nothing more to give
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

/**
 * The log was closed (its panel unmounted or switched to another job; not a reconnect, which
 * keeps the buffer to resume): free its lines. Unfollowing is the follow effect's part.
 */
export function closeJobLog(jobId: string): void {
  closed.add(jobId);
  pending.delete(jobId);
  dropLog(jobId);
}

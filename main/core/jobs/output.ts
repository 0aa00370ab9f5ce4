// A job's buffered output (firmware-jobs.md §8): CR collapse, the in-flight and terminal caps,
// and the trim notice whose count accumulates across trims.
import type { FirmwareJob } from './model';

export const MAX_OUTPUT_LINES_RETAINED = 2000;
export const MAX_OUTPUT_LINES_INFLIGHT = 4000;
export const INFLIGHT_TRIM_KEEP = 2000;
export const TRIM_NOTICE_PREFIX = '... [output trimmed:';

const NOTICE_RE = /^\.\.\. \[output trimmed: (\d+) earlier line\(s\) elided\]\n$/;

export function trimNotice(n: number): string {
  return `${TRIM_NOTICE_PREFIX} ${n} earlier line(s) elided]\n`;
}

/** Elided count carried by a notice entry, or null if the entry is not a notice. */
export function parseTrimNotice(entry: string | undefined): number | null {
  if (entry === undefined) return null;
  const m = NOTICE_RE.exec(entry);
  return m?.[1] !== undefined ? Number.parseInt(m[1], 10) : null;
}

/** Append one chunk; a chunk after an entry ending in `\r` replaces it, unless it is a bare `\n`. */
export function appendChunk(output: string[], chunk: string): void {
  const last = output.length > 0 ? output[output.length - 1] : undefined;
  if (last !== undefined && last.endsWith('\r') && chunk !== '\n' && parseTrimNotice(last) === null) {
    output[output.length - 1] = chunk;
  } else {
    output.push(chunk);
  }
}

/**
 * Keep the last `keep` entries when there are more than `limit`; the first entry becomes the
 * notice with the total number of lines elided so far. Returns true if it trimmed.
 */
export function trimOutput(job: Pick<FirmwareJob, 'output'>, limit: number, keep: number = limit): boolean {
  // Runs on every ingested chunk: decide from lengths alone before copying anything.
  if (job.output.length <= limit) return false;
  const prev = parseTrimNotice(job.output[0]);
  if (prev !== null && job.output.length - 1 <= limit) return false;
  const body = prev === null ? job.output : job.output.slice(1);
  const elided = body.length - keep;
  job.output = [trimNotice((prev ?? 0) + elided), ...body.slice(body.length - keep)];
  return true;
}

/** In-flight cap: above 4000 entries, keep the last 2000. */
export const trimInflight = (job: Pick<FirmwareJob, 'output'>): boolean =>
  trimOutput(job, MAX_OUTPUT_LINES_INFLIGHT, INFLIGHT_TRIM_KEEP);

/** Terminal cap: at most 2000 entries. */
export const trimTerminal = (job: Pick<FirmwareJob, 'output'>): boolean => trimOutput(job, MAX_OUTPUT_LINES_RETAINED);

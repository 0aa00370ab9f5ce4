// A job's log held outside React: chunked arrays (≤ CHUNK lines each) so appends are cheap and
// dropping the oldest lines past the cap never copies the whole log. Sequence numbers follow the
// backend's (0 = first line of the follow); CR-terminated progress lines collapse into one row
// like a terminal (firmware-jobs.md §8).

import { sgrStateAfter } from './ansi-state';

export const CHUNK = 10_000;
export const DEFAULT_CAP = 200_000;

export class LogBuffer {
  // Never empty: a first chunk always exists (enforceCap only shifts while more than one is left).
  private chunks: [string[], ...string[][]] = [[]];
  /** Lines dropped from the front (cap) — the first visible row's index in the whole log. */
  private dropped = 0;
  private count = 0;
  /** Backend sequence number the next line must carry (gap/duplicate detection). */
  nextSeq = 0;
  /** Lines the backend reported as skipped (slow client), shown as a notice. */
  skipped = 0;
  /**
   * Index of row 0 in the job's full log on the backend: that many earlier lines exist and can be
   * fetched with getLogRange ("Load earlier lines"); 0 = nothing earlier to load.
   */
  firstIndex = 0;
  /** Rows added at the front by `prepend` since the last reset (keeps the view's scroll anchor). */
  prepended = 0;
  /**
   * Carried ANSI state, computed lazily and memoised: `ansiDone` is the absolute row (dropped +
   * i) up to which rows were scanned, `ansiChanges` the rows after which the state changed.
   */
  private ansiDone = 0;
  private ansiChanges: Array<{ at: number; state: string }> = [];

  constructor(readonly cap = DEFAULT_CAP) {}

  get length(): number {
    return this.count;
  }

  get droppedFront(): number {
    return this.dropped;
  }

  /** Row i (0 = oldest retained). */
  get(i: number): string {
    if (i < 0 || i >= this.count) return '';
    // All chunks but the last are full, except the first which may have been trimmed.
    const first = this.chunks[0].length;
    if (i < first) return this.chunks[0][i]!;
    const rest = i - first;
    // In range: i < count was checked above, and every chunk after the first is full but the last.
    return this.chunks[1 + Math.floor(rest / CHUNK)]![rest % CHUNK]!;
  }

  last(): string | undefined {
    const lastChunk = this.chunks[this.chunks.length - 1]!;
    if (lastChunk.length > 0) return lastChunk[lastChunk.length - 1];
    return this.count > 0 ? this.get(this.count - 1) : undefined;
  }

  /** Replace everything (history from followLog). */
  reset(lines: readonly string[], nextSeq = lines.length, firstIndex = 0): void {
    this.chunks = [[]];
    this.dropped = 0;
    this.count = 0;
    this.skipped = 0;
    this.firstIndex = firstIndex;
    this.prepended = 0;
    this.resetAnsi();
    this.appendLines(lines);
    this.nextSeq = nextSeq;
  }

  /**
   * Earlier lines fetched from the backend (getLogRange) go in front; `start` is the index of
   * `lines[0]` in the job's log. Sequence numbers of live lines are unaffected.
   */
  prepend(lines: readonly string[], start: number): void {
    if (lines.length > 0) {
      // The first chunk may have any length (see get()); the others stay full.
      this.chunks[0] = [...lines, ...this.chunks[0]];
      this.count += lines.length;
      this.prepended += lines.length;
      // Every row moved: the carried colours are recomputed from the new first row on demand.
      this.resetAnsi();
    }
    this.firstIndex = Math.max(0, start);
  }

  /**
   * The SGR state at the start of row i (colour carried over from earlier rows). Lazy: rows are
   * scanned only up to the one asked for, once; the scan is a cheap escape test for most rows.
   */
  ansiStateBefore(i: number): string {
    const abs = this.dropped + Math.min(Math.max(0, i), this.count);
    if (abs > this.ansiDone) this.scanAnsi(abs);
    const changes = this.ansiChanges;
    // Last change at a row before `abs` (binary search: changes are in row order).
    let lo = 0;
    let hi = changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (changes[mid]!.at < abs) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? changes[lo - 1]!.state : '';
  }

  /** Keeps the content but continues with a new follow's sequence numbers (see follow.ts). */
  rebase(nextSeq: number): void {
    this.nextSeq = nextSeq;
  }

  /**
   * Applies a live batch. Lines already seen (seq < nextSeq) are skipped; a jump forward is a
   * gap the backend told us about (or a bug) and is counted, never hidden.
   */
  applyBatch(firstSeq: number, lines: readonly string[]): void {
    let start = 0;
    if (firstSeq < this.nextSeq) start = this.nextSeq - firstSeq;
    else if (firstSeq > this.nextSeq) this.skipped += firstSeq - this.nextSeq;
    if (start >= lines.length) return;
    this.appendLines(start === 0 ? lines : lines.slice(start));
    this.nextSeq = firstSeq + lines.length;
  }

  markGap(fromSeq: number, toSeq: number): void {
    if (toSeq <= this.nextSeq) return;
    this.skipped += toSeq - Math.max(fromSeq, this.nextSeq);
    this.nextSeq = toSeq;
  }

  /** The whole retained text, for "Download output". */
  text(): string {
    let out = '';
    for (const c of this.chunks) out += c.join('');
    return out;
  }

  private appendLines(lines: readonly string[]): void {
    for (const line of lines) {
      const prev = this.last();
      // CR collapse: a chunk that ended in a bare \r is overwritten by the next one.
      if (prev !== undefined && prev.endsWith('\r') && !prev.endsWith('\r\n') && line !== '\n') {
        this.replaceLast(line);
        continue;
      }
      let tail = this.chunks[this.chunks.length - 1]!;
      if (tail.length >= CHUNK) {
        tail = [];
        this.chunks.push(tail);
      }
      tail.push(line);
      this.count++;
    }
    this.enforceCap();
  }

  private resetAnsi(): void {
    this.ansiDone = this.dropped;
    this.ansiChanges = [];
  }

  /** Scans rows [ansiDone, abs) for state changes. */
  private scanAnsi(abs: number): void {
    let state = this.ansiChanges.at(-1)?.state ?? '';
    for (let at = Math.max(this.ansiDone, this.dropped); at < abs; at++) {
      const next = sgrStateAfter(this.get(at - this.dropped), state);
      if (next !== state) {
        this.ansiChanges.push({ at, state: next });
        state = next;
      }
    }
    this.ansiDone = abs;
  }

  private replaceLast(line: string): void {
    // The last row changes: its carried state (and what follows from it) is recomputed.
    const lastAbs = this.dropped + this.count - 1;
    if (this.ansiDone > lastAbs) {
      this.ansiDone = lastAbs;
      while ((this.ansiChanges.at(-1)?.at ?? -1) >= lastAbs) this.ansiChanges.pop();
    }
    for (let c = this.chunks.length - 1; c >= 0; c--) {
      const chunk = this.chunks[c]!;
      if (chunk.length > 0) {
        chunk[chunk.length - 1] = line;
        return;
      }
    }
  }

  private enforceCap(): void {
    if (this.count <= this.cap) return;
    // Rows about to leave still decide the colour of the ones that stay: scan them first, then
    // forget the changes that no longer matter (all but the last one before the new first row).
    const newDropped = this.dropped + (this.count - this.cap);
    if (this.ansiDone < newDropped) this.scanAnsi(newDropped);
    let keepFrom = 0;
    while (keepFrom + 1 < this.ansiChanges.length && this.ansiChanges[keepFrom + 1]!.at < newDropped) keepFrom++;
    if (keepFrom > 0) this.ansiChanges.splice(0, keepFrom);
    while (this.count > this.cap) {
      const over = this.count - this.cap;
      const head = this.chunks[0];
      if (head.length <= over && this.chunks.length > 1) {
        this.chunks.shift();
        this.count -= head.length;
        this.dropped += head.length;
      } else {
        const n = Math.min(over, head.length);
        this.chunks[0] = head.slice(n);
        this.count -= n;
        this.dropped += n;
      }
    }
  }
}

// A job's log held outside React: chunked arrays (≤ CHUNK lines each) so appends are cheap and
// dropping the oldest lines past the cap never copies the whole log. Sequence numbers follow the
// backend's (0 = first line of the follow); CR-terminated progress lines collapse into one row
// like a terminal (firmware-jobs.md §8).

export const CHUNK = 10_000;
export const DEFAULT_CAP = 200_000;

export class LogBuffer {
  private chunks: string[][] = [[]];
  /** Lines dropped from the front (cap) — the first visible row's index in the whole log. */
  private dropped = 0;
  private count = 0;
  /** Backend sequence number the next line must carry (gap/duplicate detection). */
  nextSeq = 0;
  /** Lines the backend reported as skipped (slow client), shown as a notice. */
  skipped = 0;

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
    if (i < first) return this.chunks[0][i];
    const rest = i - first;
    return this.chunks[1 + Math.floor(rest / CHUNK)][rest % CHUNK];
  }

  last(): string | undefined {
    const lastChunk = this.chunks[this.chunks.length - 1];
    if (lastChunk.length > 0) return lastChunk[lastChunk.length - 1];
    return this.count > 0 ? this.get(this.count - 1) : undefined;
  }

  /** Replace everything (history from followLog). */
  reset(lines: readonly string[], nextSeq = lines.length): void {
    this.chunks = [[]];
    this.dropped = 0;
    this.count = 0;
    this.skipped = 0;
    this.appendLines(lines);
    this.nextSeq = nextSeq;
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
      let tail = this.chunks[this.chunks.length - 1];
      if (tail.length >= CHUNK) {
        tail = [];
        this.chunks.push(tail);
      }
      tail.push(line);
      this.count++;
    }
    this.enforceCap();
  }

  private replaceLast(line: string): void {
    for (let c = this.chunks.length - 1; c >= 0; c--) {
      const chunk = this.chunks[c];
      if (chunk.length > 0) {
        chunk[chunk.length - 1] = line;
        return;
      }
    }
  }

  private enforceCap(): void {
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

// `kiln receiver`'s console: its own lines and the echo of remote jobs' output, written to stdout
// in small chunks, one write at a time (issue 18 §1, docs/notes/performance.md "Memory after
// bursts"). Echoing a 1M-line build one `process.stdout.write` per line left the build server
// 26–50 MB over its baseline after the flood: while a write to the pipe was pending, the stream
// buffered every further line and then handed them to node's `writev` together, which copies
// them into one native block of up to 3 bytes per character (1.5–8 MB, measured); freeing such a
// block raises glibc's mmap threshold to its size, so from then on every frame and pipe-read
// Buffer of the flood lands in the main heap, which glibc never returns from the middle. Without
// the echo the same flood ends at −3…−2 MB. Here a chunk is at most ECHO_CHUNK_CHARS characters
// (node writes a string of ≤ 16 KiB from its stack, with no allocation, when the pipe takes it)
// and the next one is written only after the previous one's callback, so node never batches.

/** The part of a Writable this needs (process.stdout). */
export interface LineStream {
  write(chunk: string, cb: (err?: Error | null) => void): boolean;
}

/**
 * At most this many characters per write: node sizes a string write's buffer at 3 bytes per
 * character and writes it from a 16 KiB stack buffer when it fits (stream_base.cc WriteString).
 */
export const ECHO_CHUNK_CHARS = 5_000;

export class ConsoleLines {
  private pending: string[] = [];
  private head = 0;
  private pendingChars = 0;
  private writing = false;
  private broken = false;

  /** maxBacklogChars: past this many characters waiting, `echo` drops lines (`line` never does). */
  constructor(
    private readonly stream: LineStream,
    private readonly maxBacklogChars: number,
  ) {}

  /** Characters waiting to be written. */
  get backlog(): number {
    return this.pendingChars;
  }

  /** A line of the build server's own (lifecycle, notices): always printed, after every line before it. */
  line(text: string): void {
    this.push(`${text}\n`);
  }

  /** An echoed output line: printed unless more than the backlog bound is waiting; false when dropped. */
  echo(text: string): boolean {
    if (this.broken || this.pendingChars + text.length + 1 > this.maxBacklogChars) return false;
    this.push(`${text}\n`);
    return true;
  }

  /** Hands everything still waiting to the stream at once (before the process exits). */
  flush(): void {
    if (this.broken || this.head === this.pending.length) return;
    const rest = this.pending.slice(this.head).join('');
    this.reset();
    this.stream.write(rest, () => undefined);
  }

  private push(chunk: string): void {
    if (this.broken) return;
    this.pending.push(chunk);
    this.pendingChars += chunk.length;
    if (!this.writing) {
      this.writing = true;
      setImmediate(() => this.writeNext()); // lines of one burst leave together
    }
  }

  private writeNext(): void {
    if (this.broken || this.head === this.pending.length) {
      this.writing = false;
      return;
    }
    let chunk = '';
    while (this.head < this.pending.length) {
      const next = this.pending[this.head];
      if (next === undefined || (chunk !== '' && chunk.length + next.length > ECHO_CHUNK_CHARS)) break;
      chunk += next;
      this.head++;
    }
    this.pendingChars -= chunk.length;
    if (this.head === this.pending.length) this.reset();
    else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    this.stream.write(chunk, (err) => {
      if (err) {
        // stdout is gone (EPIPE): nothing more can be printed; the build server keeps serving.
        this.broken = true;
        this.reset();
        this.writing = false;
        return;
      }
      this.writeNext();
    });
  }

  private reset(): void {
    this.pending = [];
    this.head = 0;
    this.pendingChars = 0;
  }
}

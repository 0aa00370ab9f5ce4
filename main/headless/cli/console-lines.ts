// `kiln receiver`'s stdout: its own lines and the echo of remote jobs' output, written in chunks
// of at most ECHO_CHUNK_CHARS characters, the next one only after the previous one's write
// callback (issue 18 §1, docs/notes/performance.md "Memory after bursts"). One
// `process.stdout.write` per line, as before, left the build server 33–37 MB over its baseline
// 20 s after a 1M-line flood: while one write to the pipe was pending, the stream queued every
// further line and then handed them to node's `writev` together, which copies them into one
// native block (3 bytes per character: 1.5–8 MB blocks measured), and glibc's main heap ended
// 45–70 MB large, mostly free and never returned; without the echo the same flood ends at
// −3…−2 MB. A string of ≤ 16 KiB (3 bytes per character) is written from node's stack with no
// allocation when the pipe takes it, and one write at a time means node never batches.

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

  constructor(private readonly stream: LineStream) {}

  /** Characters waiting to be written (the caller bounds what it echoes by this). */
  get backlog(): number {
    return this.pendingChars;
  }

  /** One line, printed after every line before it (dropped only once stdout is gone). */
  line(text: string): void {
    this.push(`${text}\n`);
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
    // Nothing in flight: out at once (a lifecycle line is not delayed). Otherwise it waits for the
    // write callback (next tick at the earliest), so the rest of a burst leaves together.
    if (!this.writing) {
      this.writing = true;
      this.writeNext();
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

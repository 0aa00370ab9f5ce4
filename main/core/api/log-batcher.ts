// Coalesces a followed job's output into `logBatch` events: one message every `intervalMs`
// (default 50) or as soon as `maxBytes` (default 64 KiB) are pending, never one per line.
// Per-message overhead dominates IPC/WebSocket cost at thousands of lines a second
// (electron.md §4.4), and batches over 64 KiB pay extra copies.

export interface LogBatch {
  jobId: string;
  firstSeq: number;
  lines: string[];
}

export interface LogBatcherOptions {
  intervalMs?: number;
  maxBytes?: number;
  /**
   * Optional backpressure probe (e.g. WebSocket bufferedAmount). When it reports more than
   * `maxBacklogBytes`, pending lines are dropped and reported as a gap instead of queued.
   */
  backlog?: () => number;
  maxBacklogBytes?: number;
}

export type LogSink = (batch: LogBatch) => void;
export type GapSink = (gap: { jobId: string; fromSeq: number; toSeq: number }) => void;

export class LogBatcher {
  private pending: string[] = [];
  private pendingBytes = 0;
  private firstSeq: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly intervalMs: number;
  private readonly maxBytes: number;
  private readonly maxBacklogBytes: number;

  constructor(
    readonly jobId: string,
    startSeq: number,
    private readonly sink: LogSink,
    private readonly gapSink: GapSink,
    private readonly opts: LogBatcherOptions = {},
  ) {
    this.firstSeq = startSeq;
    this.intervalMs = opts.intervalMs ?? 50;
    this.maxBytes = opts.maxBytes ?? 64 * 1024;
    this.maxBacklogBytes = opts.maxBacklogBytes ?? 4 * 1024 * 1024;
  }

  /** Sequence number the next pushed line will get. */
  get nextSeq(): number {
    return this.firstSeq + this.pending.length;
  }

  push(line: string): void {
    if (this.closed) return;
    this.pending.push(line);
    // String length approximates UTF-8 size closely enough for a flush trigger.
    this.pendingBytes += line.length;
    if (this.pendingBytes >= this.maxBytes) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.intervalMs);
    }
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return;
    const lines = this.pending;
    const firstSeq = this.firstSeq;
    this.pending = [];
    this.pendingBytes = 0;
    this.firstSeq = firstSeq + lines.length;
    if (this.opts.backlog && this.opts.backlog() > this.maxBacklogBytes) {
      this.gapSink({ jobId: this.jobId, fromSeq: firstSeq, toSeq: firstSeq + lines.length });
      return;
    }
    this.sink({ jobId: this.jobId, firstSeq, lines });
  }

  /** Flushes what is pending and stops; later pushes are ignored. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}

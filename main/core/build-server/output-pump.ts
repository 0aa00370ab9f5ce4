// The build server's outbound path to one sender (issue 18 §1): back-pressure for job output.
// A build can print far faster than a sender reads; sending one frame per line without waiting
// piled every line up in this process's heap. The pump instead
//  - keeps at most `maxInFlight` frames handed to the session and not yet written to the socket,
//  - coalesces the lines waiting behind them into multi-line `job_output` frames within the frame
//    cap (peer-link-protocol.md §6.2: `line` may carry several terminated lines; the sender splits
//    them back),
//  - holds at most `maxQueuedBytes` of waiting lines; past that the oldest waiting lines of a job
//    are dropped and a visible `[… N line(s) elided …]` line takes their place, counted across drops
//    like the engine's own trim (jobs/output.ts), so the newest output — where a build's result and
//    errors are — always reaches the sender,
//  - sends a job's state frames after that job's waiting output (a terminal state is never seen
//    before the last line) and every other frame at once (queue_status, acks, artifacts never wait
//    behind log lines).
import { APP_FRAME_MAX_BYTES, NOISE_TAG_BYTES } from '../peer-link/transfer';
import { splitOutputLine, type Frame } from './frame-parse';

export const DEFAULT_MAX_IN_FLIGHT_FRAMES = 8;
export const DEFAULT_MAX_QUEUED_OUTPUT_BYTES = 4 * 1024 * 1024;

/** The notice that replaces lines the build server dropped because the sender read too slowly. */
export function elisionNotice(n: number): string {
  return `... [output trimmed: ${n} line(s) elided by the build server: the sender read slower than the build printed]\n`;
}

export interface OutputPumpOptions {
  /** Sends one frame; resolves once it was handed to the socket (PeerSession.send). */
  send(frame: Frame): Promise<void>;
  maxInFlight?: number;
  maxQueuedBytes?: number;
  maxFrameBytes?: number;
  /** A send failed (the session is closing, or a frame was refused). */
  onError?(err: Error, frame: Frame): void;
}

interface OutputItem {
  kind: 'output';
  jobId: string;
  lines: string[];
  /** Next line to send (lines before it are sent or dropped). */
  head: number;
  /** Lines dropped from this item and not yet announced. */
  elided: number;
}
interface FrameItem {
  kind: 'frame';
  frame: Frame;
}
type Item = OutputItem | FrameItem;

export class OutputPump {
  private readonly queue: Item[] = [];
  /** The item a job's next line joins (its newest output item not followed by one of its frames). */
  private readonly open = new Map<string, OutputItem>();
  private queuedBytes = 0;
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  private readonly maxInFlight: number;
  private readonly maxQueuedBytes: number;
  private readonly maxFrameBytes: number;
  /** Budget for the `line` value of a coalesced frame (measured as UTF-8 before escaping). */
  private readonly coalesceBytes: number;
  /** Lines elided over the pump's life (diagnostics and tests). */
  elidedTotal = 0;
  /** job_output frames sent (diagnostics and tests). */
  outputFrames = 0;

  constructor(private readonly opts: OutputPumpOptions) {
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT_FRAMES;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_OUTPUT_BYTES;
    this.maxFrameBytes = opts.maxFrameBytes ?? APP_FRAME_MAX_BYTES;
    // Half the cap leaves room for escaping (`\n` → `\\n` and friends); measured exactly before sending.
    this.coalesceBytes = Math.floor((this.maxFrameBytes - NOISE_TAG_BYTES - 200) / 2);
  }

  /** Lines waiting (not yet handed to the session), for diagnostics and tests. */
  get waitingBytes(): number {
    return this.queuedBytes;
  }

  /** Nothing waiting and nothing handed to the session unwritten (the build server's idle collection waits for it). */
  get idle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0;
  }

  /** One output line (terminator included) of the sender's job `jobId`. */
  output(jobId: string, line: string): void {
    if (this.closed) return;
    let item = this.open.get(jobId);
    if (!item) {
      item = { kind: 'output', jobId, lines: [], head: 0, elided: 0 };
      this.open.set(jobId, item);
      this.queue.push(item);
    }
    item.lines.push(line);
    this.queuedBytes += line.length;
    if (this.queuedBytes > this.maxQueuedBytes) this.elide();
    this.schedule();
  }

  /**
   * A frame about the sender's job `jobId` (job_state_changed): sent after every line of that
   * job still waiting, and at once when none is.
   */
  jobFrame(jobId: string, frame: Frame): void {
    if (this.closed) return;
    const item = this.open.get(jobId);
    if (!item) return this.sendNow(frame);
    this.open.delete(jobId);
    this.queue.splice(this.queue.indexOf(item) + 1, 0, { kind: 'frame', frame });
    this.schedule();
  }

  /** The session ended: drop everything waiting. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.open.clear();
    this.queuedBytes = 0;
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Drops the oldest waiting lines (oldest item first) until the bound holds again. */
  private elide(): void {
    const target = this.maxQueuedBytes / 2; // hysteresis: not one drop per incoming line
    for (const it of this.queue) {
      if (this.queuedBytes <= target) break;
      if (it.kind !== 'output') continue;
      // Keep the item's newest line: the job's latest output always survives.
      while (it.head < it.lines.length - 1 && this.queuedBytes > target) {
        const line = it.lines[it.head];
        if (line === undefined) break; // head < length - 1: never
        this.queuedBytes -= line.length;
        it.lines[it.head] = '';
        it.head++;
        it.elided++;
        this.elidedTotal++;
      }
      this.compact(it);
    }
  }

  private compact(it: OutputItem): void {
    if (it.head > 1024 && it.head * 2 > it.lines.length) {
      it.lines = it.lines.slice(it.head);
      it.head = 0;
    }
  }

  private schedule(): void {
    // Lines printed in one burst (one read of the build's pipe) leave together: pump after it.
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const head = this.queue[0];
      if (head === undefined) break; // length > 0: never
      if (head.kind === 'frame') {
        this.queue.shift();
        this.sendTracked(head.frame);
        continue;
      }
      const frames = this.takeOutput(head);
      if (head.head >= head.lines.length && head.elided === 0) {
        this.queue.shift();
        if (this.open.get(head.jobId) === head) this.open.delete(head.jobId);
      } else this.compact(head);
      for (const f of frames) this.sendTracked(f);
    }
  }

  /** The next frame(s) of an output item: a notice first if lines were dropped, then lines up to the budget. */
  private takeOutput(it: OutputItem): Frame[] {
    const frameOf = (line: string): Frame => ({ type: 'job_output', job_id: it.jobId, stream: 'stdout', line });
    let text = '';
    if (it.elided > 0) {
      text = elisionNotice(it.elided);
      it.elided = 0;
    }
    // A line too long for one frame goes alone, split by the spec's rule (§6.1).
    const first = it.lines[it.head]; // undefined once every line is taken
    if (text === '' && first !== undefined && Buffer.byteLength(first) > this.coalesceBytes) {
      const line = first;
      this.queuedBytes -= line.length;
      it.lines[it.head++] = '';
      return splitOutputLine(it.jobId, line, this.maxFrameBytes).map(frameOf);
    }
    let bytes = Buffer.byteLength(text);
    const start = it.head;
    while (it.head < it.lines.length) {
      const line = it.lines[it.head];
      if (line === undefined) break; // head < length: never
      const b = line.length <= 256 ? line.length * 3 : Buffer.byteLength(line); // UTF-8 bound for short lines
      if (bytes + b > this.coalesceBytes && it.head > start) break;
      if (bytes + b > this.coalesceBytes && text !== '') break;
      text += line;
      bytes += b;
      this.queuedBytes -= line.length;
      it.lines[it.head++] = '';
    }
    // Exact check: heavy escaping (control characters) can still pass the cap; split then.
    const frame = frameOf(text);
    if (Buffer.byteLength(JSON.stringify(frame)) + NOISE_TAG_BYTES <= this.maxFrameBytes) return [frame];
    return splitOutputLine(it.jobId, text, this.maxFrameBytes).map(frameOf);
  }

  private sendNow(frame: Frame): void {
    this.opts.send(frame).catch((err: Error) => this.opts.onError?.(err, frame));
  }

  private sendTracked(frame: Frame): void {
    if (frame.type === 'job_output') this.outputFrames++;
    this.inFlight++;
    this.opts
      .send(frame)
      .catch((err: Error) => this.opts.onError?.(err, frame))
      .finally(() => {
        this.inFlight--;
        if (!this.closed && this.queue.length > 0) this.pump();
      });
  }
}

// A WebSocket seen as a stream of binary frames: `read()` with a timeout during the handshake,
// then a push handler for the session. Frames that arrive between the two are queued so none
// is lost when the session takes over.
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

export type ChannelErrorKind = 'timeout' | 'text_frame' | 'closed' | 'transport';

export class ChannelError extends Error {
  override name = 'ChannelError';
  constructor(
    readonly kind: ChannelErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface InboundFrame {
  data: Buffer;
  binary: boolean;
}

export interface ChannelHandlers {
  onFrame(frame: InboundFrame): void;
  onClose(info: { code: number; reason: string; error?: Error }): void;
}

const CLOSE_GRACE_MS = 1000;

/**
 * Bound on frames held for a reader that is not reading (the handshake between reads, a
 * pair_status long-poll, the moment before a session attaches). Overflow drops the connection:
 * a peer cannot make this process hold more than this per connection (issue 11, defect 2).
 */
export interface InboundQueueLimit {
  frames: number;
  bytes: number;
}
export const DEFAULT_INBOUND_QUEUE_LIMIT: InboundQueueLimit = { frames: 256, bytes: 8 * 1024 * 1024 };

export class WsChannel {
  private readonly queue: InboundFrame[] = [];
  private queuedBytes = 0;
  private queueLimit: InboundQueueLimit = DEFAULT_INBOUND_QUEUE_LIMIT;
  private overflowed = false;
  private waiter: { resolve: (f: InboundFrame) => void; reject: (e: Error) => void } | undefined;
  private handlers: ChannelHandlers | undefined;
  private closedInfo: { code: number; reason: string; error?: Error } | undefined;
  private lastError: Error | undefined;
  private corked = false;

  constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.push({ data: buf, binary: isBinary });
    });
    ws.on('error', (err: Error) => {
      this.lastError = err;
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closedInfo = { code, reason: reason.toString('utf8'), error: this.lastError };
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(this.lastError ? new ChannelError('transport', this.lastError.message) : new ChannelError('closed', `connection closed (code ${code})`));
      this.handlers?.onClose(this.closedInfo);
    });
  }

  /** Tightens or relaxes the bound on frames queued while nobody reads. */
  setInboundQueueLimit(limit: InboundQueueLimit): void {
    this.queueLimit = limit;
    this.checkQueue();
  }

  /** Frames waiting for a reader (diagnostics and tests). */
  get queuedFrames(): number {
    return this.queue.length;
  }

  /** Bytes handed to ws but not yet written to the socket. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isClosed(): boolean {
    return this.closedInfo !== undefined || this.ws.readyState >= 2;
  }

  /** Next binary frame. Rejects on a text frame, on close, or after `timeoutMs` (null = never). */
  read(timeoutMs: number | null): Promise<Buffer> {
    if (this.handlers) return Promise.reject(new Error('channel is in push mode'));
    const next = this.queue.shift();
    if (next) this.queuedBytes -= next.data.length;
    if (next) return next.binary ? Promise.resolve(next.data) : Promise.reject(new ChannelError('text_frame', 'text frame received'));
    if (this.closedInfo) return Promise.reject(new ChannelError('closed', 'connection closed'));
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== null) {
        timer = setTimeout(() => {
          this.waiter = undefined;
          reject(new ChannelError('timeout', `no message within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiter = {
        resolve: (f) => {
          if (timer) clearTimeout(timer);
          if (f.binary) resolve(f.data);
          else reject(new ChannelError('text_frame', 'text frame received'));
        },
        reject: (e) => {
          if (timer) clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Switches to push mode: queued frames are delivered first, synchronously. */
  attach(handlers: ChannelHandlers): void {
    this.handlers = handlers;
    while (this.queue.length > 0 && this.handlers) {
      const f = this.queue.shift()!;
      this.queuedBytes -= f.data.length;
      handlers.onFrame(f);
    }
    if (this.closedInfo) handlers.onClose(this.closedInfo);
  }

  /** Sends one binary frame; resolves once it was handed to the socket. */
  send(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== 1) return reject(new ChannelError('closed', 'connection is not open'));
      this.corkUntilNextTick();
      this.ws.send(data, { binary: true }, (err) => (err ? reject(new ChannelError('transport', err.message)) : resolve()));
    });
  }

  /**
   * Frames sent in the same tick (a burst of log lines, a window of chunks) leave in one socket
   * write instead of one write syscall each; every frame is still its own WebSocket message.
   * The socket is ws's own (not in its typings); without one nothing is corked.
   */
  private corkUntilNextTick(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: Socket | null })._socket;
    if (!socket || typeof socket.cork !== 'function' || socket.destroyed) return;
    socket.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  /** Closing handshake, then a hard terminate if the peer does not answer within a second. */
  close(code = 1000, reason = ''): void {
    if (this.ws.readyState === 3) return;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
      return;
    }
    const t = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    t.unref?.();
    this.ws.once('close', () => clearTimeout(t));
  }

  /** Drops the TCP connection at once. */
  terminate(): void {
    this.ws.terminate();
  }

  private push(frame: InboundFrame): void {
    if (this.handlers) {
      this.handlers.onFrame(frame);
      return;
    }
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve(frame);
      return;
    }
    if (this.overflowed) return;
    this.queue.push(frame);
    this.queuedBytes += frame.data.length;
    this.checkQueue();
  }

  private checkQueue(): void {
    if (this.overflowed) return;
    if (this.queue.length <= this.queueLimit.frames && this.queuedBytes <= this.queueLimit.bytes) return;
    this.overflowed = true;
    this.lastError = new Error(`inbound queue over ${this.queueLimit.frames} frames / ${this.queueLimit.bytes} bytes while no reader was waiting`);
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.ws.terminate();
  }
}

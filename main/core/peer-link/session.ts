// A long-lived peer-link application session (peer-link-protocol.md §6, §12), shared by both
// roles: encrypted JSON frames over the transport ciphers of the handshake, serialised sends,
// inbound cap before decrypt, ping/pong heartbeat and terminate handling.
import { APP_FRAME_MAX_BYTES, HEARTBEAT_DEAD_AFTER_MS, HEARTBEAT_INTERVAL_MS, isTerminateReason } from './constants';
import { PeerLinkFrameTooLargeError, PeerLinkSessionClosedError } from './errors';
import { decodeAppFrame, parsePingPong, parseTerminate, type PeerMessage } from './frames';
import { NOISE_TAG_BYTES, type TransportCiphers } from './noise';
import { encodeJson } from './strict-json';
import type { InboundFrame, WsChannel } from './ws-channel';

export type { PeerMessage } from './frames';

/** Both sides of a session. Frames other than ping/pong/terminate reach `onMessage` listeners. */
export interface PeerSession {
  /** pin_sha256 of the remote static key. */
  readonly pin: string;
  readonly remoteStaticKey: Buffer;
  readonly closed: boolean;
  /** Set once closed: the reason given to onClose listeners. */
  readonly closeReason: string | undefined;
  /**
   * Encrypts and sends one frame. Frames go out in call order (each call takes the next nonce
   * synchronously); the promise resolves when the frame was handed to the socket, so awaiting
   * it gives back-pressure. Rejects with PeerLinkSessionClosedError after close and with
   * PeerLinkFrameTooLargeError when the ciphertext would exceed 61440 bytes.
   */
  send(msg: PeerMessage): Promise<void>;
  /** Listener for inbound application frames (unknown types included); returns an unsubscribe. */
  onMessage(fn: (msg: PeerMessage) => void): () => void;
  /** Called once when the session ends (immediately, async, if it already has). */
  onClose(fn: (reason: string, detail: string) => void): () => void;
  /**
   * Ends the session. A wire reason (superseded, heartbeat_timeout, server_shutting_down,
   * malformed_frame, client_stopped) is first sent as terminate{reason}; any other string is a
   * local reason only. Idempotent.
   */
  close(reason: string, detail?: string): Promise<void>;
}

/** Receiver side: the offloader at the other end. */
export interface BuildServerSession extends PeerSession {
  readonly dashboardId: string;
  /** The sender's label as approved (≤128). */
  readonly label: string;
  readonly peerIp: string;
  readonly friendlyName: string;
  readonly haAddon: boolean;
}

export type SessionRole = 'receiver' | 'offloader';

export interface SessionTiming {
  heartbeatIntervalMs?: number;
  heartbeatDeadAfterMs?: number;
}

export interface SessionOptions extends SessionTiming {
  role: SessionRole;
  pin: string;
  remoteStaticKey: Buffer;
  channel: WsChannel;
  ciphers: TransportCiphers;
  maxFrameBytes?: number;
  debug?: (msg: string) => void;
}

const TERMINATE_SEND_TIMEOUT_MS = 1000;
/**
 * A peer that does not read (while it makes us answer pings, or while output streams to it)
 * must not grow our send buffer without bound: past this the session ends.
 */
export const MAX_OUTBOUND_BUFFERED_BYTES = 64 * 1024 * 1024;

export class NoisePeerSession implements PeerSession {
  readonly pin: string;
  readonly remoteStaticKey: Buffer;
  readonly role: SessionRole;
  private readonly channel: WsChannel;
  private readonly ciphers: TransportCiphers;
  private readonly maxFrameBytes: number;
  private readonly messageListeners = new Set<(msg: PeerMessage) => void>();
  private readonly closeListeners = new Set<(reason: string, detail: string) => void>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly deadAfterMs: number;
  private lastPongAt = Date.now();
  private pingNonce = 0;
  private closing: Promise<void> | undefined;
  private reason: string | undefined;
  private detail = '';
  private readonly debug: (msg: string) => void;
  private readonly counters = { framesIn: 0, framesOut: 0, pingsSent: 0, pongsReceived: 0 };

  constructor(opts: SessionOptions) {
    this.pin = opts.pin;
    this.remoteStaticKey = opts.remoteStaticKey;
    this.role = opts.role;
    this.channel = opts.channel;
    this.ciphers = opts.ciphers;
    this.maxFrameBytes = opts.maxFrameBytes ?? APP_FRAME_MAX_BYTES;
    this.deadAfterMs = opts.heartbeatDeadAfterMs ?? HEARTBEAT_DEAD_AFTER_MS;
    this.debug = opts.debug ?? (() => undefined);
    this.heartbeat = setInterval(() => this.heartbeatTick(), opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref?.();
    // Attach on the next macrotask: frames that arrived with the handshake response are then
    // delivered after the creator had its synchronous chance to register onMessage listeners.
    setImmediate(() => this.attach());
  }

  private attach(): void {
    this.channel.attach({
      onFrame: (f) => this.handleFrame(f),
      onClose: (info) => {
        if (info.error) void this.finish('transport_error', info.error.message, false);
        else void this.finish('peer_hung_up', `connection closed by the peer (code ${info.code})`, false);
      },
    });
  }

  get closed(): boolean {
    return this.reason !== undefined;
  }

  get closeReason(): string | undefined {
    return this.reason;
  }

  get closeDetail(): string {
    return this.detail;
  }

  /** Diagnostics: frame and heartbeat counters since open. */
  get stats(): Readonly<{ framesIn: number; framesOut: number; pingsSent: number; pongsReceived: number }> {
    return { ...this.counters };
  }

  send(msg: PeerMessage): Promise<void> {
    if (this.reason !== undefined) return Promise.reject(new PeerLinkSessionClosedError(this.reason, this.detail));
    return this.sendFrame(msg);
  }

  onMessage(fn: (msg: PeerMessage) => void): () => void {
    this.messageListeners.add(fn);
    return () => this.messageListeners.delete(fn);
  }

  onClose(fn: (reason: string, detail: string) => void): () => void {
    if (this.reason !== undefined) {
      const [r, d] = [this.reason, this.detail];
      queueMicrotask(() => fn(r, d));
      return () => undefined;
    }
    this.closeListeners.add(fn);
    return () => this.closeListeners.delete(fn);
  }

  close(reason: string, detail = ''): Promise<void> {
    return this.finish(reason, detail, isTerminateReason(reason));
  }

  // ---- internals ------------------------------------------------------------------------------

  private sendFrame(msg: PeerMessage): Promise<void> {
    const plaintext = encodeJson(msg);
    if (plaintext.length + NOISE_TAG_BYTES > this.maxFrameBytes) {
      return Promise.reject(new PeerLinkFrameTooLargeError(`${msg.type} frame of ${plaintext.length + NOISE_TAG_BYTES} bytes exceeds the ${this.maxFrameBytes}-byte cap`));
    }
    if (this.channel.bufferedAmount > MAX_OUTBOUND_BUFFERED_BYTES) {
      void this.finish('transport_error', `the peer is not reading: over ${MAX_OUTBOUND_BUFFERED_BYTES} bytes waiting to be sent`, false);
      return Promise.reject(new PeerLinkSessionClosedError('transport_error', 'the peer is not reading'));
    }
    // Encrypt and hand to the socket in the same tick: nonce order = wire order.
    this.counters.framesOut += 1;
    return this.channel.send(this.ciphers.send.encrypt(plaintext));
  }

  private handleFrame(frame: InboundFrame): void {
    if (this.reason !== undefined) return;
    if (!frame.binary) return this.malformed('text frame');
    if (frame.data.length > this.maxFrameBytes) return this.malformed(`frame of ${frame.data.length} bytes exceeds the ${this.maxFrameBytes}-byte cap`);
    let plaintext: Buffer;
    try {
      plaintext = this.ciphers.recv.decrypt(frame.data);
    } catch {
      return this.malformed('frame failed to decrypt');
    }
    const msg = decodeAppFrame(plaintext);
    if (!msg) return this.malformed('frame is not a JSON object with a string type');
    this.counters.framesIn += 1;
    switch (msg.type) {
      case 'ping': {
        const ping = parsePingPong(msg);
        if (!ping) return this.debug('ignoring ping without an integer nonce');
        this.sendFrame({ type: 'pong', nonce: ping.nonce }).catch(() => undefined);
        return;
      }
      case 'pong':
        if (parsePingPong(msg)) {
          this.lastPongAt = Date.now();
          this.counters.pongsReceived += 1;
        } else this.debug('ignoring pong without an integer nonce');
        return;
      case 'terminate': {
        const t = parseTerminate(msg);
        if (t) void this.finish(t.reason, `peer sent terminate{${t.reason}}`, false);
        else void this.finish('peer_hung_up', 'peer sent terminate without a reason', false);
        return;
      }
      default:
        for (const fn of [...this.messageListeners]) {
          try {
            fn(msg);
          } catch (err) {
            this.debug(`message listener for ${msg.type} threw: ${(err as Error).message}`);
          }
        }
    }
  }

  private malformed(detail: string): void {
    this.debug(`malformed frame: ${detail}`);
    // The build server tells the sender why; the sender just drops the link (§6.1).
    if (this.role === 'receiver') void this.finish('malformed_frame', detail, true);
    else void this.finish('transport_error', `malformed frame from the build server: ${detail}`, false);
  }

  private heartbeatTick(): void {
    if (this.reason !== undefined) return;
    if (Date.now() - this.lastPongAt > this.deadAfterMs) {
      // Receiver tells the peer; the offloader closes with a local reason only (§12).
      void this.finish('heartbeat_timeout', `no pong for more than ${this.deadAfterMs} ms`, this.role === 'receiver');
      return;
    }
    this.pingNonce += 1;
    this.counters.pingsSent += 1;
    this.sendFrame({ type: 'ping', nonce: this.pingNonce }).catch(() => undefined);
  }

  private finish(reason: string, detail: string, sendTerminate: boolean): Promise<void> {
    if (this.closing) return this.closing;
    this.reason = reason;
    this.detail = detail;
    clearInterval(this.heartbeat);
    // Listeners first, synchronously: pending requests on this session fail at once.
    for (const fn of [...this.closeListeners]) {
      try {
        fn(reason, detail);
      } catch (err) {
        this.debug(`close listener threw: ${(err as Error).message}`);
      }
    }
    this.closeListeners.clear();
    this.messageListeners.clear();
    this.closing = (async () => {
      if (sendTerminate && !this.channel.isClosed) {
        await Promise.race([this.sendFrame({ type: 'terminate', reason }).catch(() => undefined), delay(TERMINATE_SEND_TIMEOUT_MS)]);
      }
      this.channel.close(1000);
    })();
    return this.closing;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}

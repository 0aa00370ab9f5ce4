// Offloader side of a handshake (peer-link-protocol.md §1, §2, §4): dial the receiver, run Noise
// XX as initiator, check the pinned key right after msg2, read the one response frame. On top:
// the one-shot intents (preview, pair_request, pair_status) and the session opener (peer_link).
import WebSocket from 'ws';
import {
  ONE_SHOT_MAX_BYTES,
  ONE_SHOT_TIMEOUT_MS,
  PAIR_STATUS_TIMEOUT_MS,
  HANDSHAKE_READ_TIMEOUT_MS,
  PEER_LINK_PATH,
  TCP_CONNECT_TIMEOUT_MS,
} from './constants';
import { PeerLinkAuthRejectedError, PeerLinkConnectError, PeerLinkError, PeerLinkPinMismatchError, PeerLinkProtocolError, PeerLinkTimeoutError } from './errors';
import type { PeerLinkIdentity } from './identity';
import { parseIntentResponse, type IntentResponse } from './intents';
import { HandshakeState, NoiseError, type TransportCiphers } from './noise';
import { NoisePeerSession, type PeerSession, type SessionTiming } from './session';
import { encodeJson } from './strict-json';
import { ChannelError, WsChannel } from './ws-channel';
import { pinOf } from './x25519';

export interface DialOptions {
  host: string;
  port: number;
  identity: PeerLinkIdentity;
  intent: string;
  /** msg3 payload: a JSON value, or raw bytes (empty for preview). */
  payload?: unknown;
  /** When set, the handshake stops after msg2 if the receiver's pin differs (nothing sent). */
  expectedPin?: string;
  prologue?: Uint8Array;
  connectTimeoutMs?: number;
  /** Per handshake message. */
  handshakeTimeoutMs?: number;
  /** Wait for the response frame; null = no per-frame limit (pair_status). Default: handshake timeout. */
  responseTimeoutMs?: number | null;
  /** Deadline for the whole exchange; null = none. */
  totalTimeoutMs?: number | null;
  maxPayload?: number;
  signal?: AbortSignal;
  /** Tests only: replaces msg1's plaintext payload (garbage-intent checks). */
  msg1Payload?: Uint8Array;
  /** Tests only: fixed ephemeral key. */
  ephemeralPrivateKey?: Uint8Array;
}

export interface DialResult {
  channel: WsChannel;
  ciphers: TransportCiphers;
  remoteStaticKey: Buffer;
  remotePin: string;
  response: IntentResponse;
}

export function peerLinkUrl(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `ws://${h}:${port}${PEER_LINK_PATH}`;
}

function openSocket(url: string, connectTimeoutMs: number, maxPayload: number, holder: { ws?: WebSocket }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // ws's default masking: a fresh random key per frame, as RFC 6455 §5.3 requires of a client.
    // The optional `bufferutil` (N-API, prebuilt) does the XOR natively: ~10 ms instead of
    // ~300–600 ms of JavaScript per 64 MiB (docs/notes/performance.md); without it ws falls back.
    const ws = new WebSocket(url, { handshakeTimeout: connectTimeoutMs, maxPayload, perMessageDeflate: false });
    holder.ws = ws;
    const fail = (msg: string) => {
      ws.removeAllListeners('open');
      ws.terminate();
      reject(new PeerLinkConnectError(msg));
    };
    ws.once('open', () => {
      ws.removeAllListeners('unexpected-response');
      resolve(ws);
    });
    ws.once('error', (err) => fail(`could not reach ${url}: ${err.message}`));
    ws.once('unexpected-response', (_req, res) => fail(`${url} answered HTTP ${res.statusCode} instead of a WebSocket upgrade`));
  });
}

function mapChannelError(err: unknown, step: string): Error {
  if (err instanceof ChannelError) {
    if (err.kind === 'timeout') return new PeerLinkTimeoutError(`receiver did not answer ${step} in time`);
    if (err.kind === 'text_frame') return new PeerLinkProtocolError(`receiver sent a text frame during ${step}`);
    if (step === 'the response') return new PeerLinkAuthRejectedError('receiver closed the connection after msg3 without answering (identity not accepted)');
    return new PeerLinkProtocolError(`receiver closed the connection during ${step}`);
  }
  if (err instanceof NoiseError) return new PeerLinkProtocolError(`handshake failed at ${step}: ${err.message}`);
  return err as Error;
}

/** Runs one handshake as initiator and returns the live channel with the response. */
export async function dialIntent(opts: DialOptions): Promise<DialResult> {
  const url = peerLinkUrl(opts.host, opts.port);
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_READ_TIMEOUT_MS;
  const holder: { ws?: WebSocket } = {};
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const interrupt = new Promise<never>((_, reject) => {
    if (opts.totalTimeoutMs != null) {
      timer = setTimeout(() => reject(new PeerLinkTimeoutError(`${opts.intent} to ${opts.host}:${opts.port} timed out after ${opts.totalTimeoutMs} ms`)), opts.totalTimeoutMs);
    }
    if (opts.signal) {
      onAbort = () => reject(Object.assign(new PeerLinkError(`${opts.intent} to ${opts.host}:${opts.port} was cancelled`), { name: 'AbortError' }));
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  interrupt.catch(() => undefined);

  const run = async (): Promise<DialResult> => {
    const ws = await openSocket(url, opts.connectTimeoutMs ?? TCP_CONNECT_TIMEOUT_MS, opts.maxPayload ?? ONE_SHOT_MAX_BYTES, holder);
    const channel = new WsChannel(ws);
    const hs = new HandshakeState({ initiator: true, staticKeyPair: opts.identity, prologue: opts.prologue, ephemeralPrivateKey: opts.ephemeralPrivateKey });
    try {
      await channel.send(hs.writeMessage(opts.msg1Payload ?? encodeJson({ intent: opts.intent })));
      hs.readMessage(await channel.read(handshakeTimeoutMs));
    } catch (err) {
      throw mapChannelError(err, 'msg2');
    }
    const remoteStaticKey = hs.remoteStaticKey!;
    const remotePin = pinOf(remoteStaticKey);
    if (opts.expectedPin !== undefined && remotePin !== opts.expectedPin) throw new PeerLinkPinMismatchError(opts.expectedPin, remotePin);
    const payload = opts.payload instanceof Uint8Array ? opts.payload : opts.payload === undefined ? Buffer.alloc(0) : encodeJson(opts.payload);
    let ciphers: TransportCiphers;
    let frame: Buffer;
    try {
      await channel.send(hs.writeMessage(payload));
      ciphers = hs.transport();
      frame = await channel.read(opts.responseTimeoutMs === undefined ? handshakeTimeoutMs : opts.responseTimeoutMs);
    } catch (err) {
      throw mapChannelError(err, 'the response');
    }
    let response: IntentResponse | undefined;
    try {
      response = parseIntentResponse(ciphers.recv.decrypt(frame));
    } catch {
      response = undefined;
    }
    if (!response) throw new PeerLinkProtocolError('receiver sent an unreadable response');
    return { channel, ciphers, remoteStaticKey, remotePin, response };
  };

  try {
    return await Promise.race([run(), interrupt]);
  } catch (err) {
    holder.ws?.terminate();
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
  }
}

export interface OneShotOptions {
  identity: PeerLinkIdentity;
  /** Whole exchange (default 10 s for preview/pair_request, 3600 s for pair_status). */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  prologue?: Uint8Array;
  signal?: AbortSignal;
}

export interface PreviewResult {
  pin: string;
  staticKey: Buffer;
  response: IntentResponse;
}

async function oneShot(host: string, port: number, opts: OneShotOptions, intent: string, payload: unknown, expectedPin: string | undefined, total: number, responseTimeoutMs: number | null | undefined): Promise<DialResult> {
  const r = await dialIntent({
    host,
    port,
    identity: opts.identity,
    intent,
    payload,
    expectedPin,
    prologue: opts.prologue,
    connectTimeoutMs: opts.connectTimeoutMs,
    handshakeTimeoutMs: opts.handshakeTimeoutMs,
    responseTimeoutMs,
    totalTimeoutMs: opts.timeoutMs ?? total,
    signal: opts.signal,
  });
  r.channel.close(1000);
  return r;
}

/** `preview`: learn the receiver's pin (and whether it wants a pairing key); no state changes. */
export async function preview(host: string, port: number, opts: OneShotOptions): Promise<PreviewResult> {
  const r = await oneShot(host, port, opts, 'preview', Buffer.alloc(0), undefined, ONE_SHOT_TIMEOUT_MS, undefined);
  return { pin: r.remotePin, staticKey: r.remoteStaticKey, response: r.response };
}

export interface PairRequestArgs {
  /** The pin confirmed after preview; a different responder aborts after msg2 (TOCTOU guard). */
  expectedPin: string;
  dashboardId: string;
  /** How this sender introduces itself. */
  label: string;
  labelAuto?: boolean;
  pairingKey?: string;
  friendlyName?: string;
}

/** Result of pair_request / pair_status: the response and the responder key that answered. */
export interface OneShotResult {
  response: IntentResponse;
  pin: string;
  staticKey: Buffer;
}

export async function pairRequest(host: string, port: number, args: PairRequestArgs, opts: OneShotOptions): Promise<OneShotResult> {
  const payload: Record<string, unknown> = { label: args.label, dashboard_id: args.dashboardId, ha_addon: false, label_auto: args.labelAuto ?? false };
  if (args.friendlyName) payload.friendly_name = args.friendlyName;
  if (args.pairingKey) payload.pairing_key = args.pairingKey;
  const r = await oneShot(host, port, opts, 'pair_request', payload, args.expectedPin, ONE_SHOT_TIMEOUT_MS, undefined);
  return { response: r.response, pin: r.remotePin, staticKey: r.remoteStaticKey };
}

/** Long-poll until the receiver decides a PENDING request (default total timeout 3600 s). */
export async function pairStatus(host: string, port: number, args: { expectedPin: string; dashboardId: string }, opts: OneShotOptions): Promise<OneShotResult> {
  const r = await oneShot(host, port, opts, 'pair_status', { dashboard_id: args.dashboardId }, args.expectedPin, PAIR_STATUS_TIMEOUT_MS, null);
  return { response: r.response, pin: r.remotePin, staticKey: r.remoteStaticKey };
}

/** Offloader side of an open session. */
export interface SenderSession extends PeerSession {
  readonly host: string;
  readonly port: number;
  /** The `ok` response that opened the session (esphome_version, capabilities…). */
  readonly response: IntentResponse;
}

class DialledOffloaderSession extends NoisePeerSession implements SenderSession {
  constructor(
    base: ConstructorParameters<typeof NoisePeerSession>[0],
    readonly host: string,
    readonly port: number,
    readonly response: IntentResponse,
  ) {
    super(base);
  }
}

export interface OpenPeerLinkArgs extends SessionTiming {
  host: string;
  port: number;
  identity: PeerLinkIdentity;
  expectedPin: string;
  dashboardId: string;
  friendlyName?: string;
  prologue?: Uint8Array;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
  debug?: (msg: string) => void;
}

export type OpenPeerLinkResult = { ok: true; session: SenderSession; response: IntentResponse } | { ok: false; response: IntentResponse };

/** `peer_link`: on `ok` the connection becomes an application session; otherwise it is closed. */
export async function openPeerLink(args: OpenPeerLinkArgs): Promise<OpenPeerLinkResult> {
  const payload: Record<string, unknown> = { dashboard_id: args.dashboardId, ha_addon: false };
  if (args.friendlyName) payload.friendly_name = args.friendlyName;
  const r = await dialIntent({
    host: args.host,
    port: args.port,
    identity: args.identity,
    intent: 'peer_link',
    payload,
    expectedPin: args.expectedPin,
    prologue: args.prologue,
    connectTimeoutMs: args.connectTimeoutMs,
    handshakeTimeoutMs: args.handshakeTimeoutMs,
    signal: args.signal,
    totalTimeoutMs: null,
  });
  if (r.response.intent_response !== 'ok') {
    r.channel.close(1000);
    return { ok: false, response: r.response };
  }
  const session = new DialledOffloaderSession(
    {
      role: 'offloader',
      pin: r.remotePin,
      remoteStaticKey: r.remoteStaticKey,
      channel: r.channel,
      ciphers: r.ciphers,
      heartbeatIntervalMs: args.heartbeatIntervalMs,
      heartbeatDeadAfterMs: args.heartbeatDeadAfterMs,
      debug: args.debug,
    },
    args.host,
    args.port,
    r.response,
  );
  return { ok: true, session, response: r.response };
}

// Receiver side of the peer-link: the WebSocket listener, the Noise responder and the intent
// decisions (peer-link-protocol.md §1, §2, §4). An accepted `peer_link` connection becomes a
// BuildServerSession in the registry.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventBus } from '../events';
import {
  HANDSHAKE_READ_TIMEOUT_MS,
  isValidDashboardId,
  LABEL_MAX_CHARS,
  LISTENER_WS_MAX_PAYLOAD,
  ONE_SHOT_MAX_BYTES,
  PEER_LINK_DEFAULT_PORT,
  PEER_LINK_PATH,
  PEER_LINK_PORT_ATTEMPTS,
  VERSION_MAX_CHARS,
  type Intent,
} from './constants';
import type { PeerLinkIdentity } from './identity';
import { normalisePairRequest, normalisePeerLink, parseIntentMessage, parseIntentPayload, type IntentResponse } from './intents';
import { HandshakeState, type TransportCiphers } from './noise';
import type { Decision, ReceiverPairing } from './build-server-pairing';
import { ReceiverSessionRegistry } from './build-server-sessions';
import { NoisePeerSession, type BuildServerSession, type SessionTiming } from './session';
import { encodeJson, normaliseText, type JsonObject } from './strict-json';
import { DEFAULT_INBOUND_QUEUE_LIMIT, WsChannel, type InboundQueueLimit } from './ws-channel';

export const MAX_HANDSHAKES_PER_ADDRESS = 32;
export const MAX_HANDSHAKES = 256;
/** Handshake stage: two messages of at most ONE_SHOT_MAX_BYTES can be legitimately waiting. */
const HANDSHAKE_QUEUE_LIMIT: InboundQueueLimit = { frames: 4, bytes: 2 * ONE_SHOT_MAX_BYTES + 1024 };
import { pinOf } from './x25519';

export interface PeerLinkListenerOptions extends SessionTiming {
  identity: PeerLinkIdentity;
  pairing: ReceiverPairing;
  bus: EventBus;
  /** Bind address; default: all interfaces. */
  host?: string;
  /** Default 6055; 0 = any free port (tests). A taken port falls forward to the next ones. */
  port?: number;
  portAttempts?: number;
  /** The esphome version this receiver compiles with (response field). */
  esphomeVersion: () => string;
  friendlyName?: () => string;
  autoProvisionSupported?: () => boolean;
  resetBuildEnvSupported?: () => boolean;
  /** Per handshake message (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Noise prologue; the wire uses empty. */
  prologue?: Uint8Array;
  /**
   * Connections not yet a session (handshake, or a pair_status long-poll) per remote address and
   * in total; more are dropped at the upgrade. Defaults 32 and 256.
   */
  maxHandshakesPerAddress?: number;
  maxHandshakes?: number;
  /** Shortcut for `listener.sessions.onRegister(fn)` registered before the first connection. */
  onSession?: (session: BuildServerSession) => void;
  debug?: (msg: string) => void;
}

export interface PeerLinkListener {
  /** The port actually bound (advertise this one). */
  readonly port: number;
  readonly host: string | undefined;
  readonly sessions: ReceiverSessionRegistry;
  /** Sends terminate{server_shutting_down} on every session, drops handshakes and unbinds. */
  close(): Promise<void>;
}

class AcceptedReceiverSession extends NoisePeerSession implements BuildServerSession {
  constructor(
    base: ConstructorParameters<typeof NoisePeerSession>[0],
    readonly dashboardId: string,
    readonly label: string,
    readonly peerIp: string,
    readonly friendlyName: string,
    readonly haAddon: boolean,
  ) {
    super(base);
  }
}

/** Strips the IPv4-mapped prefix so "::ffff:10.0.0.5" shows as "10.0.0.5". */
export function normaliseIp(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

async function bindFirstFree(server: Server, host: string | undefined, port: number, attempts: number): Promise<number> {
  const tries = port === 0 ? 1 : attempts;
  let lastErr: Error | undefined;
  for (let i = 0; i < tries; i++) {
    const candidate = port === 0 ? 0 : port + i;
    if (candidate > 65535) break;
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => {
          server.off('listening', onListening);
          reject(err);
        };
        const onListening = () => {
          server.off('error', onError);
          resolve();
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen({ port: candidate, host, exclusive: true });
      });
      const addr = server.address();
      if (addr && typeof addr === 'object') return addr.port;
      throw new Error('listener has no address');
    } catch (err) {
      lastErr = err as Error;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  throw lastErr ?? new Error('no free port');
}

export async function startPeerLinkListener(opts: PeerLinkListenerOptions): Promise<PeerLinkListener> {
  const debug = opts.debug ?? (() => undefined);
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_READ_TIMEOUT_MS;
  const registry = new ReceiverSessionRegistry(opts.bus, debug);
  if (opts.onSession) registry.onRegister(opts.onSession);
  const sockets = new Set<Socket>();
  const inFlight = new Set<{ channel: WsChannel; abort: AbortController }>();
  let closing = false;

  // No Server header anywhere: node:http adds none and ws' 101 response carries none (§1).
  const http = createServer((_req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  });
  http.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: LISTENER_WS_MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
  const upgraded = new Set<Socket>();
  // Unauthenticated connections (handshake or pair_status wait), per address and in total.
  const maxPerAddress = opts.maxHandshakesPerAddress ?? MAX_HANDSHAKES_PER_ADDRESS;
  const maxTotal = opts.maxHandshakes ?? MAX_HANDSHAKES;
  const unauthByAddress = new Map<string, number>();
  let unauthTotal = 0;
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    socket.on('error', () => undefined);
    const path = (req.url ?? '').split('?')[0];
    if (closing || path !== PEER_LINK_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const address = normaliseIp(socket.remoteAddress);
    const held = unauthByAddress.get(address) ?? 0;
    if (held >= maxPerAddress || unauthTotal >= maxTotal) {
      debug(`${address}: too many connections in handshake (${held} from this address, ${unauthTotal} in total); dropped`);
      socket.destroy();
      return;
    }
    unauthByAddress.set(address, held + 1);
    unauthTotal += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      unauthTotal -= 1;
      const n = (unauthByAddress.get(address) ?? 1) - 1;
      if (n <= 0) unauthByAddress.delete(address);
      else unauthByAddress.set(address, n);
    };
    socket.once('close', release);
    wss.handleUpgrade(req, socket, head, (ws) => void handleConnection(ws, req, release));
  });

  const removedOff = opts.pairing.onPeerRemoved((dashboardId) => {
    // Revoked: no wire reason exists; the sender's reconnect then meets no_approved_peer.
    void registry.get(dashboardId)?.close('peer_removed', 'the build server removed this pairing');
  });

  const port = await bindFirstFree(http, opts.host, opts.port ?? PEER_LINK_DEFAULT_PORT, opts.portAttempts ?? PEER_LINK_PORT_ATTEMPTS);

  function baseResponse(decision: Decision): IntentResponse {
    const r: IntentResponse = {
      intent_response: decision.intent_response,
      esphome_version: normaliseText(opts.esphomeVersion(), VERSION_MAX_CHARS),
      auto_provision_supported: opts.autoProvisionSupported?.() ?? false,
      reset_build_env_supported: opts.resetBuildEnvSupported?.() ?? false,
      friendly_name: normaliseText(opts.friendlyName?.() ?? '', LABEL_MAX_CHARS),
      ha_addon: false,
    };
    if (decision.reason) r.reason = decision.reason;
    return r;
  }

  async function decide(intent: Intent | undefined, payload: JsonObject, pin: string, staticKey: Buffer, peerIp: string, signal: AbortSignal): Promise<{ decision: Decision; extra?: Partial<IntentResponse> }> {
    if (intent === undefined || intent === 'connect_back') {
      // connect_back (§14) is optional and not implemented: refuse it like an unknown intent.
      return { decision: { intent_response: 'rejected', reason: 'bad_intent' } };
    }
    if (intent === 'preview') {
      return { decision: { intent_response: 'ok' }, extra: opts.pairing.keyModeArmed ? { requires_pairing_key: true } : undefined };
    }
    const dashboardId = payload.dashboard_id;
    if (!isValidDashboardId(dashboardId)) return { decision: { intent_response: 'rejected', reason: 'bad_dashboard_id' } };
    switch (intent) {
      case 'pair_request': {
        const req = normalisePairRequest(payload);
        const decision = await opts.pairing.pairRequest({
          dashboardId,
          pin,
          staticKey,
          label: req.label,
          labelAuto: req.labelAuto,
          friendlyName: req.friendlyName,
          haAddon: req.haAddon,
          peerIp,
          pairingKey: req.pairingKey,
        });
        return { decision };
      }
      case 'pair_status':
        return { decision: await opts.pairing.waitForDecision(dashboardId, pin, signal) };
      case 'peer_link':
        return { decision: opts.pairing.lookup(dashboardId, pin, 'ok') };
    }
  }

  async function handleConnection(ws: WebSocket, req: IncomingMessage, release: () => void): Promise<void> {
    const channel = new WsChannel(ws);
    // Until it is a session, a connection may have at most msg1/msg3 waiting to be read.
    channel.setInboundQueueLimit(HANDSHAKE_QUEUE_LIMIT);
    const abort = new AbortController();
    const entry = { channel, abort };
    inFlight.add(entry);
    ws.once('close', () => abort.abort());
    const peerIp = normaliseIp(req.socket.remoteAddress);
    try {
      const hs = new HandshakeState({ initiator: false, staticKeyPair: opts.identity, prologue: opts.prologue });
      const msg1 = await channel.read(handshakeTimeoutMs);
      if (msg1.length > ONE_SHOT_MAX_BYTES) throw new Error(`msg1 of ${msg1.length} bytes`);
      // Garbage JSON still gets a full handshake and an authenticated bad_intent (§4.1).
      const intent = parseIntentMessage(hs.readMessage(msg1));
      await channel.send(hs.writeMessage());
      const msg3 = await channel.read(handshakeTimeoutMs);
      if (msg3.length > ONE_SHOT_MAX_BYTES) throw new Error(`msg3 of ${msg3.length} bytes`);
      const payload = parseIntentPayload(hs.readMessage(msg3));
      const staticKey = hs.remoteStaticKey!;
      const pin = pinOf(staticKey);
      const ciphers = hs.transport();
      const { decision, extra } = await decide(intent, payload, pin, staticKey, peerIp, abort.signal);
      if (channel.isClosed) return;
      const response = { ...baseResponse(decision), ...extra };
      debug(`${peerIp}: ${intent ?? 'bad intent'} → ${response.intent_response}${response.reason ? `/${response.reason}` : ''}`);
      await channel.send(ciphers.send.encrypt(encodeJson(response)));
      if (intent === 'peer_link' && decision.intent_response === 'ok' && !closing) {
        inFlight.delete(entry);
        release();
        channel.setInboundQueueLimit(DEFAULT_INBOUND_QUEUE_LIMIT);
        openSession(channel, ciphers, payload, pin, staticKey, peerIp);
        return;
      }
      channel.close(1000);
    } catch (err) {
      // Timeouts, text frames, garbage and bad tags: drop silently, nothing recorded (§1, §18).
      debug(`${peerIp}: handshake dropped: ${(err as Error).message}`);
      channel.close(1002);
    } finally {
      inFlight.delete(entry);
      release();
    }
  }

  function openSession(channel: WsChannel, ciphers: TransportCiphers, payload: JsonObject, pin: string, staticKey: Buffer, peerIp: string): void {
    const link = normalisePeerLink(payload);
    const dashboardId = link.dashboardId as string;
    const row = opts.pairing.refreshApproved(dashboardId, {
      peerIp,
      connectBackPort: link.connectBackPort,
      friendlyName: link.friendlyName,
      haAddon: link.haAddon,
    });
    const session = new AcceptedReceiverSession(
      {
        role: 'receiver',
        pin,
        remoteStaticKey: staticKey,
        channel,
        ciphers,
        heartbeatIntervalMs: opts.heartbeatIntervalMs,
        heartbeatDeadAfterMs: opts.heartbeatDeadAfterMs,
        debug,
      },
      dashboardId,
      row?.label ?? '',
      peerIp,
      link.friendlyName,
      link.haAddon,
    );
    registry.register(session);
  }

  return {
    port,
    host: opts.host,
    sessions: registry,
    async close() {
      if (closing) return;
      closing = true;
      removedOff();
      for (const { channel, abort } of inFlight) {
        abort.abort();
        channel.terminate();
      }
      await registry.closeAll('server_shutting_down', 'the build server is shutting down');
      // Give the terminate frames and closing handshakes a moment before cutting sockets.
      const deadline = Date.now() + 500;
      while (upgraded.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      wss.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

// Shared fixtures for the peer-link tests: temp data dirs, a receiver on 127.0.0.1:0, event
// capture and small waiting helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, type CoreEventMap } from '../../events';
import { identityFromPrivateKey, type PeerLinkIdentity } from '../identity';
import { startPeerLinkListener, type PeerLinkListener, type PeerLinkListenerOptions } from '../listener';
import { ReceiverPairing, type PairingLimits } from '../build-server-pairing';
import { ApprovedSenderStore } from '../approved-senders';
import { WebSocketServer } from 'ws';
import { HandshakeState, type TransportCiphers } from '../noise';
import { WsChannel } from '../ws-channel';
import { generateX25519KeyPair } from '../x25519';

export function tempDir(prefix = 'kiln-pl-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function newIdentity(): PeerLinkIdentity {
  return identityFromPrivateKey(generateX25519KeyPair().privateKey);
}

export function captureEvents<K extends keyof CoreEventMap>(bus: EventBus, names: K[]): Array<{ name: K; payload: CoreEventMap[K] }> {
  const out: Array<{ name: K; payload: CoreEventMap[K] }> = [];
  for (const name of names) bus.on(name, (payload) => out.push({ name, payload }));
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface BuildServerFixture {
  dir: string;
  bus: EventBus;
  identity: PeerLinkIdentity;
  store: ApprovedSenderStore;
  pairing: ReceiverPairing;
  listener: PeerLinkListener;
  port: number;
  stop(): Promise<void>;
  restart(over?: Partial<PeerLinkListenerOptions>): Promise<void>;
}

export async function startReceiver(over: Partial<PeerLinkListenerOptions> & { dir?: string; windowIdleMs?: number; pairingLimits?: PairingLimits } = {}): Promise<BuildServerFixture> {
  const tmp = over.dir ? { dir: over.dir, cleanup: () => undefined } : tempDir('kiln-recv-');
  const bus = over.bus ?? new EventBus();
  const store = ApprovedSenderStore.inDataDir(tmp.dir, { debounceMs: 20, report: () => undefined });
  const pairing = over.pairing ?? new ReceiverPairing({ store, bus, windowIdleMs: over.windowIdleMs, limits: over.pairingLimits, report: () => undefined });
  const baseOpts = (): PeerLinkListenerOptions => ({
    identity: fx.identity,
    pairing,
    bus,
    host: '127.0.0.1',
    port: 0,
    esphomeVersion: () => '2026.4.1',
    friendlyName: () => 'Test receiver',
    handshakeTimeoutMs: 1000,
    ...over,
  });
  const fx: BuildServerFixture = {
    dir: tmp.dir,
    bus,
    identity: over.identity ?? newIdentity(),
    store,
    pairing,
    listener: undefined as unknown as PeerLinkListener,
    port: 0,
    async stop() {
      await fx.listener.close();
      await store.close();
      pairing.closeWindow();
      tmp.cleanup();
    },
    async restart(o = {}) {
      await fx.listener.close();
      if (o.identity) fx.identity = o.identity;
      fx.listener = await startPeerLinkListener({ ...baseOpts(), port: fx.port, ...o });
      fx.port = fx.listener.port;
    },
  };
  fx.listener = await startPeerLinkListener(baseOpts());
  fx.port = fx.listener.port;
  return fx;
}

/**
 * A hand-rolled responder on 127.0.0.1:0 that completes the handshake, answers `response`, then
 * hands the raw channel and transport ciphers to `onOpen` (to misbehave on purpose).
 */
export async function fakeReceiver(
  identity: PeerLinkIdentity,
  onOpen: (ctx: { channel: WsChannel; ciphers: TransportCiphers; intent: string; payload: unknown }) => void,
  response: Record<string, unknown> = { intent_response: 'ok', esphome_version: '2026.1.0', auto_provision_supported: false, reset_build_env_supported: false, friendly_name: 'fake', ha_addon: false },
): Promise<{ port: number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  // The whole handler is in try/catch: a failed handshake terminates the socket, never rejects.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  wss.on('connection', async (ws) => {
    const channel = new WsChannel(ws);
    try {
      const hs = new HandshakeState({ initiator: false, staticKeyPair: identity });
      const p1 = JSON.parse(hs.readMessage(await channel.read(2000)).toString());
      await channel.send(hs.writeMessage());
      const p3 = hs.readMessage(await channel.read(2000));
      const ciphers = hs.transport();
      await channel.send(ciphers.send.encrypt(Buffer.from(JSON.stringify(response))));
      onOpen({ channel, ciphers, intent: p1.intent, payload: p3.length ? JSON.parse(p3.toString()) : {} });
    } catch {
      ws.terminate();
    }
  });
  const port = (wss.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

/** Decrypts and parses every frame the raw channel receives from now on. */
export function collectFrames(channel: WsChannel, ciphers: TransportCiphers): { frames: Array<Record<string, unknown>>; closed: () => boolean } {
  const frames: Array<Record<string, unknown>> = [];
  let closed = false;
  channel.attach({
    onFrame: (f) => frames.push(JSON.parse(ciphers.recv.decrypt(f.data).toString())),
    onClose: () => (closed = true),
  });
  return { frames, closed: () => closed };
}

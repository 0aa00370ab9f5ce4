// Shared fixtures for the peer-link tests: temp data dirs, a receiver on 127.0.0.1:0, event
// capture and small waiting helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, type CoreEventMap } from '../../events';
import { identityFromPrivateKey, type PeerLinkIdentity } from '../identity';
import { startPeerLinkListener, type PeerLinkListener, type PeerLinkListenerOptions } from '../listener';
import { ReceiverPairing } from '../receiver-pairing';
import { ReceiverPeerStore } from '../receiver-store';
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

export async function waitFor<T>(fn: () => T | undefined | false | null, timeoutMs = 3000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false && v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface ReceiverFixture {
  dir: string;
  bus: EventBus;
  identity: PeerLinkIdentity;
  store: ReceiverPeerStore;
  pairing: ReceiverPairing;
  listener: PeerLinkListener;
  port: number;
  stop(): Promise<void>;
  restart(over?: Partial<PeerLinkListenerOptions>): Promise<void>;
}

export async function startReceiver(over: Partial<PeerLinkListenerOptions> & { dir?: string; windowIdleMs?: number } = {}): Promise<ReceiverFixture> {
  const tmp = over.dir ? { dir: over.dir, cleanup: () => undefined } : tempDir('kiln-recv-');
  const bus = over.bus ?? new EventBus();
  const store = ReceiverPeerStore.inDataDir(tmp.dir, { debounceMs: 20, report: () => undefined });
  const pairing = over.pairing ?? new ReceiverPairing({ store, bus, windowIdleMs: over.windowIdleMs, report: () => undefined });
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
  const fx: ReceiverFixture = {
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

// Offloader client manager against a real listener on 127.0.0.1 (peer-link-protocol.md §13).
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { backoffDelay, PeerLinkClientManager, type PeerLinkClientManagerOptions } from '../client-manager';
import { PeerLinkNoSessionError } from '../errors';
import type { PeerLinkIdentity } from '../identity';
import { PairingStore } from '../pairing-store';
import type { BuildServerSession } from '../session';
import { captureEvents, newIdentity, sleep, startReceiver, tempDir, type BuildServerFixture } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Offloader {
  identity: PeerLinkIdentity;
  store: PairingStore;
  bus: EventBus;
  manager: PeerLinkClientManager;
}

async function receiver(over: Parameters<typeof startReceiver>[0] = {}): Promise<BuildServerFixture> {
  const rx = await startReceiver({ heartbeatIntervalMs: 40, heartbeatDeadAfterMs: 400, ...over });
  cleanups.push(() => rx.stop());
  return rx;
}

async function offloader(rx: BuildServerFixture | { port: number; identity: PeerLinkIdentity }, over: Partial<PeerLinkClientManagerOptions> & { identity?: PeerLinkIdentity; dashboardId?: string; approveOn?: BuildServerFixture | null } = {}): Promise<Offloader> {
  const tmp = tempDir('kiln-off-');
  const identity = over.identity ?? newIdentity();
  const bus = new EventBus();
  const store = PairingStore.inDataDir(tmp.dir, { bus, report: () => undefined });
  if (over.dashboardId) await store.setDashboardId(over.dashboardId);
  await store.put({
    receiver_hostname: '127.0.0.1',
    receiver_port: rx.port,
    pin_sha256: rx.identity.pin,
    static_x25519_pub: rx.identity.publicKey,
    label: 'Build box',
    paired_at: Date.now() / 1000,
    status: 'approved',
    esphome_version: '1.0.0',
    enabled: true,
  });
  const approveOn = over.approveOn === undefined ? ('store' in rx ? rx : null) : over.approveOn;
  if (approveOn) {
    approveOn.store.put({
      dashboard_id: store.dashboardId,
      pin_sha256: identity.pin,
      static_x25519_pub: identity.publicKey,
      label: 'Laptop',
      paired_at: Date.now() / 1000,
      peer_ip: '',
      connect_back_port: 0,
      friendly_name: '',
      ha_addon: false,
    });
  }
  const manager = new PeerLinkClientManager({
    identity,
    store,
    bus,
    backoffBaseMs: 20,
    backoffCapMs: 160,
    heartbeatIntervalMs: 40,
    heartbeatDeadAfterMs: 400,
    handshakeTimeoutMs: 1000,
    ...over,
  });
  cleanups.push(async () => {
    await manager.stop();
    await store.flush();
    tmp.cleanup();
  });
  return { identity, store, bus, manager };
}

/** Timestamps of every transition into `connecting` for one pin. */
function connectingTimes(bus: EventBus, pin: string): number[] {
  const out: number[] = [];
  bus.on('peer_link_state_changed', (e) => {
    if (e.pin === pin && e.status === 'connecting') out.push(Date.now());
  });
  return out;
}

describe('backoffDelay', () => {
  it('is 1, 2, 4, 8, 16, 30, 30 s by default', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});

describe('PeerLinkClientManager', () => {
  it('connects, refreshes esphome_version, exposes getSession and turns validated frames into bus events', async () => {
    const rx = await receiver({
      onSession: (s) => {
        void s.send({ type: 'queue_status', idle: false, running: true, queue_depth: 2 });
        void s.send({ type: 'queue_status', idle: 1, running: true, queue_depth: 2 }); // int for bool: ignored
        void s.send({ type: 'job_output', job_id: 'abc123abc123', stream: 'stdout', line: 'Compiling\n' });
        void s.send({ type: 'job_output', job_id: 'abc123abc123', stream: 'stdout', line: 'a\nb\r\n[1/9] c\r' }); // coalesced: one event per line
        void s.send({ type: 'job_output', job_id: 'abc123abc123', stream: 'tty', line: 'x' }); // bad stream
        void s.send({ type: 'job_state_changed', job_id: 'abc123abc123', status: 'failed', error_message: 'boom', failure_reason: 'provision' });
        void s.send({ type: 'job_state_changed', job_id: 'abc123abc123', status: 'exploded', error_message: '' }); // bad status
        void s.send({ type: 'job_state_changed', job_id: 'abc123abc123', status: 'running', error_message: 5 }); // bad type
        void s.send({ type: 'queue_status', idle: true, running: false, queue_depth: 0 });
      },
    });
    const off = await offloader(rx);
    const events = captureEvents(off.bus, ['peer_link_opened', 'offloader_queue_status', 'offloader_job_output', 'offloader_job_state_changed']);
    off.manager.start();
    await waitUntil(() => events.filter((e) => e.name === 'offloader_queue_status').length === 2, { timeoutMs: 3000, what: 'queue_status events' });
    const pin = rx.identity.pin;
    expect(events.map((e) => e.name)).toEqual(['peer_link_opened', 'offloader_queue_status', 'offloader_job_output', 'offloader_job_output', 'offloader_job_output', 'offloader_job_output', 'offloader_job_state_changed', 'offloader_queue_status']);
    expect(must(events[0]).payload).toEqual({ pin, label: 'Build box', esphome_version: '2026.4.1' });
    expect(must(events[1]).payload).toEqual({ pin, idle: false, running: true, queue_depth: 2 });
    expect(must(events[2]).payload).toEqual({ pin, job_id: 'abc123abc123', line: 'Compiling\n' });
    expect(events.slice(3, 6).map((e) => (e.payload as { line: string }).line)).toEqual(['a\n', 'b\r\n', '[1/9] c\r']);
    expect(must(events[6]).payload).toEqual({ pin, job_id: 'abc123abc123', status: 'failed', error_message: 'boom', failure_reason: 'provision' });
    expect(off.manager.state(pin)).toMatchObject({ status: 'connected', alert: null, lastQueueStatus: { idle: true, running: false, queue_depth: 0 } });
    await waitUntil(() => off.store.get(pin)!.esphome_version === '2026.4.1');
    const s = off.manager.getSession(pin);
    expect(s.pin).toBe(pin);
    expect(off.manager.connectedPins()).toEqual([pin]);
    expect(() => off.manager.getSession('f'.repeat(64))).toThrow(PeerLinkNoSessionError);
    expect(() => off.manager.getSession('f'.repeat(64))).toThrow(/not paired/);
  });

  it('reconnects after the listener restarts on the same port', async () => {
    const rx = await receiver();
    const off = await offloader(rx);
    const events = captureEvents(off.bus, ['peer_link_opened', 'peer_link_closed']);
    off.manager.start();
    await waitUntil(() => events.length === 1);
    const port = rx.port;
    await rx.restart();
    expect(rx.port).toBe(port);
    await waitUntil(() => events.length === 3, { timeoutMs: 3000, what: 'reopen' });
    expect(events.map((e) => e.name)).toEqual(['peer_link_opened', 'peer_link_closed', 'peer_link_opened']);
    expect(must(events[1]).payload).toMatchObject({ pin: rx.identity.pin, reason: 'server_shutting_down' });
    expect(off.manager.state(rx.identity.pin)).toMatchObject({ status: 'connected', lastError: { reason: 'server_shutting_down' } });
    expect(off.manager.getSession(rx.identity.pin).closed).toBe(false);
  });

  it('orphans on terminate{superseded}: stops reconnecting and raises an alert; reconnect() clears it', async () => {
    const rx = await receiver();
    const identity = newIdentity();
    const a = await offloader(rx, { identity });
    a.manager.start();
    await waitUntil(() => a.manager.state(rx.identity.pin)?.status === 'connected');
    const aConnecting = connectingTimes(a.bus, rx.identity.pin);
    // Same identity and dashboard_id (e.g. a restored backup running elsewhere).
    const b = await offloader(rx, { identity, dashboardId: a.store.dashboardId, approveOn: null });
    b.manager.start();
    await waitUntil(() => a.manager.state(rx.identity.pin)?.alert === 'superseded', { timeoutMs: 3000, what: 'superseded alert' });
    expect(a.manager.state(rx.identity.pin)).toMatchObject({ status: 'disconnected', lastError: { reason: 'superseded' } });
    expect(() => a.manager.getSession(rx.identity.pin)).toThrow(/stopped reconnecting \(superseded\)/);
    await sleep(400); // many backoff periods
    expect(aConnecting).toEqual([]);
    expect(b.manager.state(rx.identity.pin)?.status).toBe('connected');
    expect(rx.listener.sessions.size).toBe(1);

    await a.manager.reconnect(rx.identity.pin);
    await waitUntil(() => a.manager.state(rx.identity.pin)?.status === 'connected');
    expect(a.manager.state(rx.identity.pin)?.alert).toBeNull();
    await waitUntil(() => b.manager.state(rx.identity.pin)?.alert === 'superseded');
  });

  it('orphans with a pin_mismatch alert after the receiver is re-keyed', async () => {
    const rx = await receiver();
    const off = await offloader(rx);
    const pin = rx.identity.pin;
    off.manager.start();
    await waitUntil(() => off.manager.state(pin)?.status === 'connected');
    const connecting = connectingTimes(off.bus, pin);
    await rx.restart({ identity: newIdentity() });
    await waitUntil(() => off.manager.state(pin)?.alert === 'pin_mismatch', { timeoutMs: 3000, what: 'pin_mismatch alert' });
    expect(off.manager.state(pin)?.lastError).toMatchObject({ reason: 'pin_mismatch' });
    const n = connecting.length;
    await sleep(400);
    expect(connecting.length).toBe(n);
    expect(rx.listener.sessions.size).toBe(0);
  });

  it('orphans as peer_revoked when the receiver removes the pairing (no_approved_peer)', async () => {
    const rx = await receiver();
    const off = await offloader(rx);
    const pin = rx.identity.pin;
    off.manager.start();
    await waitUntil(() => off.manager.state(pin)?.status === 'connected');
    await rx.pairing.removePeer(off.store.dashboardId);
    await waitUntil(() => off.manager.state(pin)?.alert === 'peer_revoked', { timeoutMs: 3000, what: 'peer_revoked alert' });
    expect(off.manager.state(pin)?.lastError).toMatchObject({ reason: 'receiver_rejected', detail: 'rejected/no_approved_peer' });
  });

  it('keeps retrying on pending_not_approved and connects once approved', async () => {
    const rx = await receiver();
    const off = await offloader(rx, { approveOn: null });
    rx.pairing.openWindow('ui');
    await rx.pairing.pairRequest({
      dashboardId: off.store.dashboardId,
      pin: off.identity.pin,
      staticKey: off.identity.publicKey,
      label: 'Laptop',
      labelAuto: false,
      friendlyName: '',
      haAddon: false,
      peerIp: '127.0.0.1',
    });
    const pin = rx.identity.pin;
    const connecting = connectingTimes(off.bus, pin);
    off.manager.start();
    await waitUntil(() => connecting.length >= 3, { timeoutMs: 3000, what: 'three attempts' });
    expect(off.manager.state(pin)).toMatchObject({ alert: null, lastError: { reason: 'receiver_rejected', detail: 'pending/pending_not_approved' } });
    await rx.pairing.approve(off.store.dashboardId);
    await waitUntil(() => off.manager.state(pin)?.status === 'connected', { timeoutMs: 3000, what: 'connected after approval' });
  });

  it('backs off 1×, 2×, 4× … up to the cap on transport errors, and connects when the receiver appears', async () => {
    // Reserve a free port with nothing listening on it.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const rxIdentity = newIdentity();
    const off = await offloader({ port, identity: rxIdentity }, { approveOn: null, backoffCapMs: 400 });
    const connecting = connectingTimes(off.bus, rxIdentity.pin);
    off.manager.start();
    await waitUntil(() => connecting.length >= 8, { timeoutMs: 8000, what: 'eight attempts' });
    const gaps = connecting.slice(1).map((t, i) => t - must(connecting[i]));
    const expected = [20, 40, 80, 160, 320, 400, 400];
    gaps.slice(0, 7).forEach((g, i) => {
      expect(g, `gap ${i}`).toBeGreaterThanOrEqual(must(expected[i]) - 3);
      expect(g, `gap ${i}`).toBeLessThan(must(expected[i]) + 400);
    });
    expect(off.manager.state(rxIdentity.pin)).toMatchObject({ status: expect.stringMatching(/connecting|disconnected/), alert: null, lastError: { reason: 'transport_error' } });

    const rx = await receiver({ port, identity: rxIdentity });
    rx.store.put({
      dashboard_id: off.store.dashboardId,
      pin_sha256: off.identity.pin,
      static_x25519_pub: off.identity.publicKey,
      label: 'Laptop',
      paired_at: 0,
      peer_ip: '',
      connect_back_port: 0,
      friendly_name: '',
      ha_addon: false,
    });
    await waitUntil(() => off.manager.state(rxIdentity.pin)?.status === 'connected', { timeoutMs: 3000, what: 'connected' });
    // After a good session the backoff is back to the base: the next attempt comes fast.
    const before = connecting.length;
    await rx.restart();
    await waitUntil(() => connecting.length > before);
    const closedAt = Date.now();
    await waitUntil(() => off.manager.state(rxIdentity.pin)?.status === 'connected', { timeoutMs: 3000, what: 'reconnected' });
    expect(Date.now() - closedAt).toBeLessThan(300); // base 20 ms, not the 400 ms cap
  });

  it('stop() sends terminate{client_stopped}; disabling a pairing or the master switch stops its client', async () => {
    const closes: string[] = [];
    const rx = await receiver({ onSession: (s: BuildServerSession) => s.onClose((r) => closes.push(r)) });
    const off = await offloader(rx);
    const pin = rx.identity.pin;
    const events = captureEvents(off.bus, ['peer_link_closed']);
    off.manager.start();
    await waitUntil(() => off.manager.state(pin)?.status === 'connected');

    await off.store.setEnabled(pin, false);
    await waitUntil(() => closes.length === 1);
    expect(closes).toEqual(['client_stopped']);
    expect(() => off.manager.getSession(pin)).toThrow(/disabled/);
    await off.store.setEnabled(pin, true);
    await waitUntil(() => off.manager.state(pin)?.status === 'connected');

    await off.store.updateSettings({ remote_builds_enabled: false });
    await waitUntil(() => closes.length === 2);
    expect(() => off.manager.getSession(pin)).toThrow(/remote builds are turned off/);
    await off.store.updateSettings({ remote_builds_enabled: true });
    await waitUntil(() => off.manager.state(pin)?.status === 'connected');

    await off.manager.stop();
    await waitUntil(() => closes.length === 3);
    expect(closes).toEqual(['client_stopped', 'client_stopped', 'client_stopped']);
    expect(events.map((e) => e.payload.reason)).toEqual(['client_stopped', 'client_stopped', 'client_stopped']);
    expect(off.manager.state(pin)?.status).toBe('disconnected');
  });

  it('unpair removes the state and ends the session', async () => {
    const rx = await receiver();
    const off = await offloader(rx);
    const pin = rx.identity.pin;
    off.manager.start();
    await waitUntil(() => off.manager.state(pin)?.status === 'connected');
    await off.store.remove(pin);
    await waitUntil(() => rx.listener.sessions.size === 0);
    expect(off.manager.state(pin)).toBeUndefined();
    expect(() => off.manager.getSession(pin)).toThrow(/not paired/);
  });
});

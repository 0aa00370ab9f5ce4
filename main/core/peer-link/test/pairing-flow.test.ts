// Offloader pairing flow end to end against a real listener (peer-link-protocol.md §5.4).
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../errors';
import { EventBus } from '../../events';
import { PeerLinkClientManager } from '../client-manager';
import { emojiFingerprint } from '../fingerprint';
import { FINGERPRINT_CHANGED_MESSAGE, OffloaderPairingFlow } from '../sender-pairing';
import { PairingStore } from '../pairing-store';
import { captureEvents, newIdentity, startReceiver, tempDir, type BuildServerFixture } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup() {
  const rx = await startReceiver();
  cleanups.push(() => rx.stop());
  const tmp = tempDir('kiln-flow-');
  const bus = new EventBus();
  const identity = newIdentity();
  const store = PairingStore.inDataDir(tmp.dir, { bus, report: () => undefined });
  const flow = new OffloaderPairingFlow({ identity, store, bus, friendlyName: () => 'laptop', retryBaseMs: 20, retryCapMs: 100 });
  const manager = new PeerLinkClientManager({ identity, store, bus, backoffBaseMs: 20, backoffCapMs: 100 });
  cleanups.push(async () => {
    flow.stop();
    await manager.stop();
    await store.flush();
    tmp.cleanup();
  });
  return { rx, bus, identity, store, flow, manager };
}

async function expectApiError(p: Promise<unknown>, code: string, message?: RegExp | string): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).code).toBe(code);
  if (message) expect((err as ApiError).message).toMatch(message);
  return err as ApiError;
}

describe('offloader pairing flow', () => {
  it('preview → request (pending) → receiver approves → pairing stored → session opens', async () => {
    const { rx, bus, store, flow, manager, identity } = await setup();
    manager.start();
    const events = captureEvents(bus, ['pairings_changed', 'peer_link_opened']);
    const receiverSide = captureEvents(rx.bus, ['pair_request_received']);

    const info = await flow.preview('127.0.0.1', rx.port);
    expect(info).toMatchObject({ host: '127.0.0.1', port: rx.port, pin: rx.identity.pin, friendly_name: 'Test receiver', esphome_version: '2026.4.1', requires_pairing_key: false });
    expect(info.emoji).toEqual(emojiFingerprint(rx.identity.pin));
    expect(info.hex.split(' ')).toHaveLength(32);

    rx.pairing.openWindow('ui');
    const res = await flow.request({ host: '127.0.0.1', port: rx.port, previewedPin: info.pin, receiverLabel: 'Build box', label: 'My laptop', labelAuto: false });
    expect(res.status).toBe('pending');
    expect(store.get(info.pin)).toMatchObject({ status: 'pending', label: 'Build box' });
    expect(receiverSide).toEqual([{ name: 'pair_request_received', payload: { dashboard_id: store.dashboardId, pin: identity.pin, label: 'My laptop', peer_ip: '127.0.0.1' } }]);

    await rx.pairing.approve(store.dashboardId);
    await waitUntil(() => events.some((e) => e.name === 'peer_link_opened'), { timeoutMs: 3000, what: 'session after approval' });
    const p = store.get(info.pin)!;
    expect(p).toMatchObject({ status: 'approved', receiver_hostname: '127.0.0.1', receiver_port: rx.port, enabled: true });
    expect(p.static_x25519_pub.equals(rx.identity.publicKey)).toBe(true);
    expect(events.filter((e) => e.name === 'pairings_changed').map((e) => (e.payload as { change: string }).change)).toEqual(['pending', 'approved']);
    expect(manager.getSession(info.pin).closed).toBe(false);
    await waitUntil(() => rx.listener.sessions.size === 1);
  });

  it('TOCTOU: a receiver whose key changed between preview and request is refused, nothing stored', async () => {
    const { rx, store, flow } = await setup();
    const info = await flow.preview('127.0.0.1', rx.port);
    await rx.restart({ identity: newIdentity() });
    rx.pairing.openWindow('ui');
    const err = await expectApiError(flow.request({ host: '127.0.0.1', port: rx.port, previewedPin: info.pin, receiverLabel: 'x', label: 'y' }), 'precondition_failed');
    expect(err.message).toBe(FINGERPRINT_CHANGED_MESSAGE);
    expect(err.data).toMatchObject({ expected_pin: info.pin, observed_pin: rx.identity.pin });
    expect(store.list()).toEqual([]);
    expect(rx.pairing.pending()).toEqual([]);
  });

  it('closed window → no_pairing_window with the UI wording; unreachable → unavailable', async () => {
    const { rx, store, flow } = await setup();
    const info = await flow.preview('127.0.0.1', rx.port);
    await expectApiError(flow.request({ host: '127.0.0.1', port: rx.port, previewedPin: info.pin, receiverLabel: 'x', label: 'y' }), 'no_pairing_window', /isn't accepting pair requests/);
    expect(store.list()).toEqual([]);
    const port = rx.port;
    await rx.listener.close();
    await expectApiError(flow.preview('127.0.0.1', port), 'unavailable', /^Nothing is listening at 127\.0\.0\.1:\d+ — is the build server running\?$/);
    await expectApiError(flow.preview('', port), 'invalid_args');
    await expectApiError(flow.preview('127.0.0.1', 70000), 'invalid_args');
  });

  it('a declined request removes the pending row and reports declined', async () => {
    const { rx, bus, store, flow } = await setup();
    const changes = captureEvents(bus, ['pairings_changed']);
    const info = await flow.preview('127.0.0.1', rx.port);
    rx.pairing.openWindow('ui');
    await flow.request({ host: '127.0.0.1', port: rx.port, previewedPin: info.pin, receiverLabel: '', label: 'y' });
    expect(store.get(info.pin)?.label).toBe('Test receiver'); // empty local name falls back to the friendly name
    await waitUntil(() => rx.pairing.pending().length === 1);
    await new Promise((r) => setTimeout(r, 50)); // the poll is waiting
    rx.pairing.reject(store.dashboardId);
    await waitUntil(() => changes.some((c) => c.payload.change === 'declined'), { timeoutMs: 3000, what: 'declined' });
    expect(store.get(info.pin)).toBeUndefined();
  });

  it('key mode: the pairing key is approved at once', async () => {
    const { rx, store, flow } = await setup();
    const key = rx.pairing.armKeyMode();
    const info = await flow.preview('127.0.0.1', rx.port);
    expect(info.requires_pairing_key).toBe(true);
    const res = await flow.request({ host: '127.0.0.1', port: rx.port, previewedPin: info.pin, receiverLabel: 'Headless', label: 'laptop', pairingKey: key });
    expect(res.status).toBe('approved');
    expect(store.get(info.pin)?.status).toBe('approved');
    expect(rx.store.get(store.dashboardId)?.pin_sha256).toBeDefined();
  });

  it('key mode: a wrong pairing key says the key was rejected (not that the window is closed)', async () => {
    const { rx, store, flow } = await setup();
    rx.pairing.armKeyMode();
    const info = await flow.preview('127.0.0.1', rx.port);
    await expectApiError(
      flow.request({ host: '127.0.0.1', port: rx.port, previewedPin: info.pin, receiverLabel: 'Headless', label: 'laptop', pairingKey: 'WXYZ-WXYZ-WXYZ-WXYZ' }),
      'no_pairing_window',
      /^Pairing key rejected — check the key shown by the build server\.$/,
    );
    expect(store.list()).toEqual([]);
  });

  it('an HTTP server on the port (a Kiln window) is named as such, no ws:// URL or status code', async () => {
    const { createServer } = await import('node:http');
    const http = createServer((_req, res) => res.writeHead(404).end('not found'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => http.close(() => r())));
    const { flow } = await setup();
    const port = (http.address() as { port: number }).port;
    const err = await flow.preview('127.0.0.1', port).then(
      () => null,
      (e: unknown) => e as ApiError,
    );
    expect(err?.code).toBe('unavailable');
    expect(err?.message).toBe(`127.0.0.1:${port} is a web page (such as a Kiln window), not a build-server port. The build-server port is usually 6055.`);
    expect(err?.message).not.toMatch(/ws:\/\/|HTTP 404|peer-link/);
  });

  it("refuses to pair with this app's own build server", async () => {
    const rx: BuildServerFixture = await startReceiver();
    cleanups.push(() => rx.stop());
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const store = PairingStore.inDataDir(tmp.dir, { report: () => undefined });
    const flow = new OffloaderPairingFlow({ identity: rx.identity, store, bus: new EventBus() });
    await expectApiError(flow.preview('127.0.0.1', rx.port), 'invalid_args', /own build server/);
    await store.flush();
  });
});

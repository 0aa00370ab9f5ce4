// Issue 11 defect 2: an open pairing window must not let unauthenticated peers grow the build
// server's memory or the window's request list without bound. Real listener, real WebSocket
// clients doing real Noise handshakes from 127.0.0.1.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitUntil } from '../../../../test/support/wait-until';
import { openPeerLink, pairRequest } from '../client';
import { PEER_LINK_PATH } from '../constants';
import { HandshakeState } from '../noise';
import { WsChannel } from '../ws-channel';
import { encodeJson } from '../strict-json';
import { captureEvents, newIdentity, startReceiver, type BuildServerFixture } from './helpers';
import type { PeerLinkIdentity } from '../identity';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(over: Parameters<typeof startReceiver>[0] = {}): Promise<BuildServerFixture> {
  const rx = await startReceiver(over);
  cleanups.push(() => rx.stop());
  return rx;
}

/** Runs `n` tasks with at most `width` at once. */
async function pool<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

/** An approved sender with an open session, to show other sessions keep working. */
async function approvedSession(rx: BuildServerFixture) {
  const id = newIdentity();
  const dashboardId = 'good-sender-000000000000';
  rx.store.put({ dashboard_id: dashboardId, pin_sha256: id.pin, static_x25519_pub: Buffer.from(id.publicKey), label: 'Good', paired_at: 1, peer_ip: '127.0.0.1', connect_back_port: 0, friendly_name: '', ha_addon: false });
  const r = await openPeerLink({ host: '127.0.0.1', port: rx.port, identity: id, expectedPin: rx.identity.pin, dashboardId, heartbeatIntervalMs: 50 });
  if (!r.ok) throw new Error('peer_link refused');
  cleanups.push(() => r.session.close('client_stopped'));
  return r.session as typeof r.session & { stats: { pongsReceived: number } };
}

/** Handshake as initiator up to msg3 (the receiver now decides), leaving the socket open. */
async function rawIntent(port: number, identity: PeerLinkIdentity, intent: string, payload: unknown): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${PEER_LINK_PATH}`);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  const channel = new WsChannel(ws);
  const hs = new HandshakeState({ initiator: true, staticKeyPair: identity });
  await channel.send(hs.writeMessage(encodeJson({ intent })));
  hs.readMessage(await channel.read(5000));
  await channel.send(hs.writeMessage(encodeJson(payload)));
  return ws;
}

describe('pairing-window flood', () => {
  it('2,000 pair_requests with fresh ids: PENDING rows and window events stay capped, the oldest stays, newcomers refused', async () => {
    const rx = await receiver({ pairingLimits: { maxPendingPerAddress: 1_000_000, pairRequestsPerAddressPerMinute: 1_000_000 } });
    const events = captureEvents(rx.bus, ['pair_request_received']);
    rx.pairing.openWindow('ui');
    const good = await approvedSession(rx);
    const answers = await pool(2000, 16, async (i) => {
      const r = await pairRequest('127.0.0.1', rx.port, { expectedPin: rx.identity.pin, dashboardId: `flood-${String(i).padStart(6, '0')}`, label: `flood ${i}` }, { identity: newIdentity() });
      return r.response.intent_response;
    });
    const pending = answers.filter((a) => a === 'pending').length;
    expect(pending).toBeGreaterThan(0);
    expect(pending).toBeLessThanOrEqual(16);
    expect(answers.filter((a) => a === 'no_pairing_window').length).toBe(2000 - pending);
    expect(rx.pairing.pending().length).toBe(pending);
    expect(rx.pairing.pending().some((p) => p.dashboard_id === 'flood-000000')).toBe(true);
    expect(events.length).toBe(pending);
    // The approved sender's session kept working throughout.
    expect(good.closed).toBe(false);
    const before = good.stats.pongsReceived;
    await waitUntil(() => good.stats.pongsReceived > before, { timeoutMs: 5000, what: 'a pong after the flood' });
  }, 120_000);

  it('pair_requests from one address are limited (rows and rate)', async () => {
    const rx = await receiver();
    const events = captureEvents(rx.bus, ['pair_request_received']);
    rx.pairing.openWindow('ui');
    const answers = await pool(200, 8, async (i) => {
      const r = await pairRequest('127.0.0.1', rx.port, { expectedPin: rx.identity.pin, dashboardId: `one-ip-${String(i).padStart(6, '0')}`, label: 'x' }, { identity: newIdentity() });
      return r.response.intent_response;
    });
    const pending = answers.filter((a) => a === 'pending').length;
    expect(pending).toBeGreaterThan(0);
    expect(pending).toBeLessThanOrEqual(4);
    expect(events.length).toBe(pending);
    expect(answers.filter((a) => a !== 'pending').every((a) => a === 'no_pairing_window')).toBe(true);
  }, 60_000);

  it('binary frames streamed during a pair_status long-poll are bounded: that connection ends, memory does not grow, others keep working', async () => {
    const rx = await receiver();
    rx.pairing.openWindow('ui');
    const good = await approvedSession(rx);
    const attacker = newIdentity();
    const first = await pairRequest('127.0.0.1', rx.port, { expectedPin: rx.identity.pin, dashboardId: 'stream-attacker-0001', label: 'a' }, { identity: attacker });
    expect(first.response.intent_response).toBe('pending');
    const ws = await rawIntent(rx.port, attacker, 'pair_status', { dashboard_id: 'stream-attacker-0001' });
    let closed = false;
    ws.on('close', () => (closed = true));
    ws.on('error', () => undefined);
    const frame = Buffer.alloc(60 * 1024, 7);
    const rss0 = process.memoryUsage().rss;
    let sent = 0;
    // Up to 256 MiB; the receiver must cut the connection long before.
    while (!closed && ws.readyState === WebSocket.OPEN && sent < 256 * 1024 * 1024) {
      const err = await new Promise<Error | undefined>((res) => ws.send(frame, { binary: true }, (e) => res(e ?? undefined)));
      if (err) break;
      sent += frame.length;
    }
    await waitUntil(() => closed, { timeoutMs: 5000, what: 'the streaming connection to be closed' });
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 1024 * 1024);
    // The pending row is untouched (a flood is not a decision) and the good session still works.
    expect(rx.pairing.pending().map((p) => p.dashboard_id)).toEqual(['stream-attacker-0001']);
    const before = good.stats.pongsReceived;
    await waitUntil(() => good.stats.pongsReceived > before, { timeoutMs: 5000, what: 'a pong after the stream' });
  }, 60_000);

  it('unauthenticated connections per address are capped; an established session is unaffected', async () => {
    const rx = await receiver({ handshakeTimeoutMs: 10_000 });
    const good = await approvedSession(rx);
    const sockets: WebSocket[] = [];
    cleanups.push(() => sockets.forEach((s) => s.terminate()));
    let closedEarly = 0;
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${rx.port}${PEER_LINK_PATH}`);
        sockets.push(ws);
        ws.on('error', () => undefined);
        ws.on('close', () => closedEarly++);
        await new Promise<void>((res) => {
          ws.once('open', () => res());
          ws.once('close', () => res());
        });
      }),
    );
    await waitUntil(() => closedEarly >= 200 - 32, { timeoutMs: 5000, what: 'connections over the per-address cap to be closed' });
    expect(sockets.filter((s) => s.readyState === WebSocket.OPEN).length).toBeLessThanOrEqual(32);
    const before = good.stats.pongsReceived;
    await waitUntil(() => good.stats.pongsReceived > before, { timeoutMs: 5000, what: 'a pong during the flood' });
    expect(good.closed).toBe(false);
  }, 60_000);
});

// Application sessions over real WebSockets on 127.0.0.1 (peer-link-protocol.md §6, §12, §13).
import { afterEach, describe, expect, it } from 'vitest';
import { dialIntent, openPeerLink, type SenderSession } from '../client';
import { PeerLinkFrameTooLargeError, PeerLinkSessionClosedError } from '../errors';
import type { PeerMessage } from '../frames';
import type { PeerLinkIdentity } from '../identity';
import type { BuildServerSession } from '../session';
import { NoisePeerSession } from '../session';
import { captureEvents, collectFrames, fakeReceiver, newIdentity, sleep, startReceiver, type BuildServerFixture } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const DASH = 'sessionDASHBOARD0000000000000000';
const host = '127.0.0.1';
/** Bytes of {"type":"pad","p":""} around the padding. */
const PAD_OVERHEAD = JSON.stringify({ type: 'pad', p: '' }).length;

function approve(rx: BuildServerFixture, who: PeerLinkIdentity, dashboardId = DASH): void {
  rx.store.put({
    dashboard_id: dashboardId,
    pin_sha256: who.pin,
    static_x25519_pub: who.publicKey,
    label: 'Laptop',
    paired_at: Date.now() / 1000,
    peer_ip: '',
    connect_back_port: 0,
    friendly_name: '',
    ha_addon: false,
  });
}

async function open(rx: BuildServerFixture, who: PeerLinkIdentity, over: { heartbeatIntervalMs?: number; heartbeatDeadAfterMs?: number; dashboardId?: string } = {}): Promise<SenderSession> {
  const r = await openPeerLink({ host, port: rx.port, identity: who, expectedPin: rx.identity.pin, dashboardId: over.dashboardId ?? DASH, friendlyName: 'laptop.lan', ...over });
  if (!r.ok) throw new Error(`not ok: ${JSON.stringify(r.response)}`);
  return r.session;
}

/** A raw offloader: completes peer_link and then does exactly what the test says. */
async function rawLink(rx: BuildServerFixture, who: PeerLinkIdentity) {
  const r = await dialIntent({ host, port: rx.port, identity: who, intent: 'peer_link', payload: { dashboard_id: DASH }, expectedPin: rx.identity.pin });
  expect(r.response.intent_response).toBe('ok');
  return r;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(over: Parameters<typeof startReceiver>[0] = {}): Promise<BuildServerFixture> {
  const rx = await startReceiver(over);
  cleanups.push(() => rx.stop());
  return rx;
}

describe('peer-link sessions', () => {
  it('opens on peer_link ok: registration hook frames arrive, app frames flow both ways, unknown types are delivered not fatal', async () => {
    const sessions: BuildServerSession[] = [];
    const rx = await receiver({
      onSession: (s) => {
        sessions.push(s);
        // what the receiver part does on register: push queue_status at once
        void s.send({ type: 'queue_status', idle: true, running: false, queue_depth: 0 });
      },
    });
    const events = captureEvents(rx.bus, ['receiver_session_opened']);
    const me = newIdentity();
    approve(rx, me);
    const s = await open(rx, me);
    const got: PeerMessage[] = [];
    s.onMessage((m) => got.push(m));
    await waitUntil(() => got.length >= 1, { timeoutMs: 2000, what: 'queue_status' });
    expect(got[0]).toEqual({ type: 'queue_status', idle: true, running: false, queue_depth: 0 });
    expect(s.pin).toBe(rx.identity.pin);
    expect(s.response.esphome_version).toBe('2026.4.1');

    const rs = must(sessions[0]);
    expect(rs).toMatchObject({ dashboardId: DASH, label: 'Laptop', peerIp: '127.0.0.1', pin: me.pin, friendlyName: 'laptop.lan', haAddon: false });
    expect(events).toEqual([{ name: 'receiver_session_opened', payload: { dashboard_id: DASH, label: 'Laptop' } }]);
    expect(rx.store.get(DASH)!.peer_ip).toBe('127.0.0.1'); // refreshed on register
    const atReceiver: PeerMessage[] = [];
    rs.onMessage((m) => atReceiver.push(m));
    await s.send({ type: 'from_the_future', x: 1 });
    await s.send({ type: 'cancel_job', job_id: 'abc' });
    await waitUntil(() => atReceiver.length === 2);
    expect(atReceiver).toEqual([
      { type: 'from_the_future', x: 1 },
      { type: 'cancel_job', job_id: 'abc' },
    ]);
    await rs.send({ type: 'job_output', job_id: 'abc', stream: 'stdout', line: 'hi\n' });
    await waitUntil(() => got.length === 2);
    expect(s.closed).toBe(false);
    expect(rs.closed).toBe(false);
  });

  it('sends issued back to back go out in nonce order', async () => {
    let rs: BuildServerSession | undefined;
    const rx = await receiver({ onSession: (s) => (rs = s) });
    const me = newIdentity();
    approve(rx, me);
    const s = await open(rx, me);
    await waitUntil(() => rs);
    const seen: number[] = [];
    rs!.onMessage((m) => seen.push(m.i as number));
    const sends = Array.from({ length: 300 }, (_, i) => s.send({ type: 'seq', i, pad: 'x'.repeat(i * 7) }));
    await Promise.all(sends);
    await waitUntil(() => seen.length === 300, 5000);
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(rs!.closed).toBe(false);
  });

  it('answers ping with pong echoing the nonce; a ping whose nonce is a boolean is ignored', async () => {
    const rx = await receiver();
    const me = newIdentity();
    approve(rx, me);
    const r = await rawLink(rx, me);
    const c = collectFrames(r.channel, r.ciphers);
    await r.channel.send(r.ciphers.send.encrypt(Buffer.from(JSON.stringify({ type: 'ping', nonce: true }))));
    await r.channel.send(r.ciphers.send.encrypt(Buffer.from(JSON.stringify({ type: 'ping', nonce: 41 }))));
    await waitUntil(() => c.frames.length >= 1);
    await sleep(50);
    expect(c.frames).toEqual([{ type: 'pong', nonce: 41 }]);
    r.channel.close();
  });

  describe('malformed inbound frames at the receiver → terminate{malformed_frame} and close', () => {
    const cases: Array<[string, (r: Awaited<ReturnType<typeof rawLink>>) => Promise<void>]> = [
      ['text frame', async (r) => void r.channel.ws.send('{"type":"ping","nonce":1}')],
      ['61 KiB frame', (r) => r.channel.send(Buffer.alloc(61 * 1024 + 512, 1))],
      [
        '61441-byte frame (one over the cap, validly encrypted)',
        (r) => {
          const frame = r.ciphers.send.encrypt(Buffer.from(JSON.stringify({ type: 'pad', p: 'x'.repeat(61441 - 16 - PAD_OVERHEAD) })));
          expect(frame.length).toBe(61441);
          return r.channel.send(frame);
        },
      ],
      ['garbage (decrypt failure)', (r) => r.channel.send(Buffer.from('definitely not ciphertext'))],
      ['invalid JSON', (r) => r.channel.send(r.ciphers.send.encrypt(Buffer.from('{"type":')))],
      ['JSON array', (r) => r.channel.send(r.ciphers.send.encrypt(Buffer.from('[{"type":"ping"}]')))],
      ['object without type', (r) => r.channel.send(r.ciphers.send.encrypt(Buffer.from('{"nonce":1}')))],
      ['non-string type', (r) => r.channel.send(r.ciphers.send.encrypt(Buffer.from('{"type":7}')))],
    ];
    for (const [name, misbehave] of cases) {
      it(name, async () => {
        const closes: Array<[string, string]> = [];
        const rx = await receiver({ onSession: (s) => s.onClose((reason, detail) => closes.push([reason, detail])) });
        const me = newIdentity();
        approve(rx, me);
        const r = await rawLink(rx, me);
        await waitUntil(() => rx.listener.sessions.size === 1);
        const c = collectFrames(r.channel, r.ciphers);
        await misbehave(r);
        await waitUntil(() => c.closed(), { timeoutMs: 3000, what: 'connection closed' });
        expect(c.frames).toEqual([{ type: 'terminate', reason: 'malformed_frame' }]);
        expect(closes.map((x) => x[0])).toEqual(['malformed_frame']);
        expect(rx.listener.sessions.size).toBe(0);
      });
    }

    it('a frame of exactly 61440 ciphertext bytes is accepted', async () => {
      const got: PeerMessage[] = [];
      const rx = await receiver({ onSession: (s) => s.onMessage((m) => got.push(m)) });
      const me = newIdentity();
      approve(rx, me);
      const r = await rawLink(rx, me);
      const frame = r.ciphers.send.encrypt(Buffer.from(JSON.stringify({ type: 'pad', p: 'x'.repeat(61440 - 16 - PAD_OVERHEAD) })));
      expect(frame.length).toBe(61440);
      await r.channel.send(frame);
      await waitUntil(() => got.length === 1);
      expect(rx.listener.sessions.size).toBe(1);
      r.channel.close();
    });
  });

  it('a malformed frame from the receiver closes the offloader session with transport_error and no terminate', async () => {
    const rxId = newIdentity();
    let fakeFrames: ReturnType<typeof collectFrames> | undefined;
    const fake = await fakeReceiver(rxId, ({ channel, ciphers }) => {
      fakeFrames = collectFrames(channel, ciphers);
      setTimeout(() => void channel.send(Buffer.from('garbage garbage garbage')), 20);
    });
    cleanups.push(() => fake.close());
    const r = await openPeerLink({ host, port: fake.port, identity: newIdentity(), expectedPin: rxId.pin, dashboardId: DASH });
    expect(r.ok).toBe(true);
    const s = (r as { session: SenderSession }).session;
    const closed = new Promise<[string, string]>((res) => s.onClose((a, b) => res([a, b])));
    const [reason, detail] = await closed;
    expect(reason).toBe('transport_error');
    expect(detail).toMatch(/decrypt/);
    await sleep(30);
    expect(fakeFrames!.frames.filter((f) => f.type === 'terminate')).toEqual([]);
  });

  it('refuses to send a frame over the cap without breaking the session', async () => {
    let rs: BuildServerSession | undefined;
    const rx = await receiver({ onSession: (s) => (rs = s) });
    const me = newIdentity();
    approve(rx, me);
    const s = await open(rx, me);
    await expect(s.send({ type: 'big', p: 'x'.repeat(70_000) })).rejects.toBeInstanceOf(PeerLinkFrameTooLargeError);
    const got: PeerMessage[] = [];
    await waitUntil(() => rs);
    rs!.onMessage((m) => got.push(m));
    await s.send({ type: 'small' });
    await waitUntil(() => got.length === 1); // the refused frame consumed no nonce
    expect(s.closed).toBe(false);
  });

  describe('heartbeat', () => {
    it('keeps an answering pair alive through many intervals, both sides pinging', async () => {
      let rs: BuildServerSession | undefined;
      const rx = await receiver({ heartbeatIntervalMs: 20, heartbeatDeadAfterMs: 300, onSession: (s) => (rs = s) });
      const me = newIdentity();
      approve(rx, me);
      const s = await open(rx, me, { heartbeatIntervalMs: 20, heartbeatDeadAfterMs: 300 });
      await sleep(700);
      expect(s.closed).toBe(false);
      expect(rs!.closed).toBe(false);
      const os = (s as unknown as NoisePeerSession).stats;
      const ns = (rs as unknown as NoisePeerSession).stats;
      expect(os.pingsSent).toBeGreaterThan(10);
      expect(os.pongsReceived).toBeGreaterThan(10);
      expect(ns.pingsSent).toBeGreaterThan(10);
      expect(ns.pongsReceived).toBeGreaterThan(10);
    });

    it('receiver: a peer that completes the handshake then goes silent gets terminate{heartbeat_timeout}', async () => {
      const closes: string[] = [];
      // dead-after well above the interval so a briefly stalled test machine still sends pings first
      const rx = await receiver({ heartbeatIntervalMs: 25, heartbeatDeadAfterMs: 200, onSession: (s) => s.onClose((r) => closes.push(r)) });
      const me = newIdentity();
      approve(rx, me);
      const r = await rawLink(rx, me);
      const c = collectFrames(r.channel, r.ciphers); // reads, never answers
      const t0 = Date.now();
      await waitUntil(() => c.closed(), { timeoutMs: 3000, what: 'receiver to hang up' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      expect(c.frames.filter((f) => f.type === 'ping').length).toBeGreaterThanOrEqual(2);
      expect(c.frames.at(-1)).toEqual({ type: 'terminate', reason: 'heartbeat_timeout' });
      expect(closes).toEqual(['heartbeat_timeout']);
      // pings carry increasing nonces from 1
      expect(c.frames.filter((f) => f.type === 'ping').map((f) => f.nonce).slice(0, 3)).toEqual([1, 2, 3]);
    });

    it('offloader: a receiver that stops answering pongs → local heartbeat_timeout, nothing sent', async () => {
      const rxId = newIdentity();
      let fakeFrames: ReturnType<typeof collectFrames> | undefined;
      const fake = await fakeReceiver(rxId, ({ channel, ciphers }) => (fakeFrames = collectFrames(channel, ciphers)));
      cleanups.push(() => fake.close());
      const r = await openPeerLink({ host, port: fake.port, identity: newIdentity(), expectedPin: rxId.pin, dashboardId: DASH, heartbeatIntervalMs: 25, heartbeatDeadAfterMs: 200 });
      const s = (r as { session: SenderSession }).session;
      const [reason] = await new Promise<[string, string]>((res) => s.onClose((a, b) => res([a, b])));
      expect(reason).toBe('heartbeat_timeout');
      expect(fakeFrames!.frames.length).toBeGreaterThanOrEqual(2);
      expect(fakeFrames!.frames.every((f) => f.type === 'ping')).toBe(true);
    });
  });

  it('a new session from the same dashboard_id supersedes the old one with terminate{superseded}', async () => {
    const rx = await receiver();
    const events = captureEvents(rx.bus, ['receiver_session_opened', 'receiver_session_closed']);
    const me = newIdentity();
    approve(rx, me);
    const first = await open(rx, me);
    const firstClosed = new Promise<string>((res) => first.onClose((r) => res(r)));
    await waitUntil(() => rx.listener.sessions.size === 1);
    const second = await open(rx, me);
    expect(await firstClosed).toBe('superseded');
    await sleep(30);
    expect(second.closed).toBe(false);
    expect(rx.listener.sessions.size).toBe(1);
    expect(events.map((e) => [e.name, 'reason' in e.payload ? e.payload.reason : ''])).toEqual([
      ['receiver_session_opened', ''],
      ['receiver_session_closed', 'superseded'],
      ['receiver_session_opened', ''],
    ]);
  });

  it('receiver shutdown sends terminate{server_shutting_down} on every session', async () => {
    const rx = await startReceiver();
    const a = newIdentity();
    const b = newIdentity();
    approve(rx, a, 'dashA');
    approve(rx, b, 'dashB');
    const sa = await open(rx, a, { dashboardId: 'dashA' });
    const sb = await open(rx, b, { dashboardId: 'dashB' });
    const reasons = Promise.all([sa, sb].map((s) => new Promise<string>((res) => s.onClose((r) => res(r)))));
    await waitUntil(() => rx.listener.sessions.size === 2);
    await rx.stop();
    expect(await reasons).toEqual(['server_shutting_down', 'server_shutting_down']);
  });

  it("offloader close('client_stopped') tells the receiver; later sends reject; late onClose still fires", async () => {
    const closes: string[] = [];
    const rx = await receiver({ onSession: (s) => s.onClose((r) => closes.push(r)) });
    const me = newIdentity();
    approve(rx, me);
    const s = await open(rx, me);
    await waitUntil(() => rx.listener.sessions.size === 1);
    await s.close('client_stopped');
    await waitUntil(() => closes.length === 1);
    expect(closes).toEqual(['client_stopped']);
    await expect(s.send({ type: 'x' })).rejects.toBeInstanceOf(PeerLinkSessionClosedError);
    const late = await new Promise<string>((res) => s.onClose((r) => res(r)));
    expect(late).toBe('client_stopped');
  });

  it('removing an approved sender ends its live session', async () => {
    const rx = await receiver();
    const me = newIdentity();
    approve(rx, me);
    const s = await open(rx, me);
    await waitUntil(() => rx.listener.sessions.size === 1);
    const closed = new Promise<string>((res) => s.onClose((r) => res(r)));
    expect(await rx.pairing.removePeer(DASH)).toBe(true);
    expect(await closed).toBe('peer_hung_up');
    expect(rx.listener.sessions.size).toBe(0);
  });
});

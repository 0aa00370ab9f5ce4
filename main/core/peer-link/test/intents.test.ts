// Every handshake intent end to end over a real WebSocket on 127.0.0.1 (peer-link-protocol.md §4, §5).
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../errors';
import { dialIntent, pairRequest, pairStatus, preview } from '../client';
import { PeerLinkPinMismatchError } from '../errors';
import { captureEvents, newIdentity, sleep, startReceiver, type BuildServerFixture } from './helpers';
import { must } from '../../../../test/support/must';

const DASH = 'offloaderAAAAAAAAAAAAAAAAAAAAAAA';

describe('peer-link intents', () => {
  let rx: BuildServerFixture;
  const offloader = newIdentity();
  const host = '127.0.0.1';

  beforeEach(async () => {
    rx = await startReceiver();
  });
  afterEach(async () => {
    await rx.stop();
  });

  const req = async (over: Partial<Parameters<typeof pairRequest>[2]> = {}, who = offloader) =>
    (await pairRequest(host, rx.port, { expectedPin: rx.identity.pin, dashboardId: DASH, label: 'Laptop', ...over }, { identity: who })).response;
  const status = async (dashboardId = DASH, who = offloader) =>
    (await pairStatus(host, rx.port, { expectedPin: rx.identity.pin, dashboardId }, { identity: who })).response;

  it('preview answers ok with the receiver pin and response fields, and changes nothing', async () => {
    const events = captureEvents(rx.bus, ['pair_request_received', 'pair_status_changed', 'pairing_window_changed']);
    const r = await preview(host, rx.port, { identity: offloader });
    expect(r.pin).toBe(rx.identity.pin);
    expect(r.staticKey.equals(rx.identity.publicKey)).toBe(true);
    expect(r.response).toEqual({
      intent_response: 'ok',
      esphome_version: '2026.4.1',
      auto_provision_supported: false,
      reset_build_env_supported: false,
      friendly_name: 'Test receiver',
      ha_addon: false,
    });
    expect(rx.pairing.pending()).toEqual([]);
    expect(events).toEqual([]);
  });

  it('preview adds requires_pairing_key in key mode', async () => {
    rx.pairing.armKeyMode();
    expect((await preview(host, rx.port, { identity: offloader })).response.requires_pairing_key).toBe(true);
  });

  it('pair_request with a closed window → no_pairing_window, nothing stored or emitted', async () => {
    const events = captureEvents(rx.bus, ['pair_request_received']);
    const r = await req();
    expect(r.intent_response).toBe('no_pairing_window');
    expect(r.reason).toBeUndefined();
    expect(rx.pairing.pending()).toEqual([]);
    expect(events).toEqual([]);
  });

  it('pair_request with an open window → pending row + UI event; a rival key for the same row → pin_mismatch', async () => {
    rx.pairing.openWindow('ui-1');
    const events = captureEvents(rx.bus, ['pair_request_received']);
    const r = await req({ label: '  My laptop  ', labelAuto: true });
    expect(r.intent_response).toBe('pending');
    expect(rx.pairing.pending()).toMatchObject([{ dashboard_id: DASH, pin_sha256: offloader.pin, label: 'My laptop', label_auto: true, peer_ip: '127.0.0.1' }]);
    expect(events).toEqual([{ name: 'pair_request_received', payload: { dashboard_id: DASH, pin: offloader.pin, label: 'My laptop', peer_ip: '127.0.0.1' } }]);

    const rival = newIdentity();
    const r2 = await req({}, rival);
    expect(r2).toMatchObject({ intent_response: 'rejected', reason: 'pin_mismatch' });
    expect(must(rx.pairing.pending()[0]).pin_sha256).toBe(offloader.pin);
  });

  it('labels are truncated to 128 chars and non-string labels become ""', async () => {
    rx.pairing.openWindow('ui');
    await req({ label: 'x'.repeat(300) });
    expect(must(rx.pairing.pending()[0]).label).toHaveLength(128);
    const other = newIdentity();
    const r = await dialIntent({ host, port: rx.port, identity: other, intent: 'pair_request', payload: { dashboard_id: 'other', label: 42, ha_addon: 'yes' } });
    r.channel.close();
    expect(r.response.intent_response).toBe('pending');
    expect(rx.pairing.pending().find((p) => p.dashboard_id === 'other')).toMatchObject({ label: '', ha_addon: false });
  });

  it('pair_status waits and resolves approved when the receiver approves; the approval is on disk', async () => {
    rx.pairing.openWindow('ui');
    expect((await req()).intent_response).toBe('pending');
    let settled = false;
    const poll = status().finally(() => (settled = true));
    await sleep(150);
    expect(settled).toBe(false);
    await rx.pairing.approve(DASH);
    const r = await poll;
    expect(r.intent_response).toBe('approved');
    expect(r.reason).toBeUndefined();
    const onDisk = JSON.parse(readFileSync(rx.store.file, 'utf8'));
    expect(onDisk.peers).toMatchObject([{ dashboard_id: DASH, pin_sha256: offloader.pin, label: 'Laptop' }]);
    expect(Buffer.from(onDisk.peers[0].static_x25519_pub, 'base64').equals(offloader.publicKey)).toBe(true);

    // approved re-pair bypasses the (now closed) window; a different key for it is refused
    rx.pairing.closeWindow();
    expect((await req()).intent_response).toBe('approved');
    expect(await req({}, newIdentity())).toMatchObject({ intent_response: 'rejected', reason: 'pin_mismatch' });
    // pair_status for an approved row answers at once
    expect((await status()).intent_response).toBe('approved');
  });

  it('pair_status resolves rejected when the request is rejected', async () => {
    rx.pairing.openWindow('ui');
    await req();
    const poll = status();
    await sleep(100);
    rx.pairing.reject(DASH);
    expect(await poll).toMatchObject({ intent_response: 'rejected', reason: 'no_approved_peer' });
    expect(rx.pairing.pending()).toEqual([]);
    expect(() => rx.pairing.reject(DASH)).toThrow(ApiError);
  });

  it('pair_status resolves rejected when the window closes (each dropped row emits removed)', async () => {
    const events = captureEvents(rx.bus, ['pair_status_changed', 'pairing_window_changed']);
    rx.pairing.openWindow('ui-a');
    rx.pairing.openWindow('ui-b');
    await req();
    const poll = status();
    await sleep(100);
    rx.pairing.releaseWindow('ui-a');
    expect(rx.pairing.window.isOpen).toBe(true); // refcounted: one holder left
    rx.pairing.releaseWindow('ui-b');
    expect(await poll).toMatchObject({ intent_response: 'rejected', reason: 'no_approved_peer' });
    expect(events.filter((e) => e.name === 'pair_status_changed')).toEqual([{ name: 'pair_status_changed', payload: { dashboard_id: DASH, status: 'removed' } }]);
    expect(events.filter((e) => e.name === 'pairing_window_changed').at(-1)).toEqual({ name: 'pairing_window_changed', payload: { open: false, expires_in_seconds: 0 } });
  });

  it('pair_status with a different key on a pending row → pin_mismatch; with no row → no_approved_peer', async () => {
    rx.pairing.openWindow('ui');
    await req();
    expect(await status(DASH, newIdentity())).toMatchObject({ intent_response: 'rejected', reason: 'pin_mismatch' });
    expect(await status('nobody')).toMatchObject({ intent_response: 'rejected', reason: 'no_approved_peer' });
  });

  it('peer_link lookup: no row, pending row, approved row with the wrong pin, approved row', async () => {
    const link = (who = offloader) => dialIntent({ host, port: rx.port, identity: who, intent: 'peer_link', payload: { dashboard_id: DASH }, expectedPin: rx.identity.pin });
    let r = await link();
    r.channel.close();
    expect(r.response).toMatchObject({ intent_response: 'rejected', reason: 'no_approved_peer' });
    rx.pairing.openWindow('ui');
    await req();
    r = await link();
    r.channel.close();
    expect(r.response).toMatchObject({ intent_response: 'pending', reason: 'pending_not_approved' });
    r = await link(newIdentity());
    r.channel.close();
    expect(r.response).toMatchObject({ intent_response: 'rejected', reason: 'pin_mismatch' });
    await rx.pairing.approve(DASH);
    r = await link(newIdentity());
    r.channel.close();
    expect(r.response).toMatchObject({ intent_response: 'rejected', reason: 'pin_mismatch' });
    r = await link();
    expect(r.response.intent_response).toBe('ok');
    expect(r.response.reason).toBeUndefined();
    r.channel.close();
  });

  it('bad dashboard_id → rejected/bad_dashboard_id for pair_request, pair_status and peer_link', async () => {
    rx.pairing.openWindow('ui');
    const bad: unknown[] = ['', 'x'.repeat(65), 'has space', 'slash/', 'ünicode', 42, true, null, undefined];
    for (const intent of ['pair_request', 'pair_status', 'peer_link']) {
      for (const id of bad) {
        const r = await dialIntent({ host, port: rx.port, identity: offloader, intent, payload: { dashboard_id: id, label: 'x' } });
        r.channel.close();
        expect(r.response, `${intent} ${JSON.stringify(id)}`).toMatchObject({ intent_response: 'rejected', reason: 'bad_dashboard_id' });
      }
    }
    // 64 chars of the allowed alphabet is fine
    const ok = await dialIntent({ host, port: rx.port, identity: offloader, intent: 'pair_request', payload: { dashboard_id: 'A_-9'.repeat(16), label: 'x' } });
    ok.channel.close();
    expect(ok.response.intent_response).toBe('pending');
    expect(rx.pairing.pending()).toHaveLength(1);
  });

  it('garbage msg1 payloads and connect_back get an authenticated rejected/bad_intent', async () => {
    const garbage = [Buffer.from('not json'), Buffer.from('[1,2]'), Buffer.from('{"intent":"launch_missiles"}'), Buffer.from('{"intent":7}'), Buffer.from([0xff, 0xfe]), Buffer.alloc(0)];
    for (const msg1Payload of garbage) {
      const r = await dialIntent({ host, port: rx.port, identity: offloader, intent: 'x', msg1Payload, payload: { dashboard_id: DASH } });
      r.channel.close();
      expect(r.remotePin).toBe(rx.identity.pin); // authenticated: the responder proved its key
      expect(r.response).toMatchObject({ intent_response: 'rejected', reason: 'bad_intent' });
    }
    const cb = await dialIntent({ host, port: rx.port, identity: offloader, intent: 'connect_back', payload: { peer_link_port: 6055 } });
    cb.channel.close();
    expect(cb.response).toMatchObject({ intent_response: 'rejected', reason: 'bad_intent' });
  });

  it('a wrong receiver pin stops the offloader after msg2: nothing is sent, nothing recorded', async () => {
    rx.pairing.openWindow('ui');
    const events = captureEvents(rx.bus, ['pair_request_received']);
    const wrong = newIdentity().pin;
    const err = await req({ expectedPin: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerLinkPinMismatchError);
    expect(err).toMatchObject({ expectedPin: wrong, observedPin: rx.identity.pin });
    await sleep(50);
    expect(rx.pairing.pending()).toEqual([]);
    expect(events).toEqual([]);
  });

  describe('key mode', () => {
    it('the right key (any case, any separators) approves at once, flushed before the response, and closes the window', async () => {
      const key = rx.pairing.armKeyMode();
      expect(key).toMatch(/^[ABCDEFGHJKMNPQRSTVWXYZ23456789]{4}(-[ABCDEFGHJKMNPQRSTVWXYZ23456789]{4}){3}$/);
      expect(rx.pairing.window.isOpen).toBe(true);
      expect(rx.pairing.window.expiresInSeconds).toBeGreaterThan(850);
      const r = await req({ pairingKey: ` ${key.toLowerCase().replace(/-/g, ' ')} ` });
      expect(r.intent_response).toBe('approved');
      // on disk at the moment the response arrived (no debounce wait)
      const onDisk = JSON.parse(readFileSync(rx.store.file, 'utf8'));
      expect(onDisk.peers.map((p: { dashboard_id: string }) => p.dashboard_id)).toEqual([DASH]);
      expect(rx.pairing.window.isOpen).toBe(false);
      expect(rx.pairing.keyModeArmed).toBe(false);
      // the key is one-time: a second sender with it meets a closed window
      expect((await req({ pairingKey: key, dashboardId: 'second' }, newIdentity())).intent_response).toBe('no_pairing_window');
    });

    it('every refusal answers no_pairing_window: wrong key, missing key, non-string key, source not allowed', async () => {
      const key = rx.pairing.armKeyMode({ allowedSources: ['10.9.9.9'] });
      for (const pairingKey of ['AAAA-BBBB-CCCC-DDDD', undefined, '']) {
        expect((await req({ pairingKey })).intent_response).toBe('no_pairing_window');
      }
      const nonString = await dialIntent({ host, port: rx.port, identity: offloader, intent: 'pair_request', payload: { dashboard_id: DASH, label: 'x', pairing_key: 1234 } });
      nonString.channel.close();
      expect(nonString.response.intent_response).toBe('no_pairing_window');
      expect((await req({ pairingKey: key })).intent_response).toBe('no_pairing_window'); // right key, wrong source
      expect(rx.pairing.pending()).toEqual([]);
      expect(rx.store.list()).toEqual([]);
      expect(rx.pairing.keyModeArmed).toBe(true);
    });
  });
});

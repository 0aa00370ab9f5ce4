// Issue 11 defect 9: key-mode pairing persists first and answers second. A failed write of
// receiver-peers.json refuses the request (no_pairing_window), keeps the key armed, and a retry
// without the key is not approved. Real listener, real offloader dial, real file; the write
// failure (ENOSPC) is injected into the store's file writer.
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { writeFileAtomic } from '../atomic-json';
import { pairRequest } from '../client';
import { ReceiverPairing } from '../build-server-pairing';
import { ApprovedSenderStore } from '../approved-senders';
import { newIdentity, startReceiver, tempDir, type BuildServerFixture } from './helpers';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('key-mode pairing on a failing disk', () => {
  it('a failed write refuses, leaves the key armed and approves nobody; the key works once the disk does', async () => {
    const tmp = tempDir('kiln-full-');
    cleanups.push(tmp.cleanup);
    let diskFull = false;
    const store = ApprovedSenderStore.inDataDir(tmp.dir, {
      debounceMs: 10,
      report: () => undefined,
      writeFile: async (file, data) => {
        if (diskFull) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        await writeFileAtomic(file, data);
      },
    });
    await store.flush();
    const bus = new EventBus();
    const pairing = new ReceiverPairing({ store, bus, report: () => undefined });
    const key = pairing.armKeyMode({ key: 'ABCD-EFGH-JKMN-PQRS' });
    const rx: BuildServerFixture = await startReceiver({ dir: tmp.dir, pairing, bus });
    cleanups.push(() => rx.listener.close());
    const sender = newIdentity();
    const ask = (pairingKey?: string) =>
      pairRequest('127.0.0.1', rx.port, { expectedPin: rx.identity.pin, dashboardId: 'sender-one-0000000000', label: 'One', pairingKey }, { identity: sender });

    diskFull = true;
    const refused = await ask(key);
    expect(refused.response.intent_response).toBe('no_pairing_window');
    expect(pairing.keyModeArmed).toBe(true);
    expect(store.get('sender-one-0000000000')).toBeUndefined();
    // The retry without the key that used to answer `approved` from memory:
    expect((await ask()).response.intent_response).toBe('no_pairing_window');
    expect(JSON.parse(readFileSync(store.file, 'utf8')).peers).toEqual([]);

    diskFull = false;
    const ok = await ask(key);
    expect(ok.response.intent_response).toBe('approved');
    expect(pairing.keyModeArmed).toBe(false);
    expect(existsSync(store.file)).toBe(true);
    expect(JSON.parse(readFileSync(store.file, 'utf8')).peers.map((p: { dashboard_id: string }) => p.dashboard_id)).toEqual(['sender-one-0000000000']);
  });

  it('a UI approval whose write fails keeps the request pending and reports the error', async () => {
    const tmp = tempDir('kiln-full-');
    cleanups.push(tmp.cleanup);
    let diskFull = false;
    const store = ApprovedSenderStore.inDataDir(tmp.dir, {
      debounceMs: 10,
      report: () => undefined,
      writeFile: async (file, data) => {
        if (diskFull) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        await writeFileAtomic(file, data);
      },
    });
    const bus = new EventBus();
    const pairing = new ReceiverPairing({ store, bus, report: () => undefined });
    pairing.openWindow('ui');
    const sender = newIdentity();
    const d = await pairing.pairRequest({ dashboardId: 'sender-two-0000000000', pin: sender.pin, staticKey: Buffer.from(sender.publicKey), label: 'Two', labelAuto: false, friendlyName: '', haAddon: false, peerIp: '127.0.0.1' });
    expect(d.intent_response).toBe('pending');
    diskFull = true;
    await expect(pairing.approve('sender-two-0000000000')).rejects.toThrow(/ENOSPC|could not/);
    expect(store.get('sender-two-0000000000')).toBeUndefined();
    expect(pairing.pending().map((p) => p.dashboard_id)).toEqual(['sender-two-0000000000']);
    expect(pairing.lookup('sender-two-0000000000', sender.pin, 'approved').intent_response).toBe('pending');
    diskFull = false;
    await pairing.approve('sender-two-0000000000');
    expect(pairing.lookup('sender-two-0000000000', sender.pin, 'approved').intent_response).toBe('approved');
    pairing.closeWindow();
  });
});

describe('a sender removed by another process (kiln receiver senders remove)', () => {
  it('is not written back by the running server’s next write, and the server is told', async () => {
    const tmp = tempDir('kiln-ext-');
    cleanups.push(tmp.cleanup);
    const running = ApprovedSenderStore.inDataDir(tmp.dir, { debounceMs: 10_000, report: () => undefined });
    const row = (id: string) => {
      const k = newIdentity();
      return { dashboard_id: id, pin_sha256: k.pin, static_x25519_pub: Buffer.from(k.publicKey), label: id, paired_at: 1, peer_ip: '10.0.0.1', connect_back_port: 0, friendly_name: '', ha_addon: false };
    };
    await running.putDurable(row('keep-me'));
    await running.putDurable(row('remove-me'));
    const told: string[][] = [];
    running.onExternalRemoval((ids) => told.push(ids));
    // The CLI, another store on the same file.
    const cli = ApprovedSenderStore.inDataDir(tmp.dir, { report: () => undefined });
    expect(cli.remove('remove-me')).toBe(true);
    await cli.flush();
    // The running server refreshes a row (a reconnect) and writes.
    running.put({ ...running.get('keep-me')!, peer_ip: '10.0.0.2' });
    await running.flush();
    const onDisk = JSON.parse(readFileSync(running.file, 'utf8')).peers.map((p: { dashboard_id: string }) => p.dashboard_id);
    expect(onDisk).toEqual(['keep-me']);
    expect(running.get('remove-me')).toBeUndefined();
    expect(told).toEqual([['remove-me']]);
  });
});

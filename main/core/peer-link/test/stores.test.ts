// Identity file, atomic JSON stores and corrupt-file handling (peer-link-protocol.md §3, §15).
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { writeFileAtomic } from '../atomic-json';
import { isValidDashboardId } from '../constants';
import { newDashboardId } from '../dashboard-id';
import { identityFilePath, loadOrCreateIdentity, rotateIdentity } from '../identity';
import { PairingStore, PAIRINGS_FILE_NAME } from '../pairing-store';
import { ApprovedSenderStore, RECEIVER_PEERS_FILE_NAME } from '../approved-senders';
import { openPeerLinkState } from '../state';
import { pinOf, x25519KeyPairFromPrivate } from '../x25519';
import { captureEvents, newIdentity, tempDir } from './helpers';
import { must } from '../../../../test/support/must';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function dir(): string {
  const t = tempDir('kiln-store-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('identity', () => {
  it('creates a raw 32-byte key with mode 0600 and reloads the same identity', () => {
    const file = identityFilePath(dir());
    const warnings: string[] = [];
    const a = loadOrCreateIdentity(file, (m) => warnings.push(m));
    const raw = readFileSync(file);
    expect(raw.length).toBe(32);
    expect(raw.equals(a.privateKey)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(a.publicKey.equals(x25519KeyPairFromPrivate(raw).publicKey)).toBe(true);
    expect(a.pin).toBe(pinOf(a.publicKey));
    expect(a.pin).toMatch(/^[0-9a-f]{64}$/);
    const b = loadOrCreateIdentity(file, (m) => warnings.push(m));
    expect(b.pin).toBe(a.pin);
    expect(warnings).toEqual([]);
  });

  it('pin_sha256 is SHA-256 of the raw public key (RFC 7748 §6.1 Alice)', () => {
    const kp = x25519KeyPairFromPrivate(Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex'));
    expect(kp.publicKey.toString('hex')).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(pinOf(kp.publicKey)).toBe(createHash('sha256').update(kp.publicKey).digest('hex'));
  });

  it('replaces a file of the wrong length with a new key and warns', () => {
    for (const len of [0, 31, 33, 64]) {
      const file = identityFilePath(dir());
      writeFileSync(file, Buffer.alloc(len, 7), { mode: 0o600 });
      const warnings: string[] = [];
      const id = loadOrCreateIdentity(file, (m) => warnings.push(m));
      expect(readFileSync(file).length).toBe(32);
      expect(readFileSync(file).equals(id.privateKey)).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`${len} bytes.*re-pair`));
    }
  });

  it('tightens a key file readable by others back to 0600; rotate gives a new pin', () => {
    const file = identityFilePath(dir());
    const a = loadOrCreateIdentity(file, () => undefined);
    chmodSync(file, 0o644);
    const warnings: string[] = [];
    expect(loadOrCreateIdentity(file, (m) => warnings.push(m)).pin).toBe(a.pin);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings).toHaveLength(1);
    const b = rotateIdentity(file);
    expect(b.pin).not.toBe(a.pin);
    expect(loadOrCreateIdentity(file, () => undefined).pin).toBe(b.pin);
  });
});

describe('atomic writes', () => {
  it('writes through a temp file and rename, leaving no temp files and mode 0600', async () => {
    const d = dir();
    const file = join(d, 'x.json');
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeFileAtomic(file, JSON.stringify({ i }))));
    expect(readdirSync(d)).toEqual(['x.json']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toHaveProperty('i');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

const peer = (id = newIdentity(), dashboard_id = 'dashAAAA') => ({
  dashboard_id,
  pin_sha256: id.pin,
  static_x25519_pub: id.publicKey,
  label: 'Laptop',
  paired_at: 1700000000.5,
  peer_ip: '10.0.0.5',
  connect_back_port: 0,
  friendly_name: 'laptop',
  ha_addon: false,
});

describe('ApprovedSenderStore', () => {
  it('persists approved peers (key as standard base64) and settings, and reloads them', async () => {
    const d = dir();
    const s = ApprovedSenderStore.inDataDir(d, { debounceMs: 10_000, report: () => undefined });
    const p = peer();
    s.put(p);
    await s.flush();
    const raw = JSON.parse(readFileSync(join(d, RECEIVER_PEERS_FILE_NAME), 'utf8'));
    expect(raw.peers[0].static_x25519_pub).toBe(p.static_x25519_pub.toString('base64'));
    expect(raw).toMatchObject({ enabled: false, cleanup_ttl_seconds: 86400 }); // off until turned on (issue 11 defect 11)
    expect(isValidDashboardId(raw.dashboard_id)).toBe(true);
    await s.updateSettings({ enabled: false, cleanup_ttl_seconds: 10 }); // clamped to 3600
    const again = ApprovedSenderStore.inDataDir(d, { report: () => undefined });
    expect(again.get('dashAAAA')).toEqual(p);
    expect(again.settings).toEqual({ enabled: false, cleanup_ttl_seconds: 3600, dashboard_id: raw.dashboard_id });
    expect(again.remove('dashAAAA')).toBe(true);
    await again.flush();
    expect(ApprovedSenderStore.inDataDir(d, { report: () => undefined }).list()).toEqual([]);
  });

  it('debounces ordinary writes', async () => {
    const d = dir();
    const s = ApprovedSenderStore.inDataDir(d, { debounceMs: 60, report: () => undefined });
    await s.flush();
    s.put(peer());
    const file = join(d, RECEIVER_PEERS_FILE_NAME);
    expect(JSON.parse(readFileSync(file, 'utf8')).peers).toEqual([]);
    await new Promise((r) => setTimeout(r, 150));
    expect(JSON.parse(readFileSync(file, 'utf8')).peers).toHaveLength(1);
  });

  it('moves a corrupt file aside, reports it and starts empty; bad rows are skipped', () => {
    const d = dir();
    const file = join(d, RECEIVER_PEERS_FILE_NAME);
    writeFileSync(file, '{"peers": [ this is not json');
    const reports: string[] = [];
    const s = ApprovedSenderStore.inDataDir(d, { report: (m) => reports.push(m) });
    expect(s.list()).toEqual([]);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/corrupt.*moved aside/);
    const aside = readdirSync(d).filter((n) => n.startsWith(`${RECEIVER_PEERS_FILE_NAME}.corrupt-`));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(d, must(aside[0])), 'utf8')).toBe('{"peers": [ this is not json');

    const good = peer();
    writeFileSync(
      file,
      JSON.stringify({ peers: [{ ...good, static_x25519_pub: good.static_x25519_pub.toString('base64') }, { ...good, dashboard_id: 'bad id!' }, { ...good, dashboard_id: 'x2', static_x25519_pub: 'not*base64' }] }),
    );
    const reports2: string[] = [];
    const s2 = ApprovedSenderStore.inDataDir(d, { report: (m) => reports2.push(m) });
    expect(s2.list().map((p) => p.dashboard_id)).toEqual(['dashAAAA']);
    expect(reports2).toHaveLength(2);

    writeFileSync(file, '[1,2,3]');
    expect(ApprovedSenderStore.inDataDir(d, { report: () => undefined }).list()).toEqual([]);
    expect(readdirSync(d).filter((n) => n.includes('.corrupt-')).length).toBe(2);
  });
});

describe('PairingStore', () => {
  const pairing = (id = newIdentity()) => ({
    receiver_hostname: 'buildbox.lan',
    receiver_port: 6055,
    pin_sha256: id.pin,
    static_x25519_pub: id.publicKey,
    label: 'Build box',
    paired_at: 1700000000.25,
    status: 'approved' as const,
    esphome_version: '2026.4.1',
    enabled: true,
  });

  it('persists approved pairings, settings and the dashboard_id; pending rows stay in RAM', async () => {
    const d = dir();
    const bus = new EventBus();
    const changes = captureEvents(bus, ['pairings_changed']);
    const s = PairingStore.inDataDir(d, { bus, report: () => undefined });
    expect(s.dashboardId).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const a = pairing();
    const b = { ...pairing(), status: 'pending' as const };
    await s.put(a);
    await s.put(b);
    await s.updateSettings({ version_match_policy: 'exact', include_local_in_pool: true });
    await s.setEsphomeVersion(a.pin_sha256, '2026.5.0');
    await s.setEnabled(a.pin_sha256, false);
    const raw = JSON.parse(readFileSync(join(d, PAIRINGS_FILE_NAME), 'utf8'));
    expect(raw.pairings).toHaveLength(1);
    expect(raw.pairings[0].static_x25519_pub).toBe(a.static_x25519_pub.toString('base64'));
    expect(raw).toMatchObject({ dashboard_id: s.dashboardId, remote_builds_enabled: true, version_match_policy: 'exact', include_local_in_pool: true });
    const again = PairingStore.inDataDir(d, { report: () => undefined });
    expect(again.dashboardId).toBe(s.dashboardId);
    expect(again.list()).toEqual([{ ...a, esphome_version: '2026.5.0', enabled: false }]);
    expect(again.settings).toEqual({ remote_builds_enabled: true, version_match_policy: 'exact', include_local_in_pool: true });
    expect(await again.remove(a.pin_sha256)).toBe(true);
    expect(PairingStore.inDataDir(d, { report: () => undefined }).list()).toEqual([]);
    expect(changes.map((c) => c.payload.change)).toEqual(['added', 'pending', 'updated', 'esphome_version', 'disabled']);
    await expect(s.updateSettings({ version_match_policy: 'sometimes' as never })).rejects.toThrow(/version_match_policy/);
  });

  it('validates rows: host length, port range, pin format, key length', async () => {
    const s = PairingStore.inDataDir(dir(), { report: () => undefined });
    await expect(s.put({ ...pairing(), receiver_port: 0 })).rejects.toThrow(/receiver_port/);
    await expect(s.put({ ...pairing(), receiver_hostname: '' })).rejects.toThrow(/receiver_hostname/);
    await expect(s.put({ ...pairing(), pin_sha256: 'ABC' })).rejects.toThrow(/pin_sha256/);
    await expect(s.put({ ...pairing(), static_x25519_pub: Buffer.alloc(31) })).rejects.toThrow(/static_x25519_pub/);
    expect(s.list()).toEqual([]);
    await s.flush();
  });

  it('a corrupt pairings file is moved aside and treated as empty', async () => {
    const d = dir();
    writeFileSync(join(d, PAIRINGS_FILE_NAME), '\u0000\u0001garbage');
    const reports: string[] = [];
    const s = PairingStore.inDataDir(d, { report: (m) => reports.push(m) });
    expect(s.list()).toEqual([]);
    expect(reports[0]).toMatch(/corrupt/);
    await s.flush();
    expect(readdirSync(d).some((n) => n.startsWith(`${PAIRINGS_FILE_NAME}.corrupt-`))).toBe(true);
    expect(existsSync(join(d, PAIRINGS_FILE_NAME))).toBe(true); // rewritten fresh with a dashboard_id
  });
});

describe('dashboard_id', () => {
  it('is 32 chars of base64url from 24 random bytes', () => {
    const ids = new Set(Array.from({ length: 50 }, () => newDashboardId()));
    expect(ids.size).toBe(50);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(24);
    }
  });

  it('openPeerLinkState shares one id between roles and keeps the offloader id stable', async () => {
    const d = dir();
    const a = await openPeerLinkState(d, { report: () => undefined });
    expect(a.receiverPeers.settings.dashboard_id).toBe(a.dashboardId);
    const b = await openPeerLinkState(d, { report: () => undefined });
    expect(b.dashboardId).toBe(a.dashboardId);
    expect(b.identity.pin).toBe(a.identity.pin);
    // Only a receiver file: its id is adopted.
    const d2 = dir();
    const r = ApprovedSenderStore.inDataDir(d2, { report: () => undefined });
    await r.flush();
    const c = await openPeerLinkState(d2, { report: () => undefined });
    expect(c.dashboardId).toBe(r.settings.dashboard_id);
  });
});

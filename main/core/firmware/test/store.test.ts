// The firmware library store on real files: private modes, verification, retention by count
// and size with pins, and several processes writing one library at once.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FirmwareLibrary, type NewEntry, type RetentionSettings } from '../store';
import { must } from '../../../../test/support/must';

let root: string;
let clock: number;
let retention: RetentionSettings;
const lib = (): FirmwareLibrary => new FirmwareLibrary({ dataDir: join(root, 'data'), retention: () => retention, now: () => clock });

function newEntry(device: string, size: number, fill: number): NewEntry {
  const src = join(root, `src-${device}-${fill}.bin`);
  writeFileSync(src, Buffer.alloc(size, fill));
  clock += 1000;
  return {
    device, digest: 'a'.repeat(64), config_digest: 'b'.repeat(64), esphome_version: '2026.11.1', platform: 'ESP8266', board: 'esp01_1m',
    built_on: 'local', built_on_label: 'this computer', built_at: new Date(clock).toISOString(), job_id: `j${fill}`,
    images: [{ role: 'ota', source: src, base: 'build', rel: '.pioenvs/dev/firmware.bin' }],
  };
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'kiln-fwlib-'));
  clock = Date.parse('2026-12-01T00:00:00Z');
  retention = { perDevice: 3, maxBytes: 1024 ** 3 };
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('FirmwareLibrary', () => {
  it('stores an entry privately with each image hashed, and finds it verified', async () => {
    const l = lib();
    const e = await l.add(newEntry('dev.yaml', 1000, 1));
    expect(e.images[0]).toMatchObject({ role: 'ota', size: 1000 });
    expect(must(e.images[0]).sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const p of [l.root, join(l.root, 'entries'), e.dir]) expect(statSync(p).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(e.dir)) expect(statSync(join(e.dir, f)).mode & 0o777).toBe(0o600);
    expect((await l.findVerified('dev.yaml', 'a'.repeat(64))).entry?.id).toBe(e.id);
    expect((await l.findVerified('dev.yaml', 'c'.repeat(64))).entry).toBeNull();
    expect(readdirSync(join(l.root, 'tmp'))).toEqual([]);
  });

  it('a corrupt or missing image is refused with a reason; a damaged entry.json is skipped', async () => {
    const l = lib();
    const e = await l.add(newEntry('dev.yaml', 100, 1));
    writeFileSync(join(e.dir, must(e.images[0]).file), Buffer.alloc(100, 9));
    const r = await l.findVerified('dev.yaml', e.digest);
    expect(r.entry).toBeNull();
    expect(r.problem).toMatch(/does not match its SHA-256/);
    rmSync(join(e.dir, must(e.images[0]).file));
    expect((await l.findVerified('dev.yaml', e.digest)).problem).toMatch(/is missing/);
    writeFileSync(join(e.dir, 'entry.json'), '{"format":1,"id":"../../etc"}');
    expect(await l.list()).toEqual([]);
  });

  it('keeps the last N per device, pinned entries extra, oldest removed first', async () => {
    retention.perDevice = 2;
    const l = lib();
    const first = await l.add(newEntry('a.yaml', 10, 1));
    await l.setPinned(first.id, true);
    const ids = [first.id];
    for (let i = 2; i <= 5; i++) ids.push((await l.add(newEntry('a.yaml', 10, i))).id);
    await l.add(newEntry('b.yaml', 10, 9));
    const left = await l.list('a.yaml');
    expect(left.map((e) => e.id)).toEqual([ids[4], ids[3], ids[0]]);
    expect(must(left[2]).pinned).toBe(true);
    expect((await l.list('b.yaml')).length).toBe(1);
  });

  it('enforces the total size cap oldest first, keeping pinned entries', async () => {
    retention = { perDevice: 10, maxBytes: 3500 };
    const l = lib();
    const a = await l.add(newEntry('a.yaml', 1000, 1));
    await l.setPinned(a.id, true);
    const b = await l.add(newEntry('b.yaml', 1000, 2));
    const c = await l.add(newEntry('c.yaml', 1000, 3));
    const d = await l.add(newEntry('d.yaml', 1000, 4));
    const ids = (await l.list()).map((e) => e.id).sort();
    expect(ids).toEqual([a.id, c.id, d.id].sort());
    expect(ids).not.toContain(b.id);
  });

  it('a crashed writer\'s leftovers in tmp/ are swept once older than an hour', async () => {
    const l = lib();
    await l.add(newEntry('a.yaml', 10, 1));
    const { mkdirSync, utimesSync } = await import('node:fs');
    const stale = join(l.root, 'tmp', 'zzzzzz-00000000.new');
    const fresh = join(l.root, 'tmp', 'yyyyyy-00000000.new');
    mkdirSync(stale);
    mkdirSync(fresh);
    const old = new Date(clock - 2 * 3600_000);
    utimesSync(stale, old, old);
    const now = new Date(clock);
    utimesSync(fresh, now, now);
    expect(await l.sweepTmp()).toBe(1);
    expect(readdirSync(join(l.root, 'tmp'))).toEqual(['yyyyyy-00000000.new']);
  });

  it('several processes adding at once: every entry lands whole, ids unique', async () => {
    const run = promisify(execFile);
    const dataDir = join(root, 'data');
    const fixture = resolve(__dirname, 'fixtures/add-entries.ts');
    await Promise.all(['p1.yaml', 'p2.yaml', 'p3.yaml'].map((dev) => run(process.execPath, ['--import', 'tsx', fixture, dataDir, dev, '8', root], { cwd: resolve(__dirname, '../../../..') })));
    const all = await new FirmwareLibrary({ dataDir, retention: () => ({ perDevice: 1000, maxBytes: 1024 ** 3 }) }).list();
    expect(all.length).toBe(24);
    expect(new Set(all.map((e) => e.id)).size).toBe(24);
    for (const dev of ['p1.yaml', 'p2.yaml', 'p3.yaml']) expect(all.filter((e) => e.device === dev).length).toBe(8);
    expect(readdirSync(join(dataDir, 'firmware', 'tmp'))).toEqual([]);
  }, 60_000);
});

// Firmware library retention as user settings (issue 15): through the real app's API, a lowered
// "keep the last N builds" prunes at once, oldest first, pinned builds kept; the values are saved
// in settings.json and read back by a new SettingsStore; out-of-range values are refused in plain
// words and change nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FirmwareRetention } from '../../../../preload/contract';
import { createApp, type KilnApp } from '../../app';
import type { ApiConnection } from '../../api/api-service';
import { SettingsStore } from '../../api/settings-store';
import { cleanupDirs, tempConfigDir } from '../../api/test/helpers';
import type { NewEntry } from '../store';
import { must } from '../../../../test/support/must';

let app: KilnApp;
let conn: ApiConnection;
let configDir: string;
let clock = Date.parse('2026-12-01T00:00:00Z');
const call = <T>(method: string, params: unknown): Promise<T> => conn.call(method, params) as Promise<T>;

function newEntry(device: string, fill: number): NewEntry {
  const src = join(configDir, `src-${fill}.bin`);
  writeFileSync(src, Buffer.alloc(1000 + fill, fill));
  clock += 60_000;
  return {
    device, digest: 'a'.repeat(64), config_digest: 'b'.repeat(64), esphome_version: '2026.11.1', platform: 'ESP8266', board: 'esp01_1m',
    built_on: 'local', built_on_label: 'this computer', built_at: new Date(clock).toISOString(), job_id: `j${fill}`,
    images: [{ role: 'ota', source: src, base: 'build', rel: '.pioenvs/dev/firmware.bin' }],
  };
}

beforeAll(async () => {
  configDir = tempConfigDir();
  app = await createApp({ configDir, esphome: ['/bin/true'], peerLink: false, report: () => undefined });
  conn = app.service.connect(() => undefined);
});
afterAll(async () => {
  conn.close();
  await app.stop();
  cleanupDirs();
});

describe('firmware library retention settings', () => {
  it('defaults: 3 builds per device, 1 GiB, with the size used now', async () => {
    const lib = app.firmware.library;
    const a = await lib.add(newEntry('dev.yaml', 1));
    const r = await call<FirmwareRetention>('getFirmwareRetention', {});
    expect(r).toEqual({ keepPerDevice: 3, maxBytes: 1024 ** 3, usedBytes: a.size });
  });

  it('a lowered N prunes at once, oldest first, and keeps pinned builds', async () => {
    const lib = app.firmware.library;
    const b = await lib.add(newEntry('dev.yaml', 2));
    const c = await lib.add(newEntry('dev.yaml', 3));
    const other = await lib.add(newEntry('other.yaml', 4));
    const oldest = must((await lib.list('dev.yaml')).at(-1));
    await lib.setPinned(oldest.id, true);
    expect((await lib.list('dev.yaml')).length).toBe(3);

    const r = await call<FirmwareRetention>('setFirmwareRetention', { keepPerDevice: 1 });
    expect(r.keepPerDevice).toBe(1);
    // Newest kept, the pinned oldest kept, the one between removed; other devices keep their own.
    expect((await lib.list('dev.yaml')).map((e) => e.id).sort()).toEqual([c.id, oldest.id].sort());
    expect((await lib.list()).some((e) => e.id === b.id)).toBe(false);
    expect((await lib.list('other.yaml')).map((e) => e.id)).toEqual([other.id]);
    expect(r.usedBytes).toBe((await lib.list()).reduce((n, e) => n + e.size, 0));

    // Saved, and read back by a fresh store (what the next start uses).
    const stored = JSON.parse(readFileSync(app.settings.file, 'utf8'));
    expect(stored.firmware_keep_per_device).toBe(1);
    expect((await SettingsStore.forDataDir(join(app.settings.file, '..')).load()).firmware_keep_per_device).toBe(1);

    // The next build is pruned with the new N too.
    const d = await lib.add(newEntry('dev.yaml', 5));
    expect((await lib.list('dev.yaml')).map((e) => e.id).sort()).toEqual([d.id, oldest.id].sort());
  });

  it('out-of-range values are refused in plain words and nothing is saved', async () => {
    const before = readFileSync(app.settings.file, 'utf8');
    await expect(call('setFirmwareRetention', { keepPerDevice: 0 })).rejects.toThrow('Keep the last N builds per device: enter a whole number from 1 to 50. Nothing was saved.');
    await expect(call('setFirmwareRetention', { keepPerDevice: 51 })).rejects.toThrow(/from 1 to 50/);
    await expect(call('setFirmwareRetention', { keepPerDevice: 2.5 })).rejects.toThrow(/whole number/);
    await expect(call('setFirmwareRetention', { maxBytes: 1024 })).rejects.toThrow('Total size limit: enter a size from 64 MiB to 100 GiB. Nothing was saved.');
    await expect(call('setFirmwareRetention', { maxBytes: 101 * 1024 ** 3 })).rejects.toThrow(/64 MiB to 100 GiB/);
    // Both in one call: one bad value refuses the whole change.
    await expect(call('setFirmwareRetention', { keepPerDevice: 5, maxBytes: 1 })).rejects.toThrow(/Total size limit/);
    expect(readFileSync(app.settings.file, 'utf8')).toBe(before);
    const ok = await call<FirmwareRetention>('setFirmwareRetention', { maxBytes: 64 * 1024 ** 2 });
    expect(ok).toMatchObject({ keepPerDevice: 1, maxBytes: 64 * 1024 ** 2 });
  });

  it('a hand-edited settings file with an out-of-range value falls back to the default', async () => {
    const file = join(configDir, 'hand-edited.json');
    writeFileSync(file, JSON.stringify({ firmware_keep_per_device: 0, firmware_max_bytes: 5 }));
    const s = await new SettingsStore(file).load();
    expect(s).toMatchObject({ firmware_keep_per_device: 3, firmware_max_bytes: 1024 ** 3 });
  });
});

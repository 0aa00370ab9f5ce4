// "Download" of a kept build in the desktop app (issue 15): the window's saveFirmwareAs call opens
// the native save dialog (the Electron 45 double) with the documented file name, and the core's
// exportFirmware writes the exact stored bytes there; a cancelled dialog writes nothing. Without a
// save dialog (a browser, `kiln serve`) the same call answers "use the download link".
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SaveFirmwareResult } from '../../../preload/contract';
import { RecordingDesktop } from '../../core/desktop';
import type { LibraryEntry } from '../../core/firmware/store';
import { startDesktopBackend, type DesktopBackend } from '../backend';
import { ElectronDesktop } from '../electron-desktop';
import type { ElectronNotifier } from '../notifications';
import type { TrayController } from '../tray';
import { BrowserWindow, fake, resetFakeElectron } from './fake-electron';
import { must } from '../../../test/support/must';

let root: string;
let backend: DesktopBackend | null = null;
const IMAGE = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));

afterEach(async () => {
  await backend?.stop();
  backend = null;
});
beforeEach(() => {
  resetFakeElectron();
  root = mkdtempSync(join(tmpdir(), 'kiln-save-fw-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function withEntry(b: DesktopBackend): Promise<LibraryEntry> {
  const src = join(root, 'firmware.ota.bin');
  writeFileSync(src, IMAGE);
  return b.app.firmware.library.add({
    device: 'kitchen.yaml', digest: 'c0ffee12'.repeat(8), config_digest: 'b'.repeat(64), esphome_version: '2026.11.1', platform: 'ESP32', board: 'esp32dev',
    built_on: 'local', built_on_label: 'this computer', built_at: new Date().toISOString(), job_id: 'j1',
    images: [{ role: 'ota', source: src, base: 'build', rel: '.pioenvs/kitchen/firmware.ota.bin' }],
  });
}

/** The real desktop backend with the Electron desktop integration (tray and notifier are not used here). */
async function desktopBackend(downloads: string): Promise<{ b: DesktopBackend; win: BrowserWindow }> {
  const win = new BrowserWindow();
  const desktop = new ElectronDesktop({ update: () => undefined, destroy: () => undefined } as unknown as TrayController, { show: () => undefined, dispose: () => undefined } as unknown as ElectronNotifier, {
    window: () => win as unknown as Electron.BrowserWindow,
    downloadsDir: () => downloads,
  });
  const configDir = join(root, 'config');
  mkdirSync(configDir, { recursive: true });
  const b = await startDesktopBackend({ configDir, esphome: ['/bin/true'], desktop, isJobVisible: () => false, peerLink: false, mdns: false });
  return { b, win };
}

describe('desktop: save a kept build with the native save dialog', () => {
  it('the chosen path gets the exact stored bytes (same SHA-256), atomically, 0644; the dialog suggests <device>-<esphome>-<digest8>.<kind>.bin', async () => {
    const downloads = join(root, 'Downloads');
    mkdirSync(downloads);
    const { b } = await desktopBackend(downloads);
    backend = b;
    const entry = await withEntry(b);
    const dest = join(downloads, 'my-kitchen.bin');
    fake.saveDialogResults.push(dest);
    const conn = b.service.connect(() => undefined);
    const r = (await conn.call('saveFirmwareAs', { buildId: entry.id, kind: 'ota' })) as SaveFirmwareResult;
    const sha = createHash('sha256').update(IMAGE).digest('hex');
    expect(r).toEqual({ outcome: 'saved', path: dest, bytes: IMAGE.length, sha256: sha });
    expect(fake.saveDialogs).toEqual([{ defaultPath: join(downloads, 'kitchen-2026.11.1-c0ffee12.ota.bin'), title: 'Save firmware', withParent: true }]);
    const written = readFileSync(dest);
    expect(createHash('sha256').update(written).digest('hex')).toBe(sha);
    expect(written.equals(IMAGE)).toBe(true);
    expect(statSync(dest).mode & 0o777).toBe(0o644);
    expect(readdirSync(downloads)).toEqual(['my-kitchen.bin']); // no temp file left beside it
    conn.close();
  });

  it('cancel writes nothing; an image the build does not have is refused', async () => {
    const downloads = join(root, 'Downloads2');
    mkdirSync(downloads);
    const { b } = await desktopBackend(downloads);
    backend = b;
    const entry = await withEntry(b);
    const conn = b.service.connect(() => undefined);
    // No answer queued: the double's dialog is cancelled ({ canceled: true, filePath: '' }).
    expect(await conn.call('saveFirmwareAs', { buildId: entry.id, kind: 'ota' })).toEqual({ outcome: 'cancelled' });
    expect(fake.saveDialogs).toHaveLength(1);
    expect(readdirSync(downloads)).toEqual([]);
    await expect(conn.call('saveFirmwareAs', { buildId: entry.id, kind: 'factory' })).rejects.toThrow(/has no factory image/);
    expect(fake.saveDialogs).toHaveLength(1); // refused before any dialog
    conn.close();
  });

  it('a damaged library file is refused and nothing is written at the chosen path', async () => {
    const downloads = join(root, 'Downloads3');
    mkdirSync(downloads);
    const { b } = await desktopBackend(downloads);
    backend = b;
    const entry = await withEntry(b);
    writeFileSync(join(entry.dir, must(entry.images[0]).file), Buffer.alloc(IMAGE.length, 7));
    fake.saveDialogResults.push(join(downloads, 'x.bin'));
    const conn = b.service.connect(() => undefined);
    await expect(conn.call('saveFirmwareAs', { buildId: entry.id, kind: 'ota' })).rejects.toThrow(/damaged \(SHA-256 mismatch\); nothing was saved/);
    expect(readdirSync(downloads)).toEqual([]);
    conn.close();
  });

  it('without a save dialog (a browser client of `kiln serve`) the answer is "use the download link"', async () => {
    const configDir = join(root, 'web-config');
    mkdirSync(configDir, { recursive: true });
    backend = await startDesktopBackend({ configDir, esphome: ['/bin/true'], desktop: new RecordingDesktop(), isJobVisible: () => false, peerLink: false, mdns: false });
    const entry = await withEntry(backend);
    const conn = backend.service.connect(() => undefined);
    expect(await conn.call('saveFirmwareAs', { buildId: entry.id, kind: 'ota' })).toEqual({ outcome: 'use-download-link' });
    expect(fake.saveDialogs).toEqual([]);
    conn.close();
  });
});

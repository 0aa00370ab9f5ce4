// The whole shell booted like main/index.ts does, on the fake electron module with the real
// backend (JobEngine + ApiService in a temp config dir, /bin/true as the esphome command):
// pre-ready registration, security hooks, window, tray, RPC over the port, a notification for a
// finished job, argv YAML import, second launch, close-to-tray, graceful quit.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '../../../preload/contract';
import type { RecordingDesktop } from '../../core/desktop';
import { waitUntil } from '../../../test/support/wait-until';
import { IPC } from '../constants';
import { startDesktopApp } from '../main';
import { BrowserWindow, IpcMainEventLike, app, fake, ipcMain, resetFakeElectron, session, type MessagePortMain, type NativeImage } from './fake-electron';
import { must } from '../../../test/support/must';

let dir: string;
let configDir: string;
let downloads: string;
let started: Promise<void>;
/** Events pushed to the window's RPC port (from the API test onwards). */
const events: Array<{ event: string; data: unknown }> = [];

beforeAll(() => {
  resetFakeElectron();
  dir = mkdtempSync(join(tmpdir(), 'kiln-shell-'));
  configDir = join(dir, 'esphome');
  downloads = join(dir, 'downloads');
  mkdirSync(configDir);
  mkdirSync(downloads);
  writeFileSync(join(configDir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n');
  writeFileSync(join(downloads, 'porch.yaml'), 'esphome:\n  name: porch\n');
  writeFileSync(join(downloads, 'garage.yaml'), 'esphome:\n  name: garage\n');
  // The built layout: out/main/tray holds the tray icons (nativeImage is empty for a wrong path).
  cpSync(join(process.cwd(), 'assets', 'tray'), join(dir, 'app', 'out', 'main', 'tray'), { recursive: true });
  started = startDesktopApp({
    mainDir: join(dir, 'app', 'out', 'main'),
    env: { KILN_CONFIG_DIR: configDir, KILN_ESPHOME: '/bin/true', KILN_PEER_LINK_PORT: '0', KILN_MDNS: '0', APP_E2E: '1', PATH: process.env.PATH, SHELL: '/bin/sh' },
    argv: ['/opt/Kiln/kiln', join(downloads, 'porch.yaml')],
    platform: 'linux',
    home: dir,
    trayHostAvailable: async () => true,
  });
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

describe('desktop shell boot', () => {
  it('registers the app:// scheme, the AppUserModelId and the single-instance lock before ready', () => {
    // (the double throws for registerSchemesAsPrivileged after ready, as Electron does)
    expect(fake.privilegedSchemes.map((s) => s.scheme)).toEqual(['app']);
    expect(fake.appUserModelId).toBe('io.kiln.app');
    expect(app.listenerCount('second-instance')).toBe(1);
    expect(app.listenerCount('web-contents-created')).toBe(1);
  });

  it('after ready: permissions denied, protocol served, one secure window on app://, a tray with a menu', async () => {
    await started;
    expect(session.defaultSession.permissionRequestHandler).not.toBeNull();
    expect(session.defaultSession.permissionCheckHandler!(null, 'notifications', 'app://kiln', {})).toBe(false);
    expect(fake.protocolHandlers.has('app')).toBe(true);
    expect(fake.windows).toHaveLength(1);
    const win = must(fake.windows[0]);
    expect(win.loadedUrl).toBe('app://kiln/index.html');
    expect((win.options as { webPreferences: Record<string, unknown> }).webPreferences).toMatchObject({
      preload: join(dir, 'app', 'out', 'preload', 'index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webviewTag: false,
    });
    expect(win.webContents.windowOpenHandler).not.toBeNull(); // guarded via web-contents-created
    expect(win.webContents.fireNavigation('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(fake.trays).toHaveLength(1);
    expect(must(fake.trays[0]).menu!.items.map((i) => i.label)).toContain('Open Kiln');
    expect((must(fake.trays[0]).image as NativeImage).isEmpty()).toBe(false);
  });

  it('imports a YAML path given on its own command line', async () => {
    await waitUntil(() => existsSync(join(configDir, 'porch.yaml')), { what: 'porch.yaml imported from argv' });
  });

  it('serves the typed API over a MessagePort and notifies when a job finishes', async () => {
    const win = must(fake.windows[0]);
    ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, win.webContents.mainFrame));
    const port = must(win.webContents.mainFrame.posted[0]).transfer[0] as MessagePortMain;
    const replies = new Map<number, { ok: boolean; result?: { job_id?: string } }>();
    port.on('message', (e: { data: { t: string; id: number; event?: string; data?: unknown } }) => {
      if (e.data.t === 'res') replies.set(e.data.id, e.data as never);
      if (e.data.t === 'evt') events.push({ event: e.data.event!, data: e.data.data });
    });
    port.start();
    port.postMessage({ t: 'req', id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } });
    await waitUntil(() => replies.get(1), { what: 'the hello reply' });
    // the same composition root as `kiln serve` (createApp), with the desktop capability on
    expect(replies.get(1)).toMatchObject({ ok: true, result: { capabilities: { desktop: true, pairing: true } } });
    port.postMessage({ t: 'req', id: 2, method: 'compile', params: { configuration: 'kitchen.yaml' } });
    const res = await waitUntil(() => replies.get(2), { what: 'the compile reply' });
    expect(res.ok).toBe(true);
    const n = await waitUntil(() => fake.notifications.find((x) => x.options.title === 'kitchen: build finished'), { what: 'the build-finished notification' });
    expect(n.options.body).toBe('Built on this computer');
    expect(n.shown).toBe(true);
    const recorder = (globalThis as unknown as { __e2e: { desktop: RecordingDesktop } }).__e2e.desktop;
    expect(recorder.notices.map((x) => x.jobId)).toContain(res.result!.job_id);
    // clicking it brings the window to the front and tells the window to select that job
    n.emit('click');
    expect(win.isFocused()).toBe(true);
    const select = await waitUntil(() => events.find((e) => e.event === 'selectJob'), { what: 'the selectJob event' });
    expect(select.data).toEqual({ jobId: res.result!.job_id });
  });

  it('the tray\'s Pause queue / Resume queue items pause the engine; every window hears it', async () => {
    const tray = must(fake.trays[0]);
    const item = (label: string) => tray.menu!.items.find((i) => i.label === label);
    const before = events.length;
    expect(item('Pause queue')?.click).toBeTypeOf('function');
    item('Pause queue')!.click!();
    const e2e = (globalThis as unknown as { __e2e: { desktop: RecordingDesktop; call(m: string, p: unknown): Promise<unknown> } }).__e2e;
    expect(await e2e.call('getQueuePause', {})).toEqual({ paused: true });
    await waitUntil(() => item('Resume queue'), { what: 'the Resume queue tray item' });
    expect(e2e.desktop.tray.paused).toBe(true);
    expect(tray.tooltip).toContain('queue paused');
    expect(events.slice(before)).toContainEqual({ event: 'queuePaused', data: { paused: true } });
    item('Resume queue')!.click!();
    expect(await e2e.call('getQueuePause', {})).toEqual({ paused: false });
    await waitUntil(() => item('Pause queue'), { what: 'the Pause queue tray item' });
    expect(events.slice(before)).toContainEqual({ event: 'queuePaused', data: { paused: false } });
  });

  it('a second launch focuses the window and imports the YAML path it was given', async () => {
    const win = must(fake.windows[0]);
    win.minimize();
    app.emit('second-instance', {}, ['/opt/Kiln/kiln', 'garage.yaml'], downloads, {});
    expect(win.isMinimized()).toBe(false);
    expect(win.isFocused()).toBe(true);
    await waitUntil(() => existsSync(join(configDir, 'garage.yaml')), { what: 'garage.yaml imported from the second launch' });
  });

  it('the tray shows the build-server role and its senders; "Stop build server" turns it off', async () => {
    const tray = must(fake.trays[0]);
    const labels = () => tray.menu!.items.map((i) => i.label ?? '');
    const e2e = (globalThis as unknown as { __e2e: { call(m: string, p: unknown): Promise<unknown> } }).__e2e;
    const role = (await e2e.call('getBuildServerRole', {})) as { enabled: boolean; listening: boolean; port: number | null };
    if (!role.enabled) await e2e.call('setBuildServerRole', { enabled: true });
    const line = await waitUntil(() => labels().find((l) => l.startsWith('Build server: listening on port ')), { what: 'the listening tray line' });
    const port = ((await e2e.call('getBuildServerRole', {})) as { port: number }).port;
    expect(line).toBe(`Build server: listening on port ${port}`);
    expect(labels()).toContain('No paired senders');
    expect(tray.menu!.items.find((i) => i.label === 'Open pairing window')?.click).toBeTypeOf('function');
    tray.menu!.items.find((i) => i.label === 'Stop build server')!.click!();
    await waitUntil(() => labels().includes('Build server: off'), { what: 'the tray line "Build server: off"' });
    expect(labels()).not.toContain('Stop build server');
    expect(await e2e.call('getBuildServerRole', {})).toMatchObject({ enabled: false, listening: false });
  });

  it('closing the window with nothing active closes it and quits: will-quit stops the backend, then exit', async () => {
    const win = fake.windows[0] as BrowserWindow;
    expect(win.userClose()).toBe(false);
    expect(win.isDestroyed()).toBe(true);
    // window-all-closed → app.quit() → before-quit → will-quit (held by the shell) → app.exit(0)
    await waitUntil(() => fake.exitCode !== null, { what: 'app.exit' });
    expect(fake.exitCode).toBe(0);
    expect(fake.lifecycle.slice(fake.lifecycle.indexOf('window-all-closed'))).toEqual(['window-all-closed', 'before-quit', 'will-quit', 'exit 0']);
    expect(must(fake.trays[0]).destroyed).toBe(true);
    expect(ipcMain.listenerCount(IPC.connect)).toBe(0);
  });
});

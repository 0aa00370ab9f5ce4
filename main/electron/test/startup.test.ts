// Issue 17 defect 1 (startup race) and defect 5 (GUI PATH), on the faithful double: the app
// becomes ready by itself, the OS hands over a YAML file with `open-file` BEFORE ready, and the
// backend takes > 2 s to start because the esphome version probe (`esphome --dashboard --version`) sleeps 2 s. esphome is NOT on the
// launch PATH: only the user's login shell (a real script used as $SHELL) knows its directory.
// While the backend starts, a second launch, the tray's "Open Kiln", closing and re-opening the
// window and the renderer's connect + hello all happen — none may throw or be lost.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '../../../preload/contract';
import { waitUntil } from '../../../test/support/wait-until';
import { IPC } from '../constants';
import { startDesktopApp } from '../main';
import { IpcMainEventLike, app, fake, ipcMain, resetFakeElectron, type MessagePortMain } from './fake-electron';

let dir: string;
let configDir: string;
let started: Promise<void>;
let startedAt = 0;
/** Replies on the window's port, from its very first message on. */
const replies: Array<{ id: number; ok: boolean; at: number }> = [];
const savedPath = process.env.PATH;
const e2e = () => (globalThis as { __e2e?: { call(m: string, p: unknown): Promise<unknown>; path(): string } }).__e2e;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-startup-'));
  configDir = join(dir, 'esphome');
  const bin = join(dir, 'brew', 'bin');
  mkdirSync(configDir);
  mkdirSync(bin, { recursive: true });
  cpSync(join(process.cwd(), 'assets', 'tray'), join(dir, 'app', 'out', 'main', 'tray'), { recursive: true });
  writeFileSync(join(configDir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n');
  writeFileSync(join(dir, 'porch.yaml'), 'esphome:\n  name: porch\n');
  // esphome, installed where only the login shell looks: a slow version probe (2 s), builds ok.
  writeFileSync(join(bin, 'esphome'), '#!/bin/sh\ncase " $* " in *" version "*|*" --version "*) sleep 2; echo "Version: 2026.1.0"; exit 0;; esac\necho "building $*"\nexit 0\n');
  chmodSync(join(bin, 'esphome'), 0o755);
  // The user's login shell: sources a "profile" that prepends the Homebrew-like directory.
  const shell = join(dir, 'login-shell');
  writeFileSync(shell, `#!/bin/sh\n# called as: login-shell -ilc '<command>'\nPATH="${bin}:$PATH"; export PATH\nexec /bin/sh -c "$2"\n`);
  chmodSync(shell, 0o755);
  resetFakeElectron({ openFiles: [join(dir, 'porch.yaml')] });
  startedAt = Date.now();
  started = startDesktopApp({
    mainDir: join(dir, 'app', 'out', 'main'),
    // The shell sets env.PATH, which the backend's spawns inherit: the real process.env here.
    env: Object.assign(process.env, {
      PATH: '/usr/bin:/bin', // what a GUI launch gets
      SHELL: shell,
      KILN_CONFIG_DIR: configDir,
      KILN_PEER_LINK_PORT: '0',
      KILN_MDNS: '0',
      APP_E2E: '1',
    }),
    argv: ['/opt/Kiln/kiln'],
    platform: 'linux',
    home: dir,
    trayHostAvailable: async () => true,
  });
});
afterAll(async () => {
  process.env.PATH = savedPath;
  for (const k of ['SHELL', 'KILN_CONFIG_DIR', 'KILN_PEER_LINK_PORT', 'KILN_MDNS', 'APP_E2E']) delete process.env[k];
  rmSync(dir, { recursive: true, force: true });
});

describe('startup while the backend is still starting (2 s esphome probe)', () => {
  it('open-file before ready, second launch, tray Open Kiln, window close and a renderer connect are all handled', async () => {
    await app.whenReady();
    // Right after ready, the backend is still starting. A second launch (focus, twice: the old
    // shell created the window on the first and threw "Cannot access 'policy' before
    // initialization" focusing it on the second).
    expect(() => app.emit('second-instance', {}, ['/opt/Kiln/kiln'], dir, {})).not.toThrow();
    expect(() => app.emit('second-instance', {}, ['/opt/Kiln/kiln'], dir, {})).not.toThrow();
    expect(fake.windows).toHaveLength(1);
    const win = fake.windows[0]!;
    expect(win.isFocused()).toBe(true);
    expect(fake.lifecycle.indexOf(`open-file ${join(dir, 'porch.yaml')}`)).toBeLessThan(fake.lifecycle.indexOf('ready'));
    expect(e2e()).toBeUndefined(); // backend not attached yet
    // The renderer connects and says hello right away.
    ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, win.webContents.mainFrame));
    const port = win.webContents.mainFrame.posted[0]!.transfer[0] as MessagePortMain;
    port.on('message', (e: { data: { t: string; id: number; ok: boolean } }) => {
      if (e.data.t === 'res') replies.push({ ...e.data, at: Date.now() });
    });
    port.start();
    port.postMessage({ t: 'req', id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } });
    win.minimize();
    expect(() => app.emit('second-instance', {}, ['/opt/Kiln/kiln'], dir, {})).not.toThrow();
    expect(win.isMinimized()).toBe(false);
    expect(win.isFocused()).toBe(true);
    // The tray's "Open Kiln" works too.
    const tray = fake.trays[0]!;
    expect(() => tray.menu!.items.find((i) => i.label === 'Open Kiln')!.click!()).not.toThrow();
    expect(fake.windows).toHaveLength(1); // focused, not a second window
    expect(e2e()).toBeUndefined(); // all of this happened before the backend was attached
  });

  it('the early hello is answered once the backend is attached (not dropped), > 2 s after start', async () => {
    await started;
    const hello = await waitUntil(() => replies.find((r) => r.id === 1));
    expect(hello.ok).toBe(true);
    expect(hello.at - startedAt).toBeGreaterThanOrEqual(2000);
  });

  it('the file handed over before ready is imported once the backend is up', async () => {
    await waitUntil(() => existsSync(join(configDir, 'porch.yaml')));
  });

  it('esphome is found through the login shell\'s PATH (defect 5): the probe and a build use it', async () => {
    const { esphome: status } = (await e2e()!.call('getEnvironment', {})) as { esphome: { found: boolean; version: string } };
    expect(status).toMatchObject({ found: true, version: '2026.1.0' });
    expect(e2e()!.path().split(':')[0]).toBe(join(dir, 'brew', 'bin'));
    expect(e2e()!.path().split(':')).toContain('/usr/bin');
    const { job_id } = (await e2e()!.call('compile', { configuration: 'kitchen.yaml' })) as { job_id: string };
    await waitUntil(async () => ((await e2e()!.call('getJob', { jobId: job_id })) as { status: string }).status === 'completed');
  });
});

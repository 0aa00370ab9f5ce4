// Launch at login: the Linux autostart writer for real in a temp XDG_CONFIG_HOME, macOS/Windows
// through Electron's login items (the double records them), and the whole shell: the Settings
// switch (updateSettings launchAtLogin) writes/removes the entry; a login start with the
// build-server role on stays hidden in the tray, without it the window opens.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../../test/support/wait-until';
import { LOGIN_ARG, autostartEntry, autostartFile, launchedAtLogin, quoteExecArg, setLaunchAtLogin } from '../launch-at-login';
import { startDesktopApp } from '../main';
import { app, fake, resetFakeElectron } from './fake-electron';

const dir = mkdtempSync(join(tmpdir(), 'kiln-login-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('autostart entry (Linux)', () => {
  it('is written to $XDG_CONFIG_HOME/autostart and removed again', async () => {
    const xdg = join(dir, 'xdg');
    const env = { XDG_CONFIG_HOME: xdg };
    await setLaunchAtLogin(true, { platform: 'linux', env, home: join(dir, 'home'), execPath: '/opt/Kiln/kiln' });
    const file = join(xdg, 'autostart', 'io.kiln.app.desktop');
    expect(autostartFile(env)).toBe(file);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('[Desktop Entry]\nType=Application\nName=Kiln\n');
    expect(text).toContain(`Exec=/opt/Kiln/kiln ${LOGIN_ARG}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    await setLaunchAtLogin(false, { platform: 'linux', env, home: join(dir, 'home') });
    expect(existsSync(file)).toBe(false);
    await setLaunchAtLogin(false, { platform: 'linux', env, home: join(dir, 'home') }); // idempotent
  });

  it('without XDG_CONFIG_HOME (or a relative one) uses ~/.config; an AppImage starts the AppImage file', async () => {
    const home = join(dir, 'home2');
    await setLaunchAtLogin(true, { platform: 'linux', env: { XDG_CONFIG_HOME: 'relative', APPIMAGE: '/home/me/Apps/Kiln 1.0.AppImage' }, home, execPath: '/tmp/.mount_Kiln/kiln' });
    const text = readFileSync(join(home, '.config', 'autostart', 'io.kiln.app.desktop'), 'utf8');
    expect(text).toContain(`Exec="/home/me/Apps/Kiln 1.0.AppImage" ${LOGIN_ARG}\n`);
  });

  it('quotes Exec arguments per the Desktop Entry spec and refuses line breaks', () => {
    expect(quoteExecArg('/opt/Kiln/kiln')).toBe('/opt/Kiln/kiln');
    expect(quoteExecArg('/a b/$HOME"`\\x')).toBe('"/a b/\\$HOME\\"\\`\\\\x"');
    expect(() => autostartEntry('/opt/kiln\nExec=rm -rf ~')).toThrow(/line break/);
  });
});

describe('login items (macOS / Windows) and detection', () => {
  it('uses app.setLoginItemSettings, with the login flag as argument on Windows', async () => {
    resetFakeElectron();
    await setLaunchAtLogin(true, { platform: 'win32', loginItems: app });
    expect(fake.loginItem).toEqual({ openAtLogin: true, openAsHidden: false, args: [LOGIN_ARG] });
    await setLaunchAtLogin(false, { platform: 'darwin', loginItems: app });
    expect(fake.loginItem.openAtLogin).toBe(false);
    expect(launchedAtLogin(['/opt/Kiln/kiln', LOGIN_ARG], 'linux')).toBe(true);
    expect(launchedAtLogin(['/opt/Kiln/kiln'], 'linux')).toBe(false);
  });
});

describe('the Settings switch, through the whole shell', () => {
  let configDir: string;
  const xdg = join(dir, 'shell-xdg');
  const e2e = () => (globalThis as { __e2e?: { call(m: string, p: unknown): Promise<unknown> } }).__e2e;
  beforeAll(async () => {
    configDir = join(dir, 'esphome');
    mkdirSync(join(configDir, '.kiln'), { recursive: true });
    // The build-server role is on (its stored setting), whatever the default of this build.
    writeFileSync(join(configDir, '.kiln', 'receiver-peers.json'), JSON.stringify({ enabled: true, peers: [] }), { mode: 0o600 });
    cpSync(join(process.cwd(), 'assets', 'tray'), join(dir, 'app', 'out', 'main', 'tray'), { recursive: true });
    resetFakeElectron();
    void startDesktopApp({
      mainDir: join(dir, 'app', 'out', 'main'),
      env: { KILN_CONFIG_DIR: configDir, KILN_ESPHOME: '/bin/true', KILN_PEER_LINK_PORT: '0', KILN_MDNS: '0', APP_E2E: '1', PATH: process.env.PATH, SHELL: '/bin/sh', XDG_CONFIG_HOME: xdg },
      // a login start, the role on, a tray host present → hidden in the tray
      argv: ['/opt/Kiln/kiln', LOGIN_ARG],
      platform: 'linux',
      home: dir,
      trayHostAvailable: async () => true,
    });
    await waitUntil(() => e2e());
  });

  it('a login start with the build-server role on stays in the tray (no window) until Open Kiln', async () => {
    expect(await e2e()!.call('getBuildServerRole', {})).toMatchObject({ enabled: true, listening: true });
    expect(fake.windows).toHaveLength(0);
    expect(fake.trays[0]!.menu!.items.map((i) => i.label)).toContain('Stop build server');
    fake.trays[0]!.menu!.items.find((i) => i.label === 'Open Kiln')!.click!();
    expect(fake.windows).toHaveLength(1);
  });

  it('launchAtLogin on writes the autostart entry, off removes it', async () => {
    const file = join(xdg, 'autostart', 'io.kiln.app.desktop');
    const r = (await e2e()!.call('updateSettings', { launchAtLogin: true })) as { settings: { launchAtLogin: boolean } };
    expect(r.settings.launchAtLogin).toBe(true);
    await waitUntil(() => existsSync(file));
    // development run: the electron binary plus the app directory
    expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^Exec=\\S+ \\S+ ${LOGIN_ARG}$`, 'm'));
    await e2e()!.call('updateSettings', { launchAtLogin: false });
    await waitUntil(() => !existsSync(file));
  });
});

// "Launch at login" (Settings): macOS and Windows register a login item through Electron
// (`app.setLoginItemSettings`, injected here); Linux has no such API, so Kiln writes an XDG
// autostart entry, $XDG_CONFIG_HOME/autostart/io.kiln.app.desktop (freedesktop "Desktop
// Application Autostart Specification"). A login launch passes LOGIN_ARG, so the app can start
// hidden in the tray when the build-server role is on.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { APP_ID, APP_NAME } from './constants';

/** Command-line flag of a launch at login. */
export const LOGIN_ARG = '--kiln-login';

export interface LoginItemApi {
  setLoginItemSettings(s: { openAtLogin: boolean; openAsHidden?: boolean; args?: string[] }): void;
  getLoginItemSettings(): { openAtLogin: boolean; wasOpenedAtLogin?: boolean };
}

export interface LaunchAtLoginOptions {
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** What the autostart entry runs: the AppImage file when run from one, else the executable. */
  execPath?: string;
  /** Arguments before LOGIN_ARG (a development run passes the app directory). */
  execArgs?: readonly string[];
  /** Electron's app (macOS / Windows). */
  loginItems?: LoginItemApi;
}

/** $XDG_CONFIG_HOME/autostart (an XDG_CONFIG_HOME that is not absolute is ignored, per the spec). */
export function autostartDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.config'), 'autostart');
}

export function autostartFile(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  return join(autostartDir(env, home), `${APP_ID}.desktop`);
}

/** Desktop Entry Exec quoting: double quotes, with ", `, $ and \ escaped by a backslash. */
export function quoteExecArg(arg: string): string {
  if (/^[A-Za-z0-9_./:=+-]+$/.test(arg)) return arg;
  return `"${arg.replace(/(["`$\\])/g, '\\$1')}"`;
}

export function autostartEntry(execPath: string, execArgs: readonly string[] = []): string {
  const command = [execPath, ...execArgs];
  if (command.some((a) => /[\n\r]/.test(a))) throw new Error('the command line contains a line break');
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${APP_NAME}`,
    'Comment=Queue, run and offload ESPHome firmware builds',
    `Exec=${command.map(quoteExecArg).join(' ')} ${LOGIN_ARG}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** The file that a login should start: the AppImage itself (its mount point changes every run). */
export function loginExecPath(env: NodeJS.ProcessEnv = process.env, execPath: string = process.execPath): string {
  return env.APPIMAGE && isAbsolute(env.APPIMAGE) ? env.APPIMAGE : execPath;
}

/** Turns launch at login on or off for this user. */
export async function setLaunchAtLogin(enabled: boolean, o: LaunchAtLoginOptions = {}): Promise<void> {
  const platform = o.platform ?? process.platform;
  if (platform === 'darwin' || platform === 'win32') {
    if (!o.loginItems) throw new Error('login items are not available');
    o.loginItems.setLoginItemSettings({ openAtLogin: enabled, ...(platform === 'win32' ? { args: [...(o.execArgs ?? []), LOGIN_ARG] } : {}) });
    return;
  }
  const env = o.env ?? process.env;
  const file = autostartFile(env, o.home);
  if (!enabled) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(autostartDir(env, o.home), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, autostartEntry(loginExecPath(env, o.execPath), env.APPIMAGE ? [] : (o.execArgs ?? [])), { mode: 0o644 });
  await rename(tmp, file);
}

/** This process was started by a login (autostart entry / Windows login item / macOS login item). */
export function launchedAtLogin(argv: readonly string[], platform: NodeJS.Platform = process.platform, loginItems?: LoginItemApi): boolean {
  if (argv.includes(LOGIN_ARG)) return true;
  if (platform === 'darwin' && loginItems) {
    try {
      return loginItems.getLoginItemSettings().wasOpenedAtLogin === true;
    } catch {
      return false;
    }
  }
  return false;
}

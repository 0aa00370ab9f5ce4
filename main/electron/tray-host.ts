// Can a tray icon be seen at all? Electron creates a Tray without error everywhere, but on Linux
// it is shown only by a StatusNotifierItem host (KDE, XFCE, Cinnamon, GNOME *with* the
// AppIndicator extension); stock GNOME has none, and there "close to tray" would leave Kiln
// running with no window and no icon. Asked once at start over D-Bus with `gdbus` (bounded in
// time); macOS and Windows always have one. KILN_TRAY=0|1 overrides the check.
import { runBounded } from './bounded-run';

export const TRAY_CHECK_TIMEOUT_MS = 2_000;

export interface TrayHostOptions {
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export async function trayHostAvailable(o: TrayHostOptions = {}): Promise<boolean> {
  const platform = o.platform ?? process.platform;
  const env = o.env ?? process.env;
  if (env.KILN_TRAY === '0') return false;
  if (env.KILN_TRAY === '1') return true;
  if (platform !== 'linux') return true;
  try {
    const r = await runBounded(
      'gdbus',
      [
        'call',
        '--session',
        '--dest',
        'org.kde.StatusNotifierWatcher',
        '--object-path',
        '/StatusNotifierWatcher',
        '--method',
        'org.freedesktop.DBus.Properties.Get',
        'org.kde.StatusNotifierWatcher',
        'IsStatusNotifierHostRegistered',
      ],
      { env, timeoutMs: o.timeoutMs ?? TRAY_CHECK_TIMEOUT_MS },
    );
    // gdbus itself missing (no libglib2.0-bin): unknown, keep the usual tray behaviour; a
    // relaunch focuses the hidden window anyway (single instance).
    if (r.code === 'ENOENT') return true;
    // "(<true>,)" when a host is registered; an error when no watcher exists on the bus.
    return !r.failed && /\btrue\b/.test(String(r.stdout));
  } catch {
    return false;
  }
}

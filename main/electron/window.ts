// The main window: created with the fixed secure webPreferences, loads app://kiln/index.html,
// and hides to the tray instead of closing while jobs are active.
import { BrowserWindow, dialog } from 'electron';
import { APP_ENTRY_URL, APP_NAME } from './constants';
import { secureWebPreferences } from './security';

export interface MainWindowOptions {
  preloadPath: string;
  iconPath?: string;
  devTools?: boolean;
  /** Show as soon as the page is ready (false when started hidden, e.g. by a tray-only launch). */
  show?: boolean;
}

export function mainWindowOptions(opts: MainWindowOptions): Electron.BrowserWindowConstructorOptions {
  return {
    title: APP_NAME,
    width: 1200,
    height: 800,
    minWidth: 720,
    minHeight: 480,
    show: false,
    backgroundColor: '#1c1917',
    autoHideMenuBar: true,
    ...(opts.iconPath ? { icon: opts.iconPath } : {}),
    webPreferences: secureWebPreferences(opts.preloadPath, { devTools: opts.devTools ?? false }),
  };
}

export function createMainWindow(opts: MainWindowOptions): BrowserWindow {
  const win = new BrowserWindow(mainWindowOptions(opts));
  if (opts.show !== false) win.once('ready-to-show', () => win.show());
  void win.loadURL(APP_ENTRY_URL);
  return win;
}

/** Bring the window to the front (second launch, tray "Open Kiln", notification click). */
export function focusWindow(win: BrowserWindow | null): void {
  if (!win || win.isDestroyed()) return;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

/** The user can see the window's content right now. */
export function isWindowInFront(win: BrowserWindow | null): boolean {
  return !!win && !win.isDestroyed() && win.isVisible() && win.isFocused() && !win.isMinimized();
}

export interface CloseToTrayOptions {
  activeJobs(): number;
  /** The build-server role is listening (an always-on build server stays up in the tray). */
  serving?(): boolean;
  isQuitting(): boolean;
  /** A tray icon can be seen (tray-host.ts); without one a hidden window is unreachable. */
  trayShown(): boolean;
  /** Told once per run: "Kiln keeps running in the tray". */
  announce(activeJobs: number): void;
  /** No tray and jobs active: ask the user; resolves true to quit (cancelling the jobs). */
  confirmQuit(activeJobs: number): Promise<boolean>;
  quit(): void;
}

/**
 * Closing the window while jobs are queued or running (or the build server is listening) hides
 * it to the tray; with nothing active the close goes ahead and the app quits as usual. Without
 * a visible tray there is nowhere to come back from, so closing quits — after asking when jobs
 * are active ("Keep running" minimises the window instead).
 */
export function keepRunningInTrayOnClose(win: BrowserWindow, opts: CloseToTrayOptions): void {
  let announced = false;
  let asking = false;
  win.on('close', (event) => {
    if (opts.isQuitting()) return;
    const active = opts.activeJobs();
    const keep = active > 0 || (opts.serving?.() ?? false);
    if (!keep) return;
    if (opts.trayShown()) {
      event.preventDefault();
      win.hide();
      if (!announced) {
        announced = true;
        opts.announce(active);
      }
      return;
    }
    if (active === 0) return; // only serving, no tray: close and quit
    event.preventDefault();
    if (asking) return;
    asking = true;
    void opts
      .confirmQuit(active)
      .then((quit) => {
        if (quit) opts.quit();
        else if (!win.isDestroyed()) win.minimize();
      })
      .catch(() => undefined)
      .finally(() => {
        asking = false;
      });
  });
}

/** The question of a close without a tray while jobs run. */
export async function confirmQuitDialog(win: BrowserWindow | null, activeJobs: number): Promise<boolean> {
  const opts: Electron.MessageBoxOptions = {
    type: 'question',
    buttons: ['Keep running', 'Quit and cancel jobs'],
    defaultId: 0,
    cancelId: 0,
    noLink: true,
    message: `${activeJobs} job${activeJobs === 1 ? ' is' : 's are'} still queued or running.`,
    detail: 'This desktop shows no tray icon, so Kiln cannot keep running without its window. Quitting cancels the running jobs.',
  };
  const { response } = win && !win.isDestroyed() ? await dialog.showMessageBox(win, opts) : await dialog.showMessageBox(opts);
  return response === 1;
}

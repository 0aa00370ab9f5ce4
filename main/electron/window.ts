// The main window: created with the fixed secure webPreferences, loads app://kiln/index.html,
// and hides to the tray instead of closing while jobs are active.
import { BrowserWindow } from 'electron';
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
  isQuitting(): boolean;
  /** Told once per run: "Kiln keeps running in the tray". */
  announce(activeJobs: number): void;
}

/**
 * Closing the window while jobs are queued or running hides it instead (the app stays in the
 * tray, builds continue); with nothing active the close goes ahead and the app quits as usual.
 */
export function keepRunningInTrayOnClose(win: BrowserWindow, opts: CloseToTrayOptions): void {
  let announced = false;
  win.on('close', (event) => {
    if (opts.isQuitting()) return;
    const active = opts.activeJobs();
    if (active === 0) return;
    event.preventDefault();
    win.hide();
    if (!announced) {
      announced = true;
      opts.announce(active);
    }
  });
}

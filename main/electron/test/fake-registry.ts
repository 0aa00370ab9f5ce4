// Shared state of the `electron` test double (fake-electron.ts): everything the shell created,
// and the knobs a test sets. Tests only.
import type { BrowserWindow } from './fake-electron';
import type { Menu, Notification, Tray } from './fake-electron-ui';

export interface FakeLoginItem {
  openAtLogin: boolean;
  openAsHidden: boolean;
  args: string[];
}

export const fake = {
  windows: [] as BrowserWindow[],
  trays: [] as Tray[],
  notifications: [] as Notification[],
  menus: [] as Menu[],
  protocolHandlers: new Map<string, (req: Request) => Response | Promise<Response>>(),
  privilegedSchemes: [] as Array<{ scheme: string; privileges?: Record<string, boolean> }>,
  openedExternal: [] as string[],
  notificationsSupported: true,
  singleInstanceLock: true,
  messageBoxResponses: [] as number[],
  messageBoxes: [] as Array<{ message: string; buttons?: string[] }>,
  /** dialog.showSaveDialog answers, in order; none left = the user cancelled. */
  saveDialogResults: [] as string[],
  saveDialogs: [] as Array<{ defaultPath?: string; title?: string; withParent: boolean }>,
  /** app.quit() calls (whether or not they went through). */
  quitCalls: 0,
  /** Exit code once the process "ended" (a quit that went through, or app.exit()); null while running. */
  exitCode: null as number | null,
  /** Ordered record of the app's lifecycle events as the double emitted them. */
  lifecycle: [] as string[],
  appUserModelId: '' as string,
  /** app.setLoginItemSettings (macOS / Windows). */
  loginItem: { openAtLogin: false, openAsHidden: false, args: [] } as FakeLoginItem,
};

/** Electron's message for any method called on a destroyed BrowserWindow / WebContents / Tray. */
export const DESTROYED = 'Object has been destroyed';

export function assertAlive(obj: { isDestroyed(): boolean }): void {
  if (obj.isDestroyed()) throw new TypeError(DESTROYED);
}

/** An event object with preventDefault(), and whether it was called. */
export function cancellable<T extends object = object>(extra?: T): T & { preventDefault(): void; readonly defaultPrevented: boolean } {
  let prevented = false;
  const ev = Object.assign(Object.create(null) as object, extra ?? {});
  Object.defineProperty(ev, 'preventDefault', { value: () => void (prevented = true) });
  Object.defineProperty(ev, 'defaultPrevented', { get: () => prevented });
  return ev as T & { preventDefault(): void; readonly defaultPrevented: boolean };
}

// The shell's security rules (electron.md §5). Each function enforces one checklist item and is
// unit-tested in test/security.test.ts against the fake electron module.
import { shell, type Session, type WebContents, type WebPreferences } from 'electron';
import { APP_HOST, APP_ORIGIN, APP_SCHEME, EXTERNAL_HOST_ALLOWLIST } from './constants';

/** Items 2–4, 6, 8–12: the only webPreferences a Kiln window is ever created with. */
export function secureWebPreferences(preloadPath: string, opts: { devTools?: boolean } = {}): WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webviewTag: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
    devTools: opts.devTools ?? false,
  };
}

/** True for URLs on the app's own origin (app://kiln/...). */
export function isAppUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  return url.protocol === `${APP_SCHEME}:` && url.host === APP_HOST && url.username === '' && url.password === '';
}

/** Item 15: only https, no credentials or explicit port, and an allow-listed host. */
export function isAllowedExternalUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  return (
    url.protocol === 'https:' &&
    url.username === '' &&
    url.password === '' &&
    url.port === '' &&
    EXTERNAL_HOST_ALLOWLIST.has(url.hostname.toLowerCase())
  );
}

/** Opens an allow-listed link in the system browser; returns whether it did. */
export function openExternalIfAllowed(raw: string): boolean {
  if (!isAllowedExternalUrl(raw)) return false;
  // Re-serialise through URL so what reaches the OS is exactly what was checked.
  void shell.openExternal(new URL(raw).href).catch(() => {});
  return true;
}

/**
 * Items 11–14 for one webContents: navigation away from the app origin is cancelled (a dropped
 * file cannot navigate the window either), https links to allow-listed hosts open externally,
 * new windows are always denied, <webview> attachment is refused.
 */
export function guardWebContents(contents: WebContents): void {
  // Electron 45 passes `details` (an Event carrying `url`) first; the deprecated positional url
  // argument is the fallback.
  const onNavigate = (details: Electron.Event<{ url: string }>, legacyUrl?: string) => {
    const url = details?.url ?? legacyUrl ?? '';
    if (isAppUrl(url)) return;
    details.preventDefault();
    openExternalIfAllowed(url);
  };
  contents.on('will-navigate', (details, url) => onNavigate(details, url));
  contents.on('will-redirect', (details, url) => onNavigate(details, url));
  contents.on('will-frame-navigate', (details) => onNavigate(details));
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openExternalIfAllowed(url);
    return { action: 'deny' };
  });
}

/** Item 5: every permission request and check is denied (main-process Notification needs none). */
export function denyAllPermissions(ses: Session): void {
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);
}

/** The parts of an IPC event the sender check looks at (IpcMainEvent / IpcMainInvokeEvent). */
export interface IpcSenderLike {
  sender: Pick<WebContents, 'id'>;
  senderFrame: { url: string; origin: string; parent: unknown } | null;
}

/**
 * Item 17: an IPC message is trusted only when it comes from the main frame (not an iframe) of
 * the expected window, currently showing the app's own origin.
 */
export function isTrustedSender(event: IpcSenderLike, expected?: Pick<WebContents, 'id'> | null): boolean {
  const frame = event.senderFrame;
  if (!frame || frame.parent !== null) return false;
  if (expected && event.sender.id !== expected.id) return false;
  if (frame.origin !== undefined && frame.origin !== APP_ORIGIN) return false;
  return isAppUrl(frame.url);
}

// Fixed names the shell, the preload and the packaging agree on.

/** Equals electron.config.ts `appId` (also the Windows AppUserModelID for notifications). */
export const APP_ID = 'io.kiln.app';
export const APP_NAME = 'Kiln';

/** The renderer is served from app://kiln/ (custom standard+secure scheme, never file://). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'kiln';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

export { IPC } from './ipc-channels';

/** https hosts whose links open in the system browser; every other URL is refused. */
export const EXTERNAL_HOST_ALLOWLIST: ReadonlySet<string> = new Set([
  'esphome.io',
  'www.esphome.io',
  'github.com',
  'community.home-assistant.io',
  'www.home-assistant.io',
]);

// Fixed names the shell, the preload and the packaging agree on.

/** Equals electron.config.ts `appId` (also the Windows AppUserModelID for notifications). */
export const APP_ID = 'io.kiln.app';
export const APP_NAME = 'Kiln';

/** The renderer is served from app://kiln/ (custom standard+secure scheme, never file://). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'kiln';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * Served as an HTTP header by the app:// handler (the renderer's <meta> is the fallback).
 * Same policy as the headless server (electron.md §5 item 7), plus frame/form lock-down.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

/** IPC channels (renderer ↔ main). Everything else travels over the RPC MessagePort. */
export const IPC = {
  /** renderer → main (send): "give me an RPC port" */
  connect: 'kiln:rpc-connect',
  /** main → renderer (postMessage with the port) and preload → page (window.postMessage) */
  port: 'rpc:port',
  /** renderer → main (invoke): import a dropped/picked YAML by its disk path */
  importPath: 'kiln:import-path',
} as const;

/** https hosts whose links open in the system browser; every other URL is refused. */
export const EXTERNAL_HOST_ALLOWLIST: ReadonlySet<string> = new Set([
  'esphome.io',
  'www.esphome.io',
  'github.com',
  'community.home-assistant.io',
  'www.home-assistant.io',
]);

// The window's Content-Security-Policy and security headers, defined once (electron.md §5 item 7,
// §4.3: the headless server serves "the same CSP as the desktop app"). Imported by the app://
// protocol (main/electron/protocol.ts) and `kiln serve`'s server (main/headless/server.ts);
// renderer/index.html carries META_CONTENT_SECURITY_POLICY as its <meta> fallback (a test keeps
// the two equal). No imports: main/core must stay free of electron, and this is plain data.

/** The directives a `<meta http-equiv="Content-Security-Policy">` can carry (renderer/index.html). */
export const META_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
].join('; ');

/** Header-only directives: browsers ignore (and warn about) these in a <meta> policy. */
const HEADER_ONLY_DIRECTIVES = ["frame-ancestors 'none'", "form-action 'none'"];

/** The policy sent as an HTTP header on every response of both servers. */
export const CONTENT_SECURITY_POLICY = [META_CONTENT_SECURITY_POLICY, ...HEADER_ONLY_DIRECTIVES].join('; ');

/** Headers every response of both servers carries (callers add Content-Type, Cache-Control, …). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
});

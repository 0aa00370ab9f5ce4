// The app:// protocol (electron.md §5 item 18): the built renderer is served from out/renderer
// under app://kiln/ instead of file://, with the CSP as a real header. Paths are decoded,
// normalised and resolved against the root; anything that lands outside it (.., encoded
// separators, symlinks pointing out) is refused.
import { protocol } from 'electron';
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { SECURITY_HEADERS } from '../core/csp';
import { APP_HOST, APP_SCHEME } from './constants';
import { contentTypeFor } from '../core/content-types';

/** Must run before app 'ready'. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    {
      scheme: APP_SCHEME,
      privileges: { standard: true, secure: true, supportFetchAPI: true, allowServiceWorkers: false, corsEnabled: false, stream: false },
    },
  ]);
}

export { contentTypeFor };

/**
 * Maps a URL pathname to a file under `root`, or null when it is malformed or escapes the root.
 * Pure string logic; symlinks are checked separately by the handler.
 */
export function resolveAppPath(root: string, pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  // NUL, backslashes (a Windows separator after decoding) and drive letters never occur in a
  // bundle path; refusing them avoids platform-dependent interpretations.
  if (decoded.includes('\0') || decoded.includes('\\') || /^\/?[a-zA-Z]:/.test(decoded)) return null;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..')) return null;
  let rel = normalize(segments.filter((s) => s !== '' && s !== '.').join(sep));
  if (rel === '.' || rel === '') rel = 'index.html';
  if (isAbsolute(rel)) return null;
  const full = join(root, rel);
  const back = relative(root, full);
  if (back === '' || back.startsWith('..') || isAbsolute(back)) return null;
  return full;
}

function textResponse(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' },
  });
}

export type AppProtocolHandler = (request: Request) => Promise<Response>;

/** The request handler for app://kiln/… serving files below `root` (testable without Electron). */
export function createAppProtocolHandler(root: string): AppProtocolHandler {
  let realRoot: string | null = null;
  return async (request) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return textResponse(400, 'bad request');
    }
    if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return textResponse(404, 'not found');
    if (request.method !== 'GET' && request.method !== 'HEAD') return textResponse(405, 'method not allowed');
    const file = resolveAppPath(root, url.pathname);
    if (!file) return textResponse(403, 'forbidden');
    try {
      // Cached only once it resolves: a failure (root not built yet) is retried on the next
      // request. (Caching the pending promise raced: a request could still see its rejection.)
      realRoot ??= await realpath(root);
      const rootReal = realRoot;
      const fileReal = await realpath(file);
      const back = relative(rootReal, fileReal);
      if (back === '' || back.startsWith('..') || isAbsolute(back)) return textResponse(403, 'forbidden');
      const info = await stat(fileReal);
      if (!info.isFile()) return textResponse(404, 'not found');
      const body = request.method === 'HEAD' ? null : await readFile(fileReal);
      return new Response(body, {
        status: 200,
        headers: {
          ...SECURITY_HEADERS,
          'Content-Type': contentTypeFor(fileReal),
          'Content-Length': String(info.size),
          'Cache-Control': 'no-cache',
        },
      });
    } catch {
      return textResponse(404, 'not found');
    }
  };
}

/** After 'ready': serve `root` on app://. */
export function serveAppProtocol(root: string): void {
  protocol.handle(APP_SCHEME, createAppProtocolHandler(root));
}

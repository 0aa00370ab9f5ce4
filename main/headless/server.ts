// `kiln serve`'s HTTP + WebSocket server: serves the built renderer (out/renderer) and the RPC
// API at /rpc, hardened for a browser on the same machine (electron.md §4.3):
// - binds 127.0.0.1 unless told otherwise;
// - a random per-launch token (URL fragment → hello) gates every byte of data;
// - the Host header must name this server (DNS rebinding), the WebSocket Origin must be this
//   server's own origin (cross-site WebSocket hijacking);
// - the same CSP and security headers as the desktop app on every response (main/core/csp.ts).
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveRpc, type RpcServerChannel } from '../core/api/rpc-server';
import type { ApiService } from '../core/api/api-service';
import { contentTypeFor } from '../core/content-types';
import { SECURITY_HEADERS } from '../core/csp';
import type { FirmwareLibrary } from '../core/firmware/store';
import { serveFirmwareDownload } from './firmware-download';


export interface KilnServerOptions {
  service: ApiService;
  host?: string;
  /** 0 picks a free port (tests); the printed URL carries the real one. */
  port?: number;
  /** Default: 32 random bytes, base64url. */
  token?: string;
  /** The built renderer (index.html + assets). */
  staticDir: string;
  /** Extra Host header values to accept (e.g. a DNS name when bound to a LAN address). */
  allowedHosts?: string[];
  /** Largest accepted WebSocket message (default 4 MiB: a 1 MiB YAML import JSON-escaped). */
  maxPayload?: number;
  helloTimeoutMs?: number;
  /** WebSocket ping interval to drop dead clients (default 30 s). */
  pingIntervalMs?: number;
  /** The firmware library: GET /firmware/<build>/<ota|factory> with the token (firmware-download.ts). */
  firmware?: FirmwareLibrary;
}

export interface KilnServer {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** Base URL (no token), e.g. http://127.0.0.1:6052/ */
  readonly origin: string;
  /** What to open: origin + #token=… */
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export async function startKilnServer(opts: KilnServerOptions): Promise<KilnServer> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(32).toString('base64url');
  const staticRoot = await realpath(resolve(opts.staticDir)).catch(() => resolve(opts.staticDir));
  let port = 0;
  const allowed = () => allowedHostHeaders(host, port, opts.allowedHosts ?? []);

  const server = createServer((req, res) => {
    if (!hostAllowed(req, allowed())) return deny(res, 421, 'Misdirected request: unknown Host header');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return deny(res, 405, 'Method not allowed');
    }
    const [path = ''] = (req.url ?? '').split('?');
    const work = path.startsWith('/firmware/') ? serveFirmwareDownload(req, res, path, token, opts.firmware) : serveStatic(staticRoot, req, res);
    work.catch((err) => {
      if (!res.headersSent) deny(res, 500, 'Internal error');
      else res.destroy();
      console.error('[kiln] static file error:', err);
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload ?? 4 * 1024 * 1024 });
  // Every socket gets an error path: a malformed frame, a reset or a parse error ends that one
  // connection; an unhandled 'error' event would end the whole process (issue 11, defect 1).
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('connection', (socket) => socket.on('error', () => socket.destroy()));
  wss.on('error', (err) => console.error('[kiln] WebSocket server error:', err.message));
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const [path = ''] = (req.url ?? '').split('?');
    if (path !== '/rpc') return refuse(404, 'Not Found');
    if (!hostAllowed(req, allowed())) return refuse(421, 'Misdirected Request');
    const origin = req.headers.origin;
    // Browsers always send Origin on a WebSocket handshake; it must be this very server. A
    // missing Origin means a non-browser client, which still needs the token.
    if (origin !== undefined && origin !== `http://${req.headers.host}`) return refuse(403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws));
  });

  const alive = new WeakMap<WebSocket, boolean>();
  const attach = (ws: WebSocket) => {
    alive.set(ws, true);
    // ws reports protocol violations (invalid UTF-8, reserved opcodes, unmasked or oversize
    // frames) as 'error' and then closes that socket with 1002/1007/1009; nothing else to do.
    ws.on('error', () => undefined);
    ws.on('pong', () => alive.set(ws, true));
    serveRpc(wsChannel(ws), { service: opts.service, token, helloTimeoutMs: opts.helloTimeoutMs });
  };
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, opts.pingIntervalMs ?? 30_000);
  pinger.unref();

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 6052, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const origin = `http://${urlHost}:${port}/`;

  return {
    host,
    port,
    token,
    origin,
    url: `${origin}#token=${token}`,
    close: async () => {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.close(1001, 'server shutting down');
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}

/** Adapts a `ws` socket to the RPC layer: JSON text frames both ways. */
export function wsChannel(ws: WebSocket): RpcServerChannel {
  return {
    send: (msg) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    },
    onMessage: (fn) => {
      const h = (data: Buffer, isBinary: boolean) => {
        if (isBinary) return fn(null);
        let parsed: unknown;
        try {
          parsed = JSON.parse(data.toString('utf8'));
        } catch {
          parsed = null;
        }
        fn(parsed);
      };
      ws.on('message', h);
      return () => ws.off('message', h);
    },
    onClose: (fn) => {
      const h = () => fn();
      ws.on('close', h);
      return () => ws.off('close', h);
    },
    close: (code, reason) => ws.close(code, reason),
    backlog: () => ws.bufferedAmount,
  };
}

function allowedHostHeaders(host: string, port: number, extra: string[]): Set<string> {
  const names = new Set<string>(['127.0.0.1', 'localhost', '[::1]']);
  const wildcard = host === '0.0.0.0' || host === '::';
  if (!LOOPBACK.has(host) && !wildcard) names.add(host.includes(':') ? `[${host}]` : host);
  if (wildcard) {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(a.family === 'IPv6' ? `[${a.address}]` : a.address);
    }
    const h = hostname().toLowerCase();
    names.add(h);
    names.add(`${h}.local`);
  }
  for (const e of extra) names.add(e.toLowerCase());
  const out = new Set<string>();
  for (const n of names) out.add(`${n}:${port}`);
  return out;
}

function hostAllowed(req: IncomingMessage, allowed: Set<string>): boolean {
  const h = req.headers.host?.toLowerCase();
  return h !== undefined && allowed.has(h);
}

function deny(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text + '\n');
}

async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return deny(res, 400, 'Bad request');
  }
  if (pathname.includes('\0')) return deny(res, 400, 'Bad request');
  if (pathname === '/' || pathname === '') pathname = '/index.html';
  const file = resolve(join(root, pathname));
  if (file !== root && !file.startsWith(root + sep)) return deny(res, 404, 'Not found');
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    if (pathname === '/index.html') return notBuilt(res);
    return deny(res, 404, 'Not found');
  }
  if (!real.startsWith(root + sep)) return deny(res, 404, 'Not found');
  const st = await stat(real);
  if (!st.isFile()) return deny(res, 404, 'Not found');
  const isIndex = pathname === '/index.html';
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': contentTypeFor(real),
    'Content-Length': String(st.size),
    // Hashed asset names can be cached; the page itself must always be fresh.
    'Cache-Control': isIndex ? 'no-store' : 'public, max-age=31536000, immutable',
  });
  if (req.method === 'HEAD') return void res.end();
  const stream = createReadStream(real);
  stream.on('error', () => res.destroy());
  res.on('error', () => stream.destroy());
  stream.pipe(res);
}

async function notBuilt(res: ServerResponse): Promise<void> {
  res.writeHead(503, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end('The Kiln window is not built yet: run `npx vite build -c renderer/vite.config.ts` (or `npm run build`).\n');
}


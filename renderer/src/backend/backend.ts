// The renderer's single backend connection: picks the transport (MessagePort under Electron,
// WebSocket otherwise), does the hello with the per-launch token, reconnects with back-off,
// and re-attaches every event listener to each new connection.
import type { BackendApi, EventName, FrontendEvents, HelloResult } from '../../../preload/contract';
import { RpcClient, RpcError, type ClientChannel } from './rpc-client';
import { openMessagePort, openWebSocket } from './transports';

export type ConnectionStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'open'; hello: HelloResult }
  | { state: 'lost'; error: string; retryInMs: number }
  /** The token was refused or the protocol differs: retrying cannot help. */
  | { state: 'refused'; error: string };

export interface BackendClient {
  readonly api: BackendApi;
  readonly mode: 'electron' | 'web';
  status(): ConnectionStatus;
  onStatus(fn: (s: ConnectionStatus) => void): () => void;
  on<E extends EventName>(event: E, fn: (data: FrontendEvents[E]) => void): () => void;
  /** Fires after every successful (re)connect: re-fetch state, re-follow logs. */
  onConnected(fn: () => void): () => void;
  close(): void;
}

const TOKEN_KEY = 'kiln.token';

/** Reads `#token=…` once, keeps it for reloads of this tab, and removes it from the address bar. */
export function takeToken(): string | undefined {
  const m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (m) {
    const token = decodeURIComponent(m[1] ?? '');
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      /* storage may be unavailable; the URL still has it */
      return token;
    }
    history.replaceState(null, '', window.location.pathname + window.location.search);
    return token;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/** ws(s)://<this origin>/rpc */
export function rpcUrl(): URL {
  const url = new URL('/rpc', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  return url;
}

export function createBackendClient(opts: { token?: string; open?: () => Promise<ClientChannel> } = {}): BackendClient {
  const bridge = typeof window !== 'undefined' ? window.bridge : undefined;
  const mode: 'electron' | 'web' = bridge ? 'electron' : 'web';
  let token = opts.token ?? (mode === 'web' ? takeToken() : undefined);
  const open = opts.open ?? (() => (bridge ? openMessagePort(bridge) : openWebSocket(rpcUrl())));

  let client: RpcClient | null = null;
  let status: ConnectionStatus = { state: 'connecting', attempt: 1 };
  let closed = false;
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  const statusFns = new Set<(s: ConnectionStatus) => void>();
  const connectedFns = new Set<() => void>();
  const listeners = new Map<string, Set<(d: never) => void>>();
  let detach: Array<() => void> = [];

  const setStatus = (s: ConnectionStatus) => {
    status = s;
    for (const fn of [...statusFns]) fn(s);
  };

  const attachListeners = (c: RpcClient) => {
    detach = [];
    for (const [event, set] of listeners) {
      for (const fn of set) detach.push(c.on(event as EventName, fn as (d: unknown) => void));
    }
  };

  const connect = async () => {
    if (closed) return;
    attempt++;
    setStatus({ state: 'connecting', attempt });
    let c: RpcClient;
    try {
      c = new RpcClient(await open());
    } catch (err) {
      return scheduleRetry(err instanceof Error ? err.message : String(err));
    }
    // Listeners before hello: the server sends events only after hello, and none may be missed.
    attachListeners(c);
    try {
      const hello = await c.hello(token);
      client = c;
      attempt = 0;
      c.onClose((info) => {
        if (client !== c) return;
        client = null;
        for (const off of detach) off();
        scheduleRetry(`connection lost (${info.code}${info.reason ? ': ' + info.reason : ''})`);
      });
      setStatus({ state: 'open', hello });
      for (const fn of [...connectedFns]) fn();
    } catch (err) {
      for (const off of detach) off();
      c.close();
      if (err instanceof RpcError && err.code === 'precondition_failed') {
        setStatus({ state: 'refused', error: err.message });
        return;
      }
      scheduleRetry(err instanceof Error ? err.message : String(err));
    }
  };

  const scheduleRetry = (error: string) => {
    if (closed) return;
    const retryInMs = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6));
    setStatus({ state: 'lost', error, retryInMs });
    retryTimer = setTimeout(() => void connect(), retryInMs);
  };

  const api = new Proxy({} as BackendApi, {
    get: (_t, name) => {
      if (typeof name !== 'string') return undefined;
      return (params?: unknown) => {
        if (!client) return Promise.reject(new RpcError('unavailable', 'not connected to the Kiln backend'));
        const api = client.api as unknown as Record<string, ((p: unknown) => Promise<unknown>) | undefined>;
        const fn = api[name];
        if (!fn) return Promise.reject(new RpcError('unavailable', `no such Kiln API method: ${name}`));
        return fn.call(api, params ?? {});
      };
    },
  });

  void connect();

  // A new `#token=…` pasted into this tab's address bar (e.g. after `kiln serve` restarted) is a
  // hash change, not a page load: take it and connect again with it at once.
  const onHash = () => {
    if (closed || !/(?:^#|&)token=/.test(window.location.hash)) return;
    const next = takeToken();
    if (!next || next === token) return;
    token = next;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    const old = client;
    client = null;
    for (const off of detach) off();
    old?.close();
    attempt = 0;
    void connect();
  };
  if (mode === 'web' && !opts.token && typeof window !== 'undefined') window.addEventListener('hashchange', onHash);

  return {
    api,
    mode,
    status: () => status,
    onStatus: (fn) => {
      statusFns.add(fn);
      return () => statusFns.delete(fn);
    },
    on: (event, fn) => {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(fn);
      const offLive = client ? client.on(event, fn) : null;
      if (offLive) detach.push(offLive);
      return () => {
        set.delete(fn);
        offLive?.();
      };
    },
    onConnected: (fn) => {
      connectedFns.add(fn);
      return () => connectedFns.delete(fn);
    },
    close: () => {
      closed = true;
      if (typeof window !== 'undefined') window.removeEventListener('hashchange', onHash);
      if (retryTimer) clearTimeout(retryTimer);
      client?.close();
      client = null;
    },
  };
}

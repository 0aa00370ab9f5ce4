// Server side of Kiln's RPC: one message format over any transport that can carry objects —
// WebSocket (main/headless, JSON text frames) or Electron MessagePort (main/electron,
// structured clone). The first call must be `hello` with the protocol version (and the
// per-launch token when the transport requires one); until then nothing else is answered and
// no event is sent, so a client without the token gets no data.
import { createHash, timingSafeEqual } from 'node:crypto';
import { PROTOCOL_VERSION, RPC_CLOSE_UNAUTHORIZED } from '../../../preload/contract';
import { ApiError, toApiError } from '../errors';
import { schemas } from './schemas';
import type { ApiConnection, ApiService } from './api-service';

/** What the RPC layer needs from a transport. */
export interface RpcServerChannel {
  send(msg: unknown): void;
  onMessage(fn: (msg: unknown) => void): () => void;
  onClose(fn: () => void): () => void;
  /** Ends the transport (WebSocket close code / port close). */
  close?(code: number, reason: string): void;
  /** Bytes queued but not yet sent (WebSocket bufferedAmount), for log backpressure. */
  backlog?(): number;
}

export interface RpcServerOptions {
  service: ApiService;
  /** When set, hello must carry exactly this token. */
  token?: string;
  /** Close the channel if no valid hello arrives in time (default 10 s). */
  helloTimeoutMs?: number;
  /** Upper bound of concurrently running calls per connection (default 64). */
  maxInFlight?: number;
}

export interface RpcServerHandle {
  readonly authenticated: boolean;
  close(): void;
}

export function serveRpc(channel: RpcServerChannel, opts: RpcServerOptions): RpcServerHandle {
  let conn: ApiConnection | null = null;
  let closed = false;
  let inFlight = 0;
  const maxInFlight = opts.maxInFlight ?? 64;
  const offs: Array<() => void> = [];

  const reply = (id: number, result: unknown) => {
    if (!closed) channel.send({ t: 'res', id, ok: true, result });
  };
  const fail = (id: number, err: unknown) => {
    if (closed) return;
    const e = toApiError(err).toJSON();
    channel.send({ t: 'res', id, ok: false, error: e });
  };
  const shutdown = (code?: number, reason?: string) => {
    if (closed) return;
    closed = true;
    clearTimeout(helloTimer);
    for (const off of offs.splice(0)) off();
    conn?.close();
    conn = null;
    if (code !== undefined) channel.close?.(code, reason ?? '');
  };

  const helloTimer = setTimeout(() => {
    if (!conn) shutdown(RPC_CLOSE_UNAUTHORIZED, 'hello timeout');
  }, opts.helloTimeoutMs ?? 10_000);

  const handleHello = (id: number, params: unknown) => {
    const parsed = schemas.hello.safeParse(params ?? {});
    if (!parsed.success) {
      fail(id, new ApiError('invalid_args', `hello: ${parsed.error.issues.map((i) => i.message).join('; ')}`));
      shutdown(RPC_CLOSE_UNAUTHORIZED, 'bad hello');
      return;
    }
    if (parsed.data.protocol !== PROTOCOL_VERSION) {
      fail(
        id,
        new ApiError('precondition_failed', `protocol mismatch: client speaks ${parsed.data.protocol}, server ${PROTOCOL_VERSION}; reload the window`, {
          serverProtocol: PROTOCOL_VERSION,
        }),
      );
      shutdown(RPC_CLOSE_UNAUTHORIZED, 'protocol mismatch');
      return;
    }
    if (opts.token !== undefined && !tokenMatches(opts.token, parsed.data.token)) {
      fail(id, new ApiError('precondition_failed', 'invalid or missing token: open the URL printed by `kiln serve`', { reason: 'unauthorized' }));
      shutdown(RPC_CLOSE_UNAUTHORIZED, 'unauthorized');
      return;
    }
    if (conn) {
      fail(id, new ApiError('invalid_args', 'hello was already done on this connection'));
      return;
    }
    clearTimeout(helloTimer);
    conn = opts.service.connect((event, data) => {
      if (!closed) channel.send({ t: 'evt', event, data });
    }, { backlog: channel.backlog ? () => channel.backlog!() : undefined });
    reply(id, opts.service.hello());
  };

  offs.push(
    channel.onMessage((msg) => {
      if (closed) return;
      if (!isRecord(msg) || msg.t !== 'req' || !Number.isSafeInteger(msg.id) || typeof msg.method !== 'string') {
        // Not answerable without an id; a client that sends garbage before hello is dropped.
        if (isRecord(msg) && Number.isSafeInteger(msg.id)) fail(msg.id as number, new ApiError('invalid_args', 'malformed request'));
        if (!conn) shutdown(RPC_CLOSE_UNAUTHORIZED, 'malformed');
        return;
      }
      const id = msg.id as number;
      if (msg.method === 'hello') return handleHello(id, msg.params);
      if (!conn) {
        fail(id, new ApiError('precondition_failed', 'hello required before any other call', { reason: 'unauthorized' }));
        return;
      }
      if (inFlight >= maxInFlight) {
        fail(id, new ApiError('unavailable', 'too many calls in flight'));
        return;
      }
      inFlight++;
      const c = conn;
      c.call(msg.method, msg.params).then(
        (result) => reply(id, result ?? null),
        (err) => fail(id, err),
      ).finally(() => inFlight--);
    }),
    channel.onClose(() => shutdown()),
  );

  return {
    get authenticated() {
      return conn !== null;
    },
    close: () => shutdown(1001, 'server closing'),
  };
}

function tokenMatches(expected: string, got: string | undefined): boolean {
  if (typeof got !== 'string') return false;
  // Hash both so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(got).digest();
  return timingSafeEqual(a, b);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

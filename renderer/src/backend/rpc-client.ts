// Client side of Kiln's RPC (message format in preload/contract.ts). Transport-agnostic: it
// needs a ClientChannel that carries objects; the WebSocket and MessagePort adapters live in
// transports.ts. No DOM or Node dependencies, so it also runs in Node tests against the server.
import {
  PROTOCOL_VERSION,
  type ApiErrorCode,
  type ApiErrorShape,
  type BackendApi,
  type EventName,
  type FrontendEvents,
  type HelloResult,
  type MethodName,
  type ParamsOf,
  type ResultOf,
} from '../../../preload/contract';

export interface ClientChannel {
  send(msg: unknown): void;
  onMessage(fn: (msg: unknown) => void): () => void;
  onClose(fn: (info: { code: number; reason: string }) => void): () => void;
  close(): void;
}

/** A failed call: the backend's typed error (or `unavailable` when the connection dropped). */
export class RpcError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type Listener = (data: never) => void;

export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly closeListeners = new Set<(info: { code: number; reason: string }) => void>();
  private closedInfo: { code: number; reason: string } | null = null;
  private readonly offs: Array<() => void> = [];

  /** Typed calls: `client.api.getJobs({})`. */
  readonly api: BackendApi;

  constructor(private readonly channel: ClientChannel) {
    this.offs.push(
      channel.onMessage((msg) => this.receive(msg)),
      channel.onClose((info) => this.handleClose(info)),
    );
    this.api = new Proxy({} as BackendApi, {
      get: (_t, name) => (typeof name === 'string' ? (params?: unknown) => this.call(name as MethodName, (params ?? {})) : undefined),
    });
  }

  get closed(): boolean {
    return this.closedInfo !== null;
  }

  hello(token?: string): Promise<HelloResult> {
    return this.call('hello', { protocol: PROTOCOL_VERSION, token, client: 'kiln-renderer' });
  }

  call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    if (this.closedInfo) return Promise.reject(new RpcError('unavailable', 'not connected to the Kiln backend'));
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.channel.send({ t: 'req', id, method, params });
      } catch (err) {
        this.pending.delete(id);
        reject(new RpcError('unavailable', err instanceof Error ? err.message : String(err)));
      }
    });
  }

  on<E extends EventName>(event: E, fn: (data: FrontendEvents[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  onClose(fn: (info: { code: number; reason: string }) => void): () => void {
    this.closeListeners.add(fn);
    return () => this.closeListeners.delete(fn);
  }

  close(): void {
    this.channel.close();
    this.handleClose({ code: 1000, reason: 'client closed' });
  }

  private receive(msg: unknown): void {
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (m.t === 'res' && typeof m.id === 'number') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok === true) p.resolve(m.result);
      else {
        const e = (m.error ?? {}) as Partial<ApiErrorShape>;
        p.reject(new RpcError((e.code as ApiErrorCode) ?? 'internal_error', e.message ?? 'unknown error', e.data));
      }
    } else if (m.t === 'evt' && typeof m.event === 'string') {
      const set = this.listeners.get(m.event);
      if (!set) return;
      for (const fn of [...set]) {
        try {
          (fn as (d: unknown) => void)(m.data);
        } catch (err) {
          console.error(`[kiln] handler for ${m.event} threw`, err);
        }
      }
    }
  }

  private handleClose(info: { code: number; reason: string }): void {
    if (this.closedInfo) return;
    this.closedInfo = info;
    for (const off of this.offs.splice(0)) off();
    for (const p of this.pending.values()) p.reject(new RpcError('unavailable', `connection closed (${info.code}${info.reason ? ': ' + info.reason : ''})`));
    this.pending.clear();
    for (const fn of [...this.closeListeners]) fn(info);
  }
}

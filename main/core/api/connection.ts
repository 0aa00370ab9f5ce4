// One client of the API service: validates each call against the contract's schemas, runs its
// handler, and carries the client's log follows and pairing-window hold. Transport-agnostic: the
// WebSocket and MessagePort servers both hand raw method names and params to `call`.
import type { EventName, FrontendEvents, Job, MethodName, ParamsOf, ResultOf } from '../../../preload/contract';
import { ApiError, toApiError } from '../errors';
import { serializeJob, type FirmwareJob } from '../jobs/model';
import type { LogBatcher } from './log-batcher';
import { isMethodName, schemas } from './schemas';

/** What a connection needs from the service that owns it. */
export interface ConnectionHost {
  readonly handlers: Handlers;
  dropFollower(jobId: string, f: Follow): void;
  dropConnection(conn: Connection): void;
}

export type EventSink = <E extends EventName>(event: E, data: FrontendEvents[E]) => void;

export interface ConnectionOptions {
  /** Bytes queued on the transport (WebSocket bufferedAmount) for log backpressure. */
  backlog?: () => number;
}

export interface ApiConnection {
  readonly id: string;
  /** Validates and runs one call. Rejects with an ApiError (never a raw Error). */
  call(method: string, params: unknown): Promise<unknown>;
  close(): void;
}

export type Handlers = {
  [M in Exclude<MethodName, 'hello'>]: (params: ParamsOf<M>, conn: Connection) => Promise<ResultOf<M>> | ResultOf<M>;
};

/** A job as clients see it, without the API's annotations (failure, history, replaced_by). */
export function jobView(job: FirmwareJob): Job {
  return { ...(serializeJob(job, { withOutput: false }) as Omit<Job, 'failure' | 'history' | 'replaced_by'>), failure: null, history: [], replaced_by: '' };
}

export class Follow {
  constructor(
    readonly conn: Connection,
    readonly batcher: LogBatcher,
  ) {}
}

export class Connection implements ApiConnection {
  readonly follows = new Map<string, Follow>();
  holdsWindow = false;
  closed = false;

  constructor(
    readonly id: string,
    readonly service: ConnectionHost,
    readonly sink: EventSink,
    readonly opts: ConnectionOptions,
  ) {}

  async call(method: string, params: unknown): Promise<unknown> {
    if (this.closed) throw new ApiError('unavailable', 'connection closed');
    if (!isMethodName(method) || method === 'hello') throw new ApiError('invalid_args', `unknown method: ${method}`);
    const parsed = schemas[method].safeParse(params ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`);
      throw new ApiError('invalid_args', `${method}: ${issues.join('; ')}`, { issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) });
    }
    try {
      const handler = this.service.handlers[method] as (p: unknown, c: Connection) => unknown;
      return await handler(parsed.data, this);
    } catch (err) {
      throw toApiError(err);
    }
  }

  send<E extends EventName>(event: E, data: FrontendEvents[E]): void {
    if (this.closed) return;
    try {
      this.sink(event, data);
    } catch (err) {
      console.error(`[kiln] event ${event} could not be sent:`, err);
    }
  }

  unfollow(jobId: string): void {
    const f = this.follows.get(jobId);
    if (!f) return;
    this.follows.delete(jobId);
    f.batcher.close();
    this.service.dropFollower(jobId, f);
  }

  close(): void {
    if (this.closed) return;
    for (const jobId of [...this.follows.keys()]) this.unfollow(jobId);
    this.closed = true;
    this.service.dropConnection(this);
  }
}

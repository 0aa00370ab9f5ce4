// The core event bus: one typed map of event name → payload, shared by the job engine, the
// peer-link client/listener, the receiver, the scheduler and the API service.
import type { CancelledBy, FirmwareJob, QueueStatus } from './jobs/model';

export interface JobEventMap {
  job_queued: { job: FirmwareJob };
  job_started: { job: FirmwareJob };
  job_output: { job_id: string; line: string };
  job_progress: { job_id: string; progress: number };
  job_completed: { job: FirmwareJob };
  job_failed: { job: FirmwareJob };
  /**
   * `by`: who cancelled it (also on `job.cancelled_by`). The job engine always sets it; optional
   * only so older emitters (tests, adapters) stay valid.
   */
  job_cancelled: { job: FirmwareJob; by?: CancelledBy };
  /** Kiln extra: history changed without a lifecycle event (clear, prune, re-route). */
  jobs_changed: { reason: string };
  /** Kiln extra: a problem the job engine recovered from (corrupt jobs file, failed save). */
  engine_warning: { message: string };
  /** Kiln extra: the job queue was paused or resumed (no queued job starts while paused). */
  queue_paused_changed: { paused: boolean };
}

/** Offloader side of the peer-link (events the remote runner and scheduler consume). */
export interface PeerLinkEventMap {
  peer_link_opened: { pin: string; label: string; esphome_version: string };
  peer_link_closed: { pin: string; reason: string; detail: string };
  /** A `job_output` frame received from the build server with this pin. */
  offloader_job_output: { pin: string; job_id: string; line: string };
  /** A `job_state_changed` frame received from the build server with this pin. */
  offloader_job_state_changed: {
    pin: string;
    job_id: string;
    status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
    error_message: string;
    failure_reason?: 'provision';
  };
  offloader_queue_status: { pin: string } & QueueStatus;
  /** Pairings added/removed/enabled/status changed (wakes the dispatch pool). */
  pairings_changed: { pin: string; change: string };
  /** Offloader client state of one pairing changed (UI pill, last error, alert). */
  peer_link_state_changed: {
    pin: string;
    status: 'connected' | 'connecting' | 'disconnected';
    last_error: { reason: string; detail: string; at: number } | null;
    /** Orphan alert: reconnecting stopped until re-pair/unpair. */
    alert: 'pin_mismatch' | 'peer_revoked' | 'superseded' | null;
  };
  /** The list of unpaired build servers found over mDNS changed (peer-link/discovery.ts). */
  discovered_build_servers_changed: { count: number };
}

/** Receiver side (UI events of the build-server role). */
export interface ReceiverEventMap {
  pair_request_received: { dashboard_id: string; pin: string; label: string; peer_ip: string };
  pair_status_changed: { dashboard_id: string; status: 'approved' | 'removed' };
  pairing_window_changed: { open: boolean; expires_in_seconds: number };
  receiver_session_opened: { dashboard_id: string; label: string };
  receiver_session_closed: { dashboard_id: string; reason: string };
}

export type CoreEventMap = JobEventMap & PeerLinkEventMap & ReceiverEventMap;

type Listener<T> = (payload: T) => void;

/**
 * Synchronous typed event bus. Listeners run in registration order inside `emit`; a throwing
 * listener is reported and never stops the others (one bad subscriber must not wedge a job).
 */
export class EventBus<M extends object = CoreEventMap> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (err: unknown, event: keyof M) => void = defaultReport) {}

  on<K extends keyof M>(event: K, listener: Listener<M[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<K extends keyof M>(event: K, payload: M[K]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<M[K]>)(payload);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }

  listenerCount<K extends keyof M>(event: K): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /**
   * Scoped subscription (upstream's `with bus.listening(...)`): the handlers are attached before
   * `body` runs and detached on every exit path, including throws.
   */
  async listening<R>(handlers: { [K in keyof M]?: Listener<M[K]> }, body: () => Promise<R> | R): Promise<R> {
    const offs: Array<() => void> = [];
    try {
      for (const key of Object.keys(handlers) as Array<keyof M>) {
        const h = handlers[key];
        if (h) offs.push(this.on(key, h));
      }
      return await body();
    } finally {
      for (const off of offs) off();
    }
  }
}

function defaultReport(err: unknown, event: unknown): void {
  console.error(`[kiln] listener for ${String(event)} threw:`, err);
}

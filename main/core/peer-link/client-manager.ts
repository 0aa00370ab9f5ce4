// Offloader client manager (peer-link-protocol.md §13): one long-lived session per approved,
// enabled pairing, reconnecting with exponential backoff, orphaning on the listed reasons, and
// turning validated receiver frames into core bus events.
import { outputLines } from '../esphome/line-splitter';
import type { EventBus, PeerLinkEventMap } from '../events';
import type { QueueStatus } from '../jobs/model';
import { RECONNECT_BASE_MS, RECONNECT_CAP_MS } from './constants';
import { openPeerLink, type SenderSession } from './client';
import { PeerLinkAuthRejectedError, PeerLinkNoSessionError, PeerLinkPinMismatchError } from './errors';
import { parseJobOutput, parseJobStateChanged, parseQueueStatus, type PeerMessage } from './frames';
import type { PeerLinkIdentity } from './identity';
import type { IntentResponse } from './intents';
import type { PairingChange, PairingStore } from './pairing-store';
import type { SessionTiming } from './session';

export type PeerLinkConnStatus = 'connected' | 'connecting' | 'disconnected';
export type PeerLinkAlert = 'pin_mismatch' | 'peer_revoked' | 'superseded';

export interface PeerLinkLastError {
  /** Local close reason (§12) or the wire terminate reason that ended the last session. */
  reason: string;
  detail: string;
  /** Unix ms. */
  at: number;
}

/** What the UI shows for one pairing. */
export interface PeerLinkPinState {
  pin: string;
  status: PeerLinkConnStatus;
  lastError: PeerLinkLastError | null;
  lastQueueStatus: QueueStatus | null;
  alert: PeerLinkAlert | null;
  /** Unix ms of the next reconnect attempt while waiting, else null. */
  nextRetryAt: number | null;
}

export interface PeerLinkClientManagerOptions extends SessionTiming {
  identity: PeerLinkIdentity;
  store: PairingStore;
  bus: EventBus;
  /** Sent as `friendly_name` in peer_link. */
  friendlyName?: () => string;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  prologue?: Uint8Array;
  debug?: (msg: string) => void;
}

/** Wait before attempt n+1 after n consecutive failures: base·2^(n-1), capped (1, 2, 4 … 30 s). */
export function backoffDelay(failures: number, baseMs = RECONNECT_BASE_MS, capMs = RECONNECT_CAP_MS): number {
  if (failures <= 0) return baseMs;
  return Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 30));
}

/** Reject reasons that orphan the pairing ("peer revoked", §13). */
const REVOKED_REASONS = new Set(['no_approved_peer', 'pin_mismatch']);

class PairingClient {
  session: SenderSession | undefined;
  readonly state: PeerLinkPinState;
  private running = false;
  private failures = 0;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(
    readonly pin: string,
    private readonly m: PeerLinkClientManager,
    private readonly o: PeerLinkClientManagerOptions,
  ) {
    this.state = { pin, status: 'disconnected', lastError: null, lastQueueStatus: null, alert: null, nextRetryAt: null };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop().catch((err) => this.debug(`client loop crashed: ${(err as Error).message}`));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake?.();
    await this.session?.close('client_stopped', 'the sender stopped its client');
    await this.loopDone;
  }

  private debug(msg: string): void {
    this.o.debug?.(`[${this.pin.slice(0, 8)}] ${msg}`);
  }

  private async loop(): Promise<void> {
    while (this.running && this.state.alert === null) {
      const pairing = this.o.store.get(this.pin);
      if (!pairing) break;
      this.update({ status: 'connecting', nextRetryAt: null });
      let reachedOk = false;
      try {
        const r = await openPeerLink({
          host: pairing.receiver_hostname,
          port: pairing.receiver_port,
          identity: this.o.identity,
          expectedPin: this.pin,
          dashboardId: this.o.store.dashboardId,
          friendlyName: this.o.friendlyName?.(),
          prologue: this.o.prologue,
          connectTimeoutMs: this.o.connectTimeoutMs,
          handshakeTimeoutMs: this.o.handshakeTimeoutMs,
          heartbeatIntervalMs: this.o.heartbeatIntervalMs,
          heartbeatDeadAfterMs: this.o.heartbeatDeadAfterMs,
          signal: this.abort.signal,
          debug: this.o.debug,
        });
        if (!this.running) {
          if (r.ok) await r.session.close('client_stopped', 'the sender stopped its client');
          break;
        }
        if (r.ok) {
          reachedOk = true;
          await this.runSession(r.session, r.response, pairing.label);
        } else {
          this.onRejected(r.response);
        }
      } catch (err) {
        if (!this.running) break;
        this.onError(err as Error);
      }
      if (!this.running || this.state.alert !== null) break;
      this.failures = reachedOk ? 1 : this.failures + 1;
      await this.sleep(backoffDelay(this.failures, this.o.backoffBaseMs, this.o.backoffCapMs));
    }
    if (this.state.status !== 'disconnected' || this.state.nextRetryAt !== null) this.update({ status: 'disconnected', nextRetryAt: null });
  }

  private async runSession(session: SenderSession, response: IntentResponse, label: string): Promise<void> {
    this.session = session;
    const closed = new Promise<{ reason: string; detail: string }>((resolve) => session.onClose((reason, detail) => resolve({ reason, detail })));
    session.onMessage((msg) => this.dispatch(msg));
    this.update({ status: 'connected' });
    // Opened goes out before any frame of this session is dispatched (frames are delivered from
    // the next macrotask on), so consumers always see opened → frames → closed.
    this.o.bus.emit('peer_link_opened', { pin: this.pin, label, esphome_version: response.esphome_version });
    this.o.store.setEsphomeVersion(this.pin, response.esphome_version, response.auto_provision_supported).catch((err) => this.debug(`could not store esphome_version: ${(err as Error).message}`));
    const { reason, detail } = await closed;
    this.session = undefined;
    const alert: PeerLinkAlert | null = reason === 'superseded' ? 'superseded' : null;
    this.update({ status: 'disconnected', lastError: { reason, detail, at: Date.now() }, alert: alert ?? this.state.alert });
    this.o.bus.emit('peer_link_closed', { pin: this.pin, reason, detail });
    if (alert) this.debug('superseded by another session of this sender: not reconnecting');
  }

  private onRejected(response: IntentResponse): void {
    const reason = response.reason ?? '';
    const detail = `${response.intent_response}${reason ? `/${reason}` : ''}`;
    const revoked = response.intent_response === 'rejected' && REVOKED_REASONS.has(reason);
    this.update({ status: 'disconnected', lastError: { reason: 'receiver_rejected', detail, at: Date.now() }, alert: revoked ? 'peer_revoked' : null });
    this.debug(`receiver answered ${detail}${revoked ? ': orphaned (peer revoked)' : ''}`);
  }

  private onError(err: Error): void {
    if (err instanceof PeerLinkPinMismatchError) {
      this.update({ status: 'disconnected', lastError: { reason: 'pin_mismatch', detail: err.message, at: Date.now() }, alert: 'pin_mismatch' });
      return;
    }
    const reason = err instanceof PeerLinkAuthRejectedError ? 'auth_rejected' : 'transport_error';
    this.update({ status: 'disconnected', lastError: { reason, detail: err.message, at: Date.now() } });
  }

  private dispatch(msg: PeerMessage): void {
    const bus = this.o.bus;
    switch (msg.type) {
      case 'queue_status': {
        const qs = parseQueueStatus(msg);
        if (!qs) return this.debug('ignoring malformed queue_status');
        this.state.lastQueueStatus = qs;
        bus.emit('offloader_queue_status', { pin: this.pin, ...qs });
        return;
      }
      case 'job_output': {
        const f = parseJobOutput(msg);
        if (!f) return this.debug('ignoring malformed job_output');
        // A build server under back-pressure coalesces lines into one frame (§6.2): one event per
        // line, so CR collapse, trims and phase markers downstream see lines as a local build's.
        for (const line of outputLines(f.line)) bus.emit('offloader_job_output', { pin: this.pin, job_id: f.job_id, line });
        return;
      }
      case 'job_state_changed': {
        const f = parseJobStateChanged(msg);
        if (!f) return this.debug('ignoring malformed job_state_changed');
        const payload: PeerLinkEventMap['offloader_job_state_changed'] = { pin: this.pin, job_id: f.job_id, status: f.status, error_message: f.error_message };
        if (f.failure_reason) payload.failure_reason = f.failure_reason;
        bus.emit('offloader_job_state_changed', payload);
        return;
      }
      default:
      // Other frames (submit_job_ack, artifacts_*, unknown) are for session.onMessage listeners.
    }
  }

  private sleep(ms: number): Promise<void> {
    this.update({ nextRetryAt: Date.now() + ms });
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    }).then(() => {
      this.wake = undefined;
      if (this.state.nextRetryAt !== null) this.update({ nextRetryAt: null });
    });
  }

  /** Cuts a backoff wait short (e.g. the receiver host reappeared). */
  poke(): void {
    this.wake?.();
  }

  private update(patch: Partial<PeerLinkPinState>): void {
    Object.assign(this.state, patch);
    this.m.emitState(this.state);
  }
}

/**
 * Keeps one session per approved, enabled pairing while `remote_builds_enabled` is on. Follows
 * the pairing store live: adding, re-pairing, enabling or disabling a pairing starts/stops its
 * client; a re-pair (pairing row written again) clears its alert and reconnects.
 */
export class PeerLinkClientManager {
  private readonly clients = new Map<string, PairingClient>();
  private readonly retired = new Map<string, PeerLinkPinState>();
  private storeOff: (() => void) | undefined;
  private started = false;

  constructor(private readonly opts: PeerLinkClientManagerOptions) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.storeOff = this.opts.store.onChange((pin, change) => this.onStoreChange(pin, change));
    this.sync();
  }

  /** Stops every client; open sessions get terminate{client_stopped}. */
  async stop(): Promise<void> {
    this.started = false;
    this.storeOff?.();
    this.storeOff = undefined;
    const all = [...this.clients.values()];
    this.clients.clear();
    for (const c of all) this.retired.set(c.pin, c.state);
    await Promise.all(all.map((c) => c.stop()));
  }

  /** The open session with the build server `pin`, or PeerLinkNoSessionError saying why not. */
  getSession(pin: string): SenderSession {
    const client = this.clients.get(pin);
    const session = client?.session;
    if (session && !session.closed) return session;
    throw new PeerLinkNoSessionError(pin, this.whyNoSession(pin, client));
  }

  /** Pins with an open session right now. */
  connectedPins(): string[] {
    return [...this.clients.values()].filter((c) => c.session && !c.session.closed).map((c) => c.pin);
  }

  state(pin: string): PeerLinkPinState | undefined {
    const s = this.clients.get(pin)?.state ?? this.retired.get(pin);
    return s ? { ...s } : undefined;
  }

  states(): PeerLinkPinState[] {
    return this.opts.store
      .list()
      .map((p) => this.state(p.pin_sha256))
      .filter((s): s is PeerLinkPinState => s !== undefined);
  }

  /** Cuts the backoff wait of one pairing short. */
  poke(pin: string): void {
    this.clients.get(pin)?.poke();
  }

  /** Clears an orphan alert and reconnects (same as re-pairing without a new handshake). */
  async reconnect(pin: string): Promise<void> {
    await this.restart(pin);
  }

  /** @internal */
  emitState(s: PeerLinkPinState): void {
    this.opts.bus.emit('peer_link_state_changed', { pin: s.pin, status: s.status, last_error: s.lastError ? { ...s.lastError } : null, alert: s.alert });
  }

  private whyNoSession(pin: string, client: PairingClient | undefined): string {
    const pairing = this.opts.store.get(pin);
    if (!pairing) return 'not paired with this build server';
    if (pairing.status !== 'approved') return 'the pairing has not been approved yet';
    if (!pairing.enabled) return 'the pairing is disabled';
    if (!this.opts.store.settings.remote_builds_enabled) return 'remote builds are turned off';
    if (!client) return 'the peer-link client is not running';
    const s = client.state;
    if (s.alert) return `stopped reconnecting (${s.alert})`;
    const last = s.lastError ? ` (last error: ${s.lastError.reason}${s.lastError.detail ? `: ${s.lastError.detail}` : ''})` : '';
    return `${s.status === 'connecting' ? 'still connecting' : 'not connected'}${last}`;
  }

  private wanted(): Set<string> {
    if (!this.opts.store.settings.remote_builds_enabled) return new Set();
    return new Set(
      this.opts.store
        .list()
        .filter((p) => p.status === 'approved' && p.enabled)
        .map((p) => p.pin_sha256),
    );
  }

  private sync(): void {
    if (!this.started) return;
    const wanted = this.wanted();
    for (const [pin, client] of this.clients) {
      if (!wanted.has(pin)) {
        this.clients.delete(pin);
        if (this.opts.store.get(pin)) this.retired.set(pin, client.state);
        else this.retired.delete(pin);
        void client.stop();
      }
    }
    for (const pin of wanted) {
      if (this.clients.has(pin)) continue;
      const client = new PairingClient(pin, this, this.opts);
      const prev = this.retired.get(pin);
      if (prev) {
        // Keep the UI's last error and alert across a disable/enable.
        client.state.lastError = prev.lastError;
        client.state.alert = prev.alert;
        this.retired.delete(pin);
      }
      this.clients.set(pin, client);
      client.start();
    }
    for (const pin of [...this.retired.keys()]) if (!this.opts.store.get(pin)) this.retired.delete(pin);
  }

  private async restart(pin: string): Promise<void> {
    const old = this.clients.get(pin);
    this.clients.delete(pin);
    this.retired.delete(pin);
    if (old) await old.stop();
    this.sync();
  }

  private onStoreChange(pin: string, change: PairingChange): void {
    if (change === 'esphome_version' || change === 'pending') return;
    // A pairing written again (re-pair) clears its alert and starts afresh.
    if ((change === 'added' || change === 'approved') && this.clients.has(pin)) {
      void this.restart(pin);
      return;
    }
    this.sync();
  }
}

// Receiver-side pairing state and decision rules (peer-link-protocol.md §4.3, §5): APPROVED rows
// from the store, PENDING rows in RAM, the pairing window, key mode, and change notifications
// for waiting pair_status polls.
import { ApiError } from '../errors';
import type { EventBus } from '../events';
import { defaultReporter, type Reporter } from './atomic-json';
import { PAIRING_KEY_WINDOW_MS, type IntentResponseKind, type RejectReason } from './constants';
import { generatePairingKey, pairingKeysMatch } from './pairing-key';
import { PairingWindow } from './pairing-window';
import type { ApprovedSenderStore, StoredPeer } from './approved-senders';

export interface PendingPeer extends StoredPeer {
  label_auto: boolean;
}

/** What the receiver answers (the rest of the response frame is filled in by the listener). */
export interface Decision {
  intent_response: IntentResponseKind;
  reason?: RejectReason;
}

export interface PairRequestInput {
  dashboardId: string;
  pin: string;
  staticKey: Buffer;
  label: string;
  labelAuto: boolean;
  friendlyName: string;
  haAddon: boolean;
  peerIp: string;
  pairingKey?: unknown;
}

export interface KeyModeOptions {
  /** Defaults to a fresh random key. */
  key?: string;
  /** Bootstrap window length (default 900 s). */
  windowMs?: number;
  /** Optional source-IP allow-list for the key-mode approval. */
  allowedSources?: string[];
}

/** Bounds on what unauthenticated peers can make the pairing window hold (issue 11, defect 2). */
export interface PairingLimits {
  /** PENDING rows in the window at once; newcomers beyond are refused, the oldest stay. Default 16. */
  maxPending?: number;
  /** PENDING rows from one remote address. Default 4. */
  maxPendingPerAddress?: number;
  /** pair_requests one address may make per minute (approved senders are not counted). Default 30. */
  pairRequestsPerAddressPerMinute?: number;
}

export interface ReceiverPairingOptions {
  store: ApprovedSenderStore;
  limits?: PairingLimits;
  bus: EventBus;
  windowIdleMs?: number;
  report?: Reporter;
  now?: () => number;
}

const KEY_MODE_HOLDER = 'key-mode';
export const DEFAULT_MAX_PENDING = 16;
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 4;
export const DEFAULT_PAIR_REQUESTS_PER_ADDRESS_PER_MINUTE = 30;
/** Addresses remembered by the rate limiter; the least recently seen is forgotten beyond this. */
const RATE_TABLE_MAX = 4096;

export class ReceiverPairing {
  readonly store: ApprovedSenderStore;
  readonly window: PairingWindow;
  private readonly bus: EventBus;
  private readonly pendingRows = new Map<string, PendingPeer>();
  private readonly changeListeners = new Set<(dashboardId: string, status: 'approved' | 'removed' | 'pending') => void>();
  private readonly removedListeners = new Set<(dashboardId: string) => void>();
  private keyMode: { key: string; allowedSources?: Set<string> } | undefined;
  private keyModeWriting = false;
  private readonly report: Reporter;
  private readonly now: () => number;
  private readonly limits: Required<PairingLimits>;
  /** Recent pair_request times (ms) per remote address, for the per-address rate limit. */
  private readonly recentRequests = new Map<string, number[]>();

  constructor(opts: ReceiverPairingOptions) {
    this.store = opts.store;
    this.limits = {
      maxPending: opts.limits?.maxPending ?? DEFAULT_MAX_PENDING,
      maxPendingPerAddress: opts.limits?.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS,
      pairRequestsPerAddressPerMinute: opts.limits?.pairRequestsPerAddressPerMinute ?? DEFAULT_PAIR_REQUESTS_PER_ADDRESS_PER_MINUTE,
    };
    this.bus = opts.bus;
    this.report = opts.report ?? defaultReporter;
    this.now = opts.now ?? Date.now;
    this.window = new PairingWindow({
      idleMs: opts.windowIdleMs,
      now: this.now,
      onChange: (open, expires) => this.bus.emit('pairing_window_changed', { open, expires_in_seconds: expires }),
      onClose: () => this.onWindowClosed(),
    });
  }

  // ---- UI-facing API -------------------------------------------------------------------------

  pending(): PendingPeer[] {
    return [...this.pendingRows.values()].map((p) => ({ ...p }));
  }

  approved(): StoredPeer[] {
    return this.store.list();
  }

  /**
   * Approves a PENDING row: it is written to disk before anything else changes. A failed write
   * leaves the request PENDING (the user can retry) and throws.
   */
  async approve(dashboardId: string): Promise<StoredPeer> {
    const row = this.pendingRows.get(dashboardId);
    if (!row) throw new ApiError('not_found', 'That request is no longer pending');
    const { label_auto: _labelAuto, ...peer } = row;
    try {
      await this.store.putDurable(peer);
    } catch (err) {
      throw new ApiError('internal_error', `could not save the pairing: ${(err as Error).message}`);
    }
    this.pendingRows.delete(dashboardId);
    this.emitStatus(dashboardId, 'approved');
    return peer;
  }

  /** Rejects (deletes) a PENDING row; the waiting poll answers `rejected`. */
  reject(dashboardId: string): void {
    if (!this.pendingRows.delete(dashboardId)) throw new ApiError('not_found', 'That request is no longer pending');
    this.emitStatus(dashboardId, 'removed');
  }

  /** Revokes an approved sender (its live session is closed by the listener). */
  async removePeer(dashboardId: string): Promise<boolean> {
    if (!this.store.remove(dashboardId)) return false;
    await this.store.flush();
    this.emitStatus(dashboardId, 'removed');
    for (const fn of [...this.removedListeners]) fn(dashboardId);
    return true;
  }

  /** Fired when an APPROVED sender is removed (the listener ends its session). */
  onPeerRemoved(fn: (dashboardId: string) => void): () => void {
    this.removedListeners.add(fn);
    return () => this.removedListeners.delete(fn);
  }

  /** Opens (or joins) the window for a UI holder; idempotent per holder id. */
  openWindow(holder: string): void {
    this.window.acquire(holder);
  }

  extendWindow(): boolean {
    return this.window.extend();
  }

  releaseWindow(holder: string): void {
    this.window.release(holder);
  }

  closeWindow(): void {
    this.window.close();
  }

  /** Arms headless key mode: returns the one-time key and opens the bootstrap window. */
  armKeyMode(opts: KeyModeOptions = {}): string {
    const key = opts.key ?? generatePairingKey();
    this.keyMode = { key, allowedSources: opts.allowedSources ? new Set(opts.allowedSources) : undefined };
    this.window.acquire(KEY_MODE_HOLDER, opts.windowMs ?? PAIRING_KEY_WINDOW_MS);
    return key;
  }

  disarmKeyMode(): void {
    if (!this.keyMode) return;
    this.keyMode = undefined;
    this.window.release(KEY_MODE_HOLDER);
  }

  get keyModeArmed(): boolean {
    return this.keyMode !== undefined;
  }

  // ---- decision rules ------------------------------------------------------------------------

  /** pair_request, steps 1–5 of §4.3. */
  async pairRequest(req: PairRequestInput): Promise<Decision> {
    const approved = this.store.get(req.dashboardId);
    if (approved) {
      return approved.pin_sha256 === req.pin ? { intent_response: 'approved' } : { intent_response: 'rejected', reason: 'pin_mismatch' };
    }
    if (!this.window.isOpen) return { intent_response: 'no_pairing_window' };
    // Unauthenticated input: bounded per address and in total. Refusals use the existing
    // `no_pairing_window` (what key mode answers for every refusal, §5.3): the window cannot take
    // this request; a sender retries later.
    if (!this.admitRequestFrom(req.peerIp)) return { intent_response: 'no_pairing_window' };
    // An armed key is checked whether or not senders exist: `kiln receiver --pairing-key K`
    // adds a sender to a build server that already has some (issue 11, defect 12).
    if (this.keyMode) return this.keyModeRequest(req);
    const existing = this.pendingRows.get(req.dashboardId);
    if (existing && existing.pin_sha256 !== req.pin) return { intent_response: 'rejected', reason: 'pin_mismatch' };
    if (!existing) {
      // The oldest rows stay; newcomers are refused while the window is full.
      if (this.pendingRows.size >= this.limits.maxPending) return { intent_response: 'no_pairing_window' };
      let fromAddress = 0;
      for (const row of this.pendingRows.values()) if (row.peer_ip === req.peerIp) fromAddress++;
      if (fromAddress >= this.limits.maxPendingPerAddress) return { intent_response: 'no_pairing_window' };
    }
    const row: PendingPeer = {
      dashboard_id: req.dashboardId,
      pin_sha256: req.pin,
      static_x25519_pub: Buffer.from(req.staticKey),
      label: req.label,
      label_auto: req.labelAuto,
      paired_at: this.now() / 1000,
      peer_ip: req.peerIp,
      connect_back_port: 0,
      friendly_name: req.friendlyName,
      ha_addon: req.haAddon,
    };
    this.pendingRows.set(req.dashboardId, row);
    this.bus.emit('pair_request_received', { dashboard_id: row.dashboard_id, pin: row.pin_sha256, label: row.label, peer_ip: row.peer_ip });
    this.emitStatus(req.dashboardId, 'pending');
    return { intent_response: 'pending' };
  }

  /**
   * Lookup shared by peer_link (`ok`) and pair_status (`approved`). A PENDING row answers
   * `pending` / `pending_not_approved`.
   */
  lookup(dashboardId: string, pin: string, okWord: 'ok' | 'approved'): Decision {
    const pending = this.pendingRows.get(dashboardId);
    if (pending) {
      return pending.pin_sha256 === pin ? { intent_response: 'pending', reason: 'pending_not_approved' } : { intent_response: 'rejected', reason: 'pin_mismatch' };
    }
    const approved = this.store.get(dashboardId);
    if (approved) return approved.pin_sha256 === pin ? { intent_response: okWord } : { intent_response: 'rejected', reason: 'pin_mismatch' };
    return { intent_response: 'rejected', reason: 'no_approved_peer' };
  }

  /**
   * pair_status long-poll: subscribes to changes first, then looks up; while the row is PENDING
   * with this pin, waits for the next change. No server-side timeout; `signal` aborts (client
   * gone or listener shutting down) with an AbortError.
   */
  async waitForDecision(dashboardId: string, pin: string, signal?: AbortSignal): Promise<Decision> {
    let wake: (() => void) | undefined;
    let changed = false;
    const off = this.onStatusChange((id) => {
      if (id !== dashboardId) return;
      changed = true;
      wake?.();
    });
    try {
      for (;;) {
        changed = false;
        const decision = this.lookup(dashboardId, pin, 'approved');
        if (decision.intent_response !== 'pending') return decision;
        if (changed) continue;
        await new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(abortError());
          const onAbort = () => reject(abortError());
          signal?.addEventListener('abort', onAbort, { once: true });
          wake = () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      off();
    }
  }

  /** Internal change stream (also mirrored on the bus as pair_status_changed). */
  onStatusChange(fn: (dashboardId: string, status: 'approved' | 'removed' | 'pending') => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  /** Refreshes peer_ip / connect_back_port / display fields of an APPROVED row on register. */
  refreshApproved(dashboardId: string, patch: { peerIp?: string; connectBackPort?: number; friendlyName?: string; haAddon?: boolean }): StoredPeer | undefined {
    const row = this.store.get(dashboardId);
    if (!row) return undefined;
    const next: StoredPeer = { ...row };
    // Never overwrite a known value with an empty one (§15).
    if (patch.peerIp) next.peer_ip = patch.peerIp;
    if (patch.connectBackPort && patch.connectBackPort > 0) next.connect_back_port = patch.connectBackPort;
    if (patch.friendlyName) next.friendly_name = patch.friendlyName;
    if (patch.haAddon !== undefined) next.ha_addon = patch.haAddon;
    if (next.peer_ip !== row.peer_ip || next.connect_back_port !== row.connect_back_port || next.friendly_name !== row.friendly_name || next.ha_addon !== row.ha_addon) {
      this.store.put(next);
    }
    return next;
  }

  private async keyModeRequest(req: PairRequestInput): Promise<Decision> {
    const km = this.keyMode!;
    const sourceOk = !km.allowedSources || km.allowedSources.has(req.peerIp);
    // Evaluate the key even when the source is refused so both refusals take the same path.
    const keyOk = pairingKeysMatch(km.key, req.pairingKey);
    // One approval at a time: a second matching request while the first is being written is refused.
    if (!sourceOk || !keyOk || this.keyModeWriting) return { intent_response: 'no_pairing_window' };
    const peer: StoredPeer = {
      dashboard_id: req.dashboardId,
      pin_sha256: req.pin,
      static_x25519_pub: Buffer.from(req.staticKey),
      label: req.label,
      paired_at: this.now() / 1000,
      peer_ip: req.peerIp,
      connect_back_port: 0,
      friendly_name: req.friendlyName,
      ha_addon: req.haAddon,
    };
    // MUST be on disk before answering (§15). A failed write refuses and keeps the key armed.
    this.keyModeWriting = true;
    try {
      await this.store.putDurable(peer);
    } catch (err) {
      this.report(`could not save the pairing of ${req.dashboardId}; the pairing key stays armed: ${(err as Error).message}`);
      return { intent_response: 'no_pairing_window' };
    } finally {
      this.keyModeWriting = false;
    }
    this.keyMode = undefined;
    this.window.close();
    this.emitStatus(req.dashboardId, 'approved');
    return { intent_response: 'approved' };
  }

  /** Sliding one-minute window of pair_requests per address; false when over the limit. */
  private admitRequestFrom(address: string): boolean {
    const now = this.now();
    const times = (this.recentRequests.get(address) ?? []).filter((t) => now - t < 60_000);
    this.recentRequests.delete(address); // re-inserted last: Map order = least recently seen first
    if (times.length >= this.limits.pairRequestsPerAddressPerMinute) {
      this.recentRequests.set(address, times);
      return false;
    }
    times.push(now);
    this.recentRequests.set(address, times);
    while (this.recentRequests.size > RATE_TABLE_MAX) this.recentRequests.delete(this.recentRequests.keys().next().value as string);
    return true;
  }

  private onWindowClosed(): void {
    // The key is only good for its bootstrap window.
    this.keyMode = undefined;
    const dropped = [...this.pendingRows.keys()];
    this.pendingRows.clear();
    for (const id of dropped) this.emitStatus(id, 'removed');
  }

  private emitStatus(dashboardId: string, status: 'approved' | 'removed' | 'pending'): void {
    for (const fn of [...this.changeListeners]) {
      try {
        fn(dashboardId, status);
      } catch (err) {
        this.report(`pair status listener threw: ${(err as Error).message}`);
      }
    }
    if (status !== 'pending') this.bus.emit('pair_status_changed', { dashboard_id: dashboardId, status });
  }
}

function abortError(): Error {
  const err = new Error('aborted');
  err.name = 'AbortError';
  return err;
}

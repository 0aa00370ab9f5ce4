// The receiver's pairing window (peer-link-protocol.md §5.2): open while at least one holder
// (a UI client showing "Pairing requests", or key mode) keeps it and its idle deadline has not
// passed; every open/extend resets the deadline.
import { PAIRING_WINDOW_IDLE_MS } from './constants';

export interface PairingWindowOptions {
  idleMs?: number;
  /** Fired on every open/extend/close with the state after the change. */
  onChange?: (open: boolean, expiresInSeconds: number) => void;
  /** Fired once per close (the owner drops all PENDING rows here). */
  onClose?: () => void;
  now?: () => number;
}

export class PairingWindow {
  private readonly holders = new Set<string>();
  private deadline = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: PairingWindowOptions = {}) {
    this.idleMs = opts.idleMs ?? PAIRING_WINDOW_IDLE_MS;
    this.now = opts.now ?? Date.now;
  }

  get isOpen(): boolean {
    return this.holders.size > 0;
  }

  get holderCount(): number {
    return this.holders.size;
  }

  /** Whole seconds until the idle deadline (0 when closed). */
  get expiresInSeconds(): number {
    return this.isOpen ? Math.max(0, Math.ceil((this.deadline - this.now()) / 1000)) : 0;
  }

  /** Adds a holder (idempotent per id) and resets the deadline to `ttlMs` from now. */
  acquire(holder: string, ttlMs = this.idleMs): void {
    this.holders.add(holder);
    this.arm(ttlMs);
  }

  /** Resets the deadline of an open window; no effect when closed. */
  extend(ttlMs = this.idleMs): boolean {
    if (!this.isOpen) return false;
    this.arm(ttlMs);
    return true;
  }

  /** Removes a holder; the window closes when the last one leaves. */
  release(holder: string): void {
    if (!this.holders.delete(holder)) return;
    if (this.holders.size === 0) this.finish();
  }

  close(): void {
    if (!this.isOpen) return;
    this.holders.clear();
    this.finish();
  }

  private arm(ttlMs: number): void {
    this.deadline = this.now() + ttlMs;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(), ttlMs);
    this.timer.unref?.();
    this.opts.onChange?.(true, this.expiresInSeconds);
  }

  private finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.deadline = 0;
    this.opts.onChange?.(false, 0);
    this.opts.onClose?.();
  }
}

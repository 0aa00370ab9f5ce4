// Lanes (firmware-jobs.md §4): a FIFO of waiting jobs and a fixed number of slots. The engine
// claims a slot before `job_started` and releases it before the terminal event.
import type { FirmwareJob, QueueStatus } from './model';

export type LaneName = 'compile' | 'upload';

/** Upload lane slots (`_UPLOAD_SLOTS`), and with esphome ≥ 2026.8 (`_UPLOAD_SLOTS_LEAN_SUBPROCESS`). */
export const UPLOAD_SLOTS = 4;
export const UPLOAD_SLOTS_LEAN_SUBPROCESS = 9;
const LEAN_SUBPROCESS_SINCE: readonly [number, number] = [2026, 8];

/**
 * Upload concurrency for an installed esphome version: 9 from 2026.8 on (its upload subprocess
 * is lean enough), else 4. Pre-releases of 2026.8 (`2026.8.0b1`, `2026.8.0-dev`) count as 2026.8;
 * an unknown or unparsable version gets the conservative 4.
 */
export function uploadSlotsForVersion(version: string | null | undefined): number {
  const m = /^\s*v?(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return UPLOAD_SLOTS;
  const [year, month] = [Number(m[1]), Number(m[2])];
  const [y, mo] = LEAN_SUBPROCESS_SINCE;
  return year > y || (year === y && month >= mo) ? UPLOAD_SLOTS_LEAN_SUBPROCESS : UPLOAD_SLOTS;
}

export class Lane {
  private readonly waiting: FirmwareJob[] = [];
  private readonly runningIds = new Set<string>();

  private slotCount: number;

  constructor(
    readonly name: LaneName,
    slots: number,
  ) {
    this.slotCount = checkSlots(name, slots);
  }

  get slots(): number {
    return this.slotCount;
  }

  /** Change the concurrency; running jobs keep their slots (a smaller count applies as they end). */
  setSlots(slots: number): void {
    this.slotCount = checkSlots(this.name, slots);
  }

  push(job: FirmwareJob): void {
    if (!this.waiting.includes(job)) this.waiting.push(job);
  }

  /** Remove a waiting job; false if it was not waiting here. */
  remove(jobId: string): boolean {
    const i = this.waiting.findIndex((j) => j.job_id === jobId);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  isWaiting(jobId: string): boolean {
    return this.waiting.some((j) => j.job_id === jobId);
  }

  hasFreeSlot(): boolean {
    return this.runningIds.size < this.slotCount;
  }

  /**
   * Take the first waiting job `ready` accepts and claim a slot for it (jobs held by the build
   * gate stay in place, in order). Null when no slot is free or nothing is ready.
   */
  takeNext(ready: (job: FirmwareJob) => boolean): FirmwareJob | null {
    if (!this.hasFreeSlot()) return null;
    const i = this.waiting.findIndex(ready);
    if (i < 0) return null;
    const [job] = this.waiting.splice(i, 1);
    if (job === undefined) return null; // i came from findIndex on this array: never
    this.runningIds.add(job.job_id);
    return job;
  }

  release(jobId: string): void {
    this.runningIds.delete(jobId);
  }

  get runningCount(): number {
    return this.runningIds.size;
  }

  get waitingJobs(): readonly FirmwareJob[] {
    return this.waiting;
  }

  status(): QueueStatus {
    return { idle: this.runningIds.size === 0 && this.waiting.length === 0, running: this.runningIds.size > 0, queue_depth: this.waiting.length };
  }
}

function checkSlots(name: LaneName, slots: number): number {
  if (!Number.isInteger(slots) || slots < 1) throw new Error(`lane ${name}: slots must be a positive integer`);
  return slots;
}

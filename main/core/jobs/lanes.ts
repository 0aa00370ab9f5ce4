// Lanes (firmware-jobs.md §4): a FIFO of waiting jobs and a fixed number of slots. The engine
// claims a slot before `job_started` and releases it before the terminal event.
import type { FirmwareJob, QueueStatus } from './model';

export type LaneName = 'compile' | 'upload';

export class Lane {
  private readonly waiting: FirmwareJob[] = [];
  private readonly runningIds = new Set<string>();

  constructor(
    readonly name: LaneName,
    readonly slots: number,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`lane ${name}: slots must be a positive integer`);
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
    return this.runningIds.size < this.slots;
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

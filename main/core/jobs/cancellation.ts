// Cancel semantics (firmware-jobs.md §7, "user intent wins") and install-chain settling: a queued
// job is cancelled at once (with its held dependents), persisted, then announced; a running job
// records the request and its process group is terminated, and the run then ends cancelled
// whatever it reports. When a chain head ends, its dependents are released or cancelled.
import { markTerminal, type CancelledBy, type FirmwareJob } from './model';
import { trimTerminal } from './output';
import type { EngineContext } from './engine-context';

export const PREREQUISITE_FAILED = 'prerequisite job did not complete successfully';

export class Cancellation {
  constructor(private readonly ctx: EngineContext) {}

  /** Cancel a queued or running job; other statuses are left alone. */
  request(job: FirmwareJob, by: CancelledBy, reason: string | null): Promise<void> {
    if (job.status === 'queued') return this.cancelQueued(job, by, reason);
    if (job.status !== 'running') return Promise.resolve();
    if (!this.ctx.cancelRequests.has(job.job_id)) this.ctx.cancelRequests.set(job.job_id, { reason, by });
    this.ctx.runs.get(job.job_id)?.cancel.abort();
    return Promise.resolve();
  }

  /** Queued → cancelled now (with held dependents), persisted, then the events; never dispatched. */
  async cancelQueued(job: FirmwareJob, by: CancelledBy, reason: string | null): Promise<void> {
    const { ctx } = this;
    if (job.status !== 'queued') return;
    const cancelled: Array<{ job: FirmwareJob; by: CancelledBy }> = [];
    const mark = (j: FirmwareJob, who: CancelledBy, why: string | null): void => {
      ctx.removeFromLanes(j.job_id);
      markTerminal(j, 'cancelled', why, who);
      trimTerminal(j);
      cancelled.push({ job: j, by: who });
    };
    mark(job, by, reason);
    // An array iterator also visits entries `mark` pushes while it runs: dependents of dependents.
    for (const done of cancelled) {
      ctx.cancelEventsPending.add(done.job.job_id);
      for (const dep of ctx.jobs.values()) {
        if (dep.depends_on === done.job.job_id && dep.status === 'queued' && !dep.dependency_released) {
          mark(dep, 'prerequisite', PREREQUISITE_FAILED);
        }
      }
    }
    ctx.prune();
    await ctx.persist();
    for (const c of cancelled) {
      ctx.cancelEventsPending.delete(c.job.job_id);
      ctx.bus.emit('job_cancelled', { job: c.job, by: c.by });
      // A pool dispatch held by a pause ends here: it will never run.
      const held = ctx.heldDispatches.get(c.job.job_id);
      if (held) {
        ctx.heldDispatches.delete(c.job.job_id);
        held.release(Promise.resolve());
      }
    }
    ctx.schedulePump(); // the build gate may have opened
    if (job.source === 'remote_pending' || job.source === 'remote') ctx.wakePool();
  }

  /** A head ended: completed → release held dependents onto their lanes; otherwise cancel them. */
  settleDependents(head: FirmwareJob): void {
    const { ctx } = this;
    for (const dep of ctx.jobs.values()) {
      if (dep.depends_on !== head.job_id || dep.status !== 'queued' || dep.dependency_released) continue;
      if (head.status === 'completed') {
        dep.dependency_released = true;
        ctx.place(dep);
      } else {
        void this.cancelQueued(dep, 'prerequisite', PREREQUISITE_FAILED);
      }
    }
    if (head.status === 'completed') {
      void ctx.persist();
      ctx.schedulePump();
    }
  }
}

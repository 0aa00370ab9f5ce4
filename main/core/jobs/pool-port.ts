// The surface the scheduler's dispatch pool drives (firmware-jobs.md §11.3): queued
// `remote_pending` compiles wait here until the pool binds one to a build server (run off-lane
// through the remote runner), sends it to the local compile lane, or fails it.
import { ApiError } from '../errors';
import type { Cancellation } from './cancellation';
import { newestFirst, type EngineContext } from './engine-context';
import { markTerminal, type FirmwareJob } from './model';
import type { PauseControl } from './pause';
import type { RemoteBinding } from './remote';
import { prepareRemote } from './remote-run';
import type { RunLifecycle } from './run-lifecycle';
import type { BundlePriority } from '../esphome/bundle-slots';

export class PoolPort {
  constructor(
    private readonly ctx: EngineContext,
    private readonly runs: RunLifecycle,
    private readonly pause: PauseControl,
    private readonly cancellation: Cancellation,
  ) {}

  /** Queued `remote_pending` jobs waiting for the pool, oldest first. */
  pendingRemoteJobs(): FirmwareJob[] {
    return newestFirst([...this.ctx.jobs.values()])
      .reverse()
      .filter((j) => j.status === 'queued' && j.source === 'remote_pending');
  }

  /** Bind a pending job to a build server and run it off-lane; resolves when the run has ended. */
  dispatchRemote(jobId: string, binding: RemoteBinding): Promise<void> {
    this.ctx.assertStarted();
    const job = this.requirePending(jobId);
    job.source = 'remote';
    job.source_pin_sha256 = binding.pin;
    job.source_label = binding.label ?? '';
    job.source_esphome_version = binding.esphomeVersion ?? '';
    if (this.ctx.paused) return this.pause.hold(job);
    return this.runs.execute(job, null);
  }

  /** Bundle a pending job before its dispatch (it stays queued and unbound; see RemotePreparerFn). */
  async prepareRemote(jobId: string, signal: AbortSignal, priority: BundlePriority = 'ahead'): Promise<void> {
    const job = this.ctx.jobs.get(jobId);
    if (!job || job.status !== 'queued' || job.source !== 'remote_pending') return;
    await prepareRemote(this.ctx, job, signal, priority);
  }

  /** Run a pending job locally on the compile lane. */
  dispatchLocal(jobId: string): void {
    const job = this.requirePending(jobId);
    job.source = 'local';
    this.ctx.lanes.compile.push(job);
    void this.ctx.persist();
    this.ctx.schedulePump();
  }

  /** The pool is going away: every pending job runs locally (no-op unless the engine is started). */
  runPendingLocally(): void {
    if (this.ctx.state !== 'started') return;
    for (const job of this.pendingRemoteJobs()) this.dispatchLocal(job.job_id);
  }

  /** Fail a queued job without running it (e.g. `no_compatible_peer`). */
  async failQueued(jobId: string, error: string): Promise<void> {
    const { ctx } = this;
    const job = ctx.jobs.get(jobId);
    if (!job || job.status !== 'queued') throw new ApiError('invalid_args', `Job ${jobId} is not queued`);
    ctx.removeFromLanes(job.job_id);
    markTerminal(job, 'failed', error);
    ctx.prune();
    await ctx.persist();
    ctx.bus.emit('job_failed', { job });
    this.cancellation.settleDependents(job);
    ctx.schedulePump();
  }

  private requirePending(jobId: string): FirmwareJob {
    const job = this.ctx.jobs.get(jobId);
    if (!job || job.status !== 'queued' || job.source !== 'remote_pending') {
      throw new ApiError('invalid_args', `Job ${jobId} is not waiting for dispatch`);
    }
    return job;
  }
}

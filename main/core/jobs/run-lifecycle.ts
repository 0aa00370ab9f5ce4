// Lanes and runs (firmware-jobs.md §4, §6): the pump takes waiting jobs off the two lanes as slots
// and the build gate allow, each run goes mark_running → job_started → persist → local process or
// remote runner → the shared end-of-run bookkeeping (cancel intent wins, exit code, failure
// reason, terminal event, dependents, prune, persist, wake-ups). A pool job whose build server was
// lost is re-routed to the pool instead of ending.
import { ErrorScrape } from './error-scrape';
import { errorText, type EngineContext, type Outcome, type RunState } from './engine-context';
import { resetProgress } from './ingest';
import type { Cancellation } from './cancellation';
import type { Lane } from './lanes';
import { runLocal } from './local-run';
import { clearRunState, isActive, isNetworkFlash, markRunning, markTerminal, revertToPendingRemote, wipesLocalBuildTree, type CancelledBy, type FirmwareJob } from './model';
import { trimTerminal } from './output';
import { runRemote } from './remote-run';

export class RunLifecycle {
  constructor(
    private readonly ctx: EngineContext,
    private readonly cancellation: Cancellation,
  ) {}

  /** Start every waiting job the lanes' slots and the build gate allow (never while paused). */
  pump(): void {
    const { ctx } = this;
    if (ctx.state !== 'started' || ctx.paused) return;
    for (const lane of [ctx.lanes.compile, ctx.lanes.upload]) {
      for (;;) {
        const job = lane.takeNext((j) => j.status === 'queued' && this.gateOpen(j));
        if (!job) break;
        void this.execute(job, lane);
      }
    }
  }

  /** Run a job; `lane` is the slot it holds (null: an off-lane pool dispatch). Resolves when it ended. */
  execute(job: FirmwareJob, lane: Lane | null): Promise<void> {
    const cancel = new AbortController();
    const shutdown = new AbortController();
    if (this.ctx.cancelRequests.has(job.job_id)) cancel.abort();
    const run: RunState = {
      job,
      lane,
      cancel,
      shutdown,
      procSignal: AbortSignal.any([cancel.signal, shutdown.signal]),
      scrape: new ErrorScrape(),
      finalized: false,
      done: Promise.resolve(),
    };
    this.ctx.runs.set(job.job_id, run);
    run.done = this.executeRun(run).catch((err) => this.ctx.warn(`job ${job.job_id}: ${errorText(err)}`));
    return run.done;
  }

  /** End-of-run bookkeeping shared by the local and remote paths (§6 steps 9–12). */
  finish(run: RunState, outcome: Outcome): void {
    const { ctx } = this;
    if (run.finalized) return;
    run.finalized = true;
    const { job } = run;
    const id = job.job_id;
    ctx.runs.delete(id);
    const request = ctx.cancelRequests.get(id);
    if (outcome.status === 'reroute' && !request && ctx.state === 'started') {
      this.reroute(run);
      return;
    }
    let status: 'completed' | 'failed' | 'cancelled' = outcome.status === 'reroute' ? 'cancelled' : outcome.status;
    let error: string | null = outcome.error ?? null;
    let by: CancelledBy | '' = '';
    if (request) {
      // User intent wins over whatever the run reported.
      status = 'cancelled';
      error = request.reason;
      by = request.by;
    } else if (status === 'cancelled') {
      // Nobody here asked: the engine is shutting down, or the build server cancelled it.
      by = outcome.cancelledBy ?? (run.shutdown.signal.aborted ? 'shutdown' : job.source === 'remote' ? 'remote' : 'user');
    } else if (status === 'failed' && !error) {
      error = 'failed';
    } else if (status === 'completed') {
      error = null;
    }
    if (outcome.exitCode !== undefined) job.exit_code = outcome.exitCode;
    job.failure_reason = status === 'failed' ? (outcome.failureReason ?? '') : '';
    markTerminal(job, status, error, by);
    trimTerminal(job);
    run.lane?.release(id);
    ctx.cancelRequests.delete(id);
    if (status === 'cancelled') ctx.bus.emit('job_cancelled', { job, by: by || 'user' });
    else ctx.bus.emit(`job_${status}`, { job });
    this.cancellation.settleDependents(job);
    ctx.prune();
    void ctx.persist();
    ctx.schedulePump();
    if (run.lane === ctx.lanes.compile || run.lane === null) ctx.wakePool();
  }

  private async executeRun(run: RunState): Promise<void> {
    const { job } = run;
    markRunning(job);
    this.ctx.bus.emit('job_started', { job });
    // A build server's job (remote_peer set) spawns without waiting for this write: after a
    // crash the build server cancels every job it held for a sender anyway (cancelBuildServerJobs),
    // so the wait bought nothing there and was ~100 ms of fsync between two builds under load.
    const persisted = this.ctx.persist();
    if (job.remote_peer === '') await persisted;
    let outcome: Outcome;
    try {
      // A remote runner is called even after an early cancel: its cancel signal replays it.
      if (job.source === 'remote' && !run.shutdown.signal.aborted) outcome = await runRemote(this.ctx, run);
      else if (run.procSignal.aborted) outcome = { status: 'cancelled' };
      else outcome = await runLocal(this.ctx, run);
    } catch (err) {
      outcome = { status: 'failed', error: errorText(err) };
    }
    this.finish(run, outcome);
  }

  /** Pool mode, build server lost: back to `remote_pending`, progress reset, to the pool again. */
  private reroute(run: RunState): void {
    const { ctx } = this;
    const { job } = run;
    revertToPendingRemote(job);
    clearRunState(job);
    job.status = 'queued';
    resetProgress(job, ctx.bus);
    run.lane?.release(job.job_id);
    ctx.bus.emit('job_queued', { job });
    ctx.place(job);
    void ctx.persist();
    ctx.schedulePump();
  }

  /** Flashes wait while a job that wipes the local build tree is active (reset: all; clean: same configuration). */
  private gateOpen(job: FirmwareJob): boolean {
    if (!isNetworkFlash(job)) return true;
    for (const w of this.ctx.jobs.values()) {
      if (w !== job && isActive(w) && wipesLocalBuildTree(w) && (w.job_type === 'reset_build_env' || w.configuration === job.configuration)) {
        return false;
      }
    }
    return true;
  }
}

// Kiln's local firmware job engine (firmware-jobs.md §3–§8, §13–§14), composed of parts with one
// job each: admission (enqueue, install chains, supersede, validation), the run lifecycle (lanes,
// build gate, local and remote runs, end-of-run bookkeeping), cancellation, queue pause, the
// dispatch-pool port and restart recovery, over a shared context (engine-context.ts). Hooks from
// other layers (remote runner, build-path picker, dispatch pool, per-job env) are constructor
// options. Everything observable goes through the typed event bus.
import { ApiError } from '../errors';
import { EventBus } from '../events';
import { Admission } from './admission';
import { Cancellation } from './cancellation';
import { EngineContext, newestFirst, type EngineOptions } from './engine-context';
import { uploadSlotsForVersion, type LaneName } from './lanes';
import { isTerminal, TERMINAL_STATUSES, type CancelledBy, type FirmwareJob, type JobStatus, type QueueStatus } from './model';
import { PauseControl } from './pause';
import { PoolPort } from './pool-port';
import { loadAndRecover } from './recovery';
import type { RemoteBinding } from './remote';
import { RunLifecycle } from './run-lifecycle';
import { reduceMemory } from './release-memory';
import type { BundlePriority } from '../esphome/bundle-slots';

/** A jobs.json this big is collected after load even when nothing was pruned. */
const OVERSIZED_STORE_BYTES = 4 * 1024 * 1024;

export { PREREQUISITE_FAILED } from './cancellation';
export { NO_REMOTE_RUNNER } from './remote-run';
export { OUTPUT_PERSIST_MS, type BuildPathPicker, type EngineHooks, type EngineOptions, type JobEnvProvider } from './engine-context';
export const RUNNER_SHUTDOWN = 'runner shutdown';

export class JobEngine {
  readonly bus: EventBus;
  readonly configDir: string;
  readonly dataDir: string;
  readonly esphome: readonly string[];
  readonly esptool: readonly string[];
  /** Problems met while loading state (corrupt file moved aside, skipped entries). */
  readonly startupWarnings: string[] = [];

  private readonly ctx: EngineContext;
  private readonly cancellation: Cancellation;
  private readonly runs: RunLifecycle;
  private readonly admission: Admission;
  private readonly pauseControl: PauseControl;
  private readonly pool: PoolPort;
  /** `EngineOptions.uploadSlots` was given: the esphome version does not change it. */
  private readonly uploadSlotsFixed: boolean;
  private esphomeVersionValue = '';
  private stopPromise: Promise<void> | null = null;

  constructor(opts: EngineOptions) {
    const bus = opts.bus ?? new EventBus();
    this.ctx = new EngineContext({ ...opts, bus }, () => this.runs.pump());
    this.cancellation = new Cancellation(this.ctx);
    this.runs = new RunLifecycle(this.ctx, this.cancellation);
    this.admission = new Admission(this.ctx, this.cancellation);
    this.pauseControl = new PauseControl(this.ctx, this.runs);
    this.pool = new PoolPort(this.ctx, this.runs, this.pauseControl, this.cancellation);
    this.bus = bus;
    this.configDir = this.ctx.configDir;
    this.dataDir = this.ctx.dataDir;
    this.esphome = this.ctx.esphome;
    this.esptool = this.ctx.esptool;
    this.uploadSlotsFixed = opts.uploadSlots !== undefined;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Load jobs.json, re-queue jobs a crash left running (with the notice), re-link dependents, start the lanes. */
  async start(): Promise<void> {
    const { ctx } = this;
    if (ctx.state !== 'new') throw new Error(`engine cannot start: it is ${ctx.state}`);
    ctx.state = 'starting';
    const meta = await loadAndRecover(ctx, this.startupWarnings);
    if (meta === null) return; // stop() was called meanwhile
    ctx.state = 'started';
    this.pauseControl.restore(meta.paused);
    const loaded = ctx.jobs.size;
    ctx.prune();
    const persisted = ctx.persist();
    // An oversized store (pruned now, or a big file) leaves tens of MB of garbage behind: give
    // it back once the trimmed state is on disk (inline outputs moved to logs/ by that write).
    if (ctx.jobs.size < loaded || ctx.store.loadedBytes > OVERSIZED_STORE_BYTES) void persisted.then(reduceMemory).catch(() => undefined);
    ctx.bus.emit('jobs_changed', { reason: 'loaded' });
    ctx.schedulePump();
    ctx.wakePool();
  }

  /**
   * Graceful stop: running jobs end cancelled ("runner shutdown") and are persisted so they do
   * not re-run; their process groups are terminated. Queued jobs stay queued on disk.
   */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    const { ctx } = this;
    this.stopPromise = (async () => {
      const wasStarted = ctx.state === 'started';
      ctx.state = 'stopping';
      ctx.stopOutputTimer();
      const runs = [...ctx.runs.values()];
      for (const run of runs) run.shutdown.abort();
      for (const run of runs) this.runs.finish(run, { status: 'cancelled', error: RUNNER_SHUTDOWN, cancelledBy: 'shutdown' });
      this.pauseControl.releaseAll();
      if (runs.length > 0) {
        const limit = ctx.terminateGraceMs + ctx.drainMs + 1000;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(runs.map((r) => r.done)),
          new Promise<void>((r) => {
            timer = setTimeout(r, limit);
          }),
        ]);
        clearTimeout(timer);
      }
      if (wasStarted) await ctx.persist();
      await ctx.store.flush();
      // A stopped data dir is one jobs.json: the journal is folded into it (never before the
      // history was loaded — an engine stopped while starting must not write an empty snapshot).
      if (wasStarted) await ctx.store.compact(() => [...ctx.jobs.values()]).catch(() => undefined);
      ctx.state = 'stopped';
    })();
    return this.stopPromise;
  }

  // ---------------------------------------------------------------- esphome version

  /**
   * The installed esphome version (the startup probe's answer). Upload concurrency follows it —
   * 9 from 2026.8 on, else 4 — unless `EngineOptions.uploadSlots` fixed it. Raising the count
   * starts waiting flashes; lowering it lets running ones finish.
   */
  setEsphomeVersion(version: string): void {
    this.esphomeVersionValue = version;
    if (this.uploadSlotsFixed) return;
    const slots = uploadSlotsForVersion(version);
    const lane = this.ctx.lanes.upload;
    if (slots === lane.slots) return;
    lane.setSlots(slots);
    this.ctx.schedulePump();
  }

  /** What `setEsphomeVersion` last reported ('' = not yet). */
  get esphomeVersion(): string {
    return this.esphomeVersionValue;
  }

  /** Current upload lane concurrency. */
  uploadSlots(): number {
    return this.ctx.lanes.upload.slots;
  }

  // ---------------------------------------------------------------- pause / resume

  /**
   * Pause the queue: no queued job starts on any lane and the dispatch pool is not woken (a
   * dispatch that still arrives is bound but held until resume). Running jobs go on; enqueue and
   * cancel work as usual. Persisted (jobs.json `"paused"`), so a restart stays paused. Fires
   * `queue_paused_changed` when the state changes. Before `start()` it overrides the saved flag.
   */
  pause(): void {
    this.pauseControl.set(true);
  }

  /** Resume: waiting jobs start in queue order, held dispatches run, the pool is woken. */
  resume(): void {
    this.pauseControl.set(false);
  }

  isPaused(): boolean {
    return this.ctx.paused;
  }

  // ---------------------------------------------------------------- operations

  compile(a: { configuration: string; forceLocal?: boolean }): FirmwareJob {
    return this.admission.compile(a);
  }

  upload(a: { configuration: string; port?: string; bootloader?: boolean; note?: string }): FirmwareJob {
    return this.admission.upload(a);
  }

  /** Compile + dependent upload (held until the compile completes). Returns the compile. */
  install(a: { configuration: string; port?: string; forceLocal?: boolean; bootloader?: boolean; note?: string }): FirmwareJob {
    return this.admission.install(a);
  }

  /** Cancels the device's active jobs first, then queues the clean. */
  clean(a: { configuration: string }): FirmwareJob {
    return this.admission.clean(a);
  }

  /** `esphome clean-all <config dir>`: cancels every other active job, blocks all flashes until done. */
  resetBuildEnv(): FirmwareJob {
    return this.admission.resetBuildEnv();
  }

  /**
   * Low-level enqueue of prepared jobs (receiver jobs, fan-out). A chain is `[head, ...dependents]`
   * with `depends_on` linking them. Order of effects (§5): place or hold each job (dependents
   * first) and fire `job_queued`; then supersede (unless `supersede: false`); then persist.
   */
  enqueue(jobs: FirmwareJob[], opts: { supersede?: boolean } = {}): void {
    this.admission.enqueue(jobs, opts);
  }

  /**
   * Cancel (§7). Queued: cancelled at once, persisted, then `job_cancelled`; held dependents
   * cascade. Running: the request is recorded and the process group terminated (remote: the
   * runner's cancel signal); the run then ends cancelled whatever happens. Rejects with
   * ApiError `not_found` / `invalid_args` ("Cannot cancel a <status> job"). `by` (default
   * `'user'`) is recorded as the job's `cancelled_by` — e.g. a build server passes `'remote'` for
   * a cancel its sender sent.
   */
  async cancel(jobId: string, opts: { by?: CancelledBy } = {}): Promise<void> {
    const job = this.ctx.jobs.get(jobId);
    if (!job) throw new ApiError('not_found', `Job not found: ${jobId}`);
    if (isTerminal(job)) throw new ApiError('invalid_args', `Cannot cancel a ${job.status} job`);
    await this.cancellation.request(job, opts.by ?? 'user', null);
  }

  getJob(jobId: string): FirmwareJob | undefined {
    return this.ctx.jobs.get(jobId);
  }

  /** Newest first. The returned objects are the live jobs: treat them as read-only. */
  getJobs(f: { status?: JobStatus; configuration?: string } = {}): FirmwareJob[] {
    return newestFirst([...this.ctx.jobs.values()]).filter(
      (j) => (f.status === undefined || j.status === f.status) && (f.configuration === undefined || j.configuration === f.configuration),
    );
  }

  /** Remove terminal jobs (all, or one terminal status); emits `jobs_changed`. */
  clear(status?: 'completed' | 'failed' | 'cancelled'): number {
    if (status !== undefined && !TERMINAL_STATUSES.has(status)) throw new ApiError('invalid_args', `Cannot clear ${String(status)} jobs`);
    const { jobs } = this.ctx;
    let n = 0;
    for (const job of [...jobs.values()]) {
      if (isTerminal(job) && (status === undefined || job.status === status)) {
        jobs.delete(job.job_id);
        n++;
      }
    }
    if (n > 0) {
      this.bus.emit('jobs_changed', { reason: 'cleared' });
      void this.ctx.persist();
    }
    return n;
  }

  /** The job's full retained output: inline for active jobs, from logs/<id>.log for finished ones. */
  async readLog(jobId: string): Promise<string[]> {
    const job = this.ctx.jobs.get(jobId);
    if (!job) throw new ApiError('not_found', `Job not found: ${jobId}`);
    const { store } = this.ctx;
    if (job.output.length > 0 || !store.hasLog(jobId)) return [...job.output];
    return (await store.readLog(jobId)) ?? [];
  }

  /** Lane status; the compile lane is what a build server advertises. */
  queueStatus(lane: LaneName = 'compile'): QueueStatus {
    return this.ctx.lanes[lane].status();
  }

  /** Resolves with the job once it is terminal (at once if it already is). */
  whenDone(jobId: string): Promise<FirmwareJob> {
    const job = this.ctx.jobs.get(jobId);
    if (!job) return Promise.reject(new ApiError('not_found', `Job not found: ${jobId}`));
    if (isTerminal(job) && !this.ctx.cancelEventsPending.has(jobId)) return Promise.resolve(job);
    return new Promise((resolve) => {
      const offs: Array<() => void> = [];
      const done = (p: { job: FirmwareJob }): void => {
        if (p.job.job_id !== jobId) return;
        for (const off of offs) off();
        resolve(p.job);
      };
      offs.push(this.bus.on('job_completed', done), this.bus.on('job_failed', done), this.bus.on('job_cancelled', done));
    });
  }

  // ---------------------------------------------------------------- dispatch pool API

  /** Queued `remote_pending` jobs waiting for the pool, oldest first. */
  pendingRemoteJobs(): FirmwareJob[] {
    return this.pool.pendingRemoteJobs();
  }

  /**
   * Bind a pending job to a build server and run it off-lane through the remote runner (the pool
   * keeps one in-flight job per server). Resolves when the run has ended.
   */
  dispatchRemote(jobId: string, binding: RemoteBinding): Promise<void> {
    return this.pool.dispatchRemote(jobId, binding);
  }

  /** Bundle a pending job before its dispatch; it stays queued and unbound (the pool's pipelining). */
  prepareRemote(jobId: string, signal: AbortSignal, priority?: BundlePriority): Promise<void> {
    return this.pool.prepareRemote(jobId, signal, priority);
  }

  /** Run a pending job locally on the compile lane. */
  dispatchLocal(jobId: string): void {
    this.pool.dispatchLocal(jobId);
  }

  /** The dispatch pool is going away (it stopped accepting): every pending job runs locally. */
  runPendingLocally(): void {
    this.pool.runPendingLocally();
  }

  /** Fail a queued job without running it (e.g. `no_compatible_peer`). */
  failQueued(jobId: string, error: string): Promise<void> {
    return this.pool.failQueued(jobId, error);
  }
}

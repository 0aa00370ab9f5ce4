// Kiln's local firmware job engine (firmware-jobs.md §3–§8, §13–§14): enqueue with install chains
// and supersede, two lanes (compile ×1, upload ×N) with the build gate, local execution of the
// esphome CLI, the remote-runner hook, cancel semantics ("user intent wins"), persistence and
// restart recovery, queue pause/resume, chip verify before serial flashes (§9.5) and the
// version-dependent upload concurrency. Everything observable goes through the typed event bus.
import { join } from 'node:path';
import { ApiError } from '../errors';
import { EventBus } from '../events';
import { esphomeArgs, esphomeEnv, isSerialPort, PortError, resolveConfigPath, validatePort, ConfigPathError, type EsphomeCommand } from '../esphome/argv';
import { CHIP_VERIFY_TIMEOUT_MS, chipVerifyApplies, DEFAULT_ESPTOOL, verifyChip } from '../esphome/chip-verify';
import { DEFAULT_ESPHOME, esphomeNotFoundMessage } from '../esphome/command';
import { readEspPlatform, storageJsonPath } from '../esphome/storage-json';
import { runTracked, SpawnError, spawnReason, DRAIN_AFTER_EXIT_MS, TERMINATE_GRACE_MS } from '../esphome/tracked-process';
import { ErrorScrape } from './error-scrape';
import { ingestChunk, resetProgress } from './ingest';
import { Lane, UPLOAD_SLOTS, uploadSlotsForVersion, type LaneName } from './lanes';
import {
  clearRunState,
  createJob,
  isActive,
  isNetworkFlash,
  isRenameTail,
  isTerminal,
  markRunning,
  markTerminal,
  OTA_PORT,
  resetForRestart,
  revertToPendingRemote,
  TERMINAL_STATUSES,
  wipesLocalBuildTree,
  type CancelledBy,
  type FirmwareJob,
  type JobSource,
  type JobStatus,
  type QueueStatus,
} from './model';
import { trimTerminal } from './output';
import { jobsToPrune, type PruneLimits } from './prune';
import type { DispatchPool, RemoteBinding, RemoteRunContext, RemoteRunnerFn, RemoteRunResult, RunEsphomeResult } from './remote';
import { JobStore } from './store';

export const PREREQUISITE_FAILED = 'prerequisite job did not complete successfully';
export const RUNNER_SHUTDOWN = 'runner shutdown';
export const NO_REMOTE_RUNNER = 'remote build: no remote runner is registered (remote builds are not available in this process)';
export const DEFAULT_UPLOAD_SLOTS = UPLOAD_SLOTS;
export const OUTPUT_PERSIST_MS = 2000;

export interface EngineOptions {
  configDir: string;
  /** Default `<configDir>/.kiln`. */
  dataDir?: string;
  /** argv prefix of the esphome command; default `['esphome']`. */
  esphome?: readonly string[];
  bus?: EventBus;
  /**
   * Upload lane concurrency. Default: 4, or 9 once `setEsphomeVersion` reports esphome ≥ 2026.8;
   * a value given here is fixed and ignores the version.
   */
  uploadSlots?: number;
  /** argv prefix of esptool for chip verify (§9.5), default `['esptool']`. */
  esptool?: readonly string[];
  /** Upper bound for one `esptool chip-id` run, default 60 s (then the flash goes ahead with a warning). */
  chipVerifyTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace for a cancelled process group, default 3000 ms. */
  terminateGraceMs?: number;
  /** How long output is still read after the child exits, default 1000 ms. */
  drainMs?: number;
  /** Read/write jobs.json and logs/, default true. */
  persist?: boolean;
  /** Running jobs' output is persisted at most this often (crash keeps the log), default 2000 ms. */
  outputPersistMs?: number;
  pruneLimits?: PruneLimits;
  /** Where recovered problems are reported besides `startupWarnings`/`engine_warning` (default stderr). */
  report?: (message: string) => void;
}

type Outcome = Omit<RemoteRunResult, 'cancelledBy'> & { cancelledBy?: CancelledBy };

interface CancelRequest {
  /** The job's error text when it ends cancelled (null = the user asked). */
  readonly reason: string | null;
  readonly by: CancelledBy;
}

interface RunState {
  readonly job: FirmwareJob;
  readonly lane: Lane | null;
  readonly cancel: AbortController;
  readonly shutdown: AbortController;
  /** Either of the above: what terminates this run's process. */
  readonly procSignal: AbortSignal;
  readonly scrape: ErrorScrape;
  finalized: boolean;
  done: Promise<void>;
}

export class JobEngine {
  readonly bus: EventBus;
  readonly configDir: string;
  readonly dataDir: string;
  readonly esphome: readonly string[];
  readonly esptool: readonly string[];
  /** Problems met while loading state (corrupt file moved aside, skipped entries). */
  readonly startupWarnings: string[] = [];

  private readonly jobs = new Map<string, FirmwareJob>();
  private readonly lanes: Record<LaneName, Lane>;
  private readonly runs = new Map<string, RunState>();
  /** job id → who asked and why. Survives until the job is terminal. */
  private readonly cancelRequested = new Map<string, CancelRequest>();
  private readonly store: JobStore;
  private readonly terminateGraceMs: number;
  private readonly drainMs: number;
  private readonly outputPersistMs: number;
  private readonly pruneLimits: PruneLimits;
  private readonly report: (message: string) => void;
  private readonly chipVerifyTimeoutMs: number;
  /** `EngineOptions.uploadSlots` was given: the esphome version does not change it. */
  private readonly uploadSlotsFixed: boolean;
  private esphomeVersionValue = '';

  /** Nothing queued starts while paused (persisted in jobs.json as `"paused"`). */
  private paused = false;
  /** pause()/resume() before start() win over the persisted flag. */
  private pausedOverride: boolean | null = null;
  /** Pool dispatches that arrived while paused: bound, started on resume. */
  private readonly heldDispatches = new Map<string, { job: FirmwareJob; release: (run: Promise<void>) => void }>();

  private remoteRunner: RemoteRunnerFn | null = null;
  private jobEnvProvider: ((job: FirmwareJob) => Record<string, string | undefined>) | null = null;
  private buildPathPicker: ((job: FirmwareJob) => JobSource) | null = null;
  private dispatchPool: DispatchPool | null = null;

  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new';
  private stopPromise: Promise<void> | null = null;
  private pumpScheduled = false;
  private wakeScheduled = false;
  /** Cancelled-while-queued jobs whose `job_cancelled` waits for the persist. */
  private readonly cancelEventsPending = new Set<string>();
  private outputTimer: NodeJS.Timeout | undefined;

  constructor(opts: EngineOptions) {
    this.configDir = opts.configDir;
    this.dataDir = opts.dataDir ?? join(opts.configDir, '.kiln');
    this.esphome = Object.freeze([...(opts.esphome && opts.esphome.length > 0 ? opts.esphome : DEFAULT_ESPHOME)]);
    this.esptool = Object.freeze([...(opts.esptool && opts.esptool.length > 0 ? opts.esptool : DEFAULT_ESPTOOL)]);
    this.bus = opts.bus ?? new EventBus();
    this.uploadSlotsFixed = opts.uploadSlots !== undefined;
    this.lanes = { compile: new Lane('compile', 1), upload: new Lane('upload', opts.uploadSlots ?? DEFAULT_UPLOAD_SLOTS) };
    this.chipVerifyTimeoutMs = opts.chipVerifyTimeoutMs ?? CHIP_VERIFY_TIMEOUT_MS;
    this.terminateGraceMs = opts.terminateGraceMs ?? TERMINATE_GRACE_MS;
    this.drainMs = opts.drainMs ?? DRAIN_AFTER_EXIT_MS;
    this.outputPersistMs = opts.outputPersistMs ?? OUTPUT_PERSIST_MS;
    this.pruneLimits = opts.pruneLimits ?? {};
    this.report = opts.report ?? ((m) => console.error(`[kiln] ${m}`));
    this.store = new JobStore(this.dataDir, {
      enabled: opts.persist ?? true,
      report: (m) => this.warn(m),
      meta: () => ({ paused: this.paused }),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Load jobs.json, re-queue jobs a crash left running (with the notice), re-link dependents, start the lanes. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`engine cannot start: it is ${this.state}`);
    this.state = 'starting';
    const { jobs, warnings, meta } = await this.store.load();
    this.startupWarnings.push(...warnings);
    for (const w of warnings) this.bus.emit('engine_warning', { message: w });
    await this.store.removeStaleTemps();
    if (this.state !== 'starting') return; // stop() was called meanwhile
    for (const job of jobs) this.jobs.set(job.job_id, job);
    this.recover(jobs);
    this.state = 'started';
    const paused = this.pausedOverride ?? meta.paused;
    if (paused !== this.paused) {
      this.paused = paused;
      this.bus.emit('queue_paused_changed', { paused });
    }
    this.prune();
    void this.persist();
    this.bus.emit('jobs_changed', { reason: 'loaded' });
    this.schedulePump();
    this.wakePool();
  }

  /**
   * Graceful stop: running jobs end cancelled ("runner shutdown") and are persisted so they do
   * not re-run; their process groups are terminated. Queued jobs stay queued on disk.
   */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopPromise = (async () => {
      const wasStarted = this.state === 'started';
      this.state = 'stopping';
      clearTimeout(this.outputTimer);
      const runs = [...this.runs.values()];
      for (const run of runs) run.shutdown.abort();
      for (const run of runs) this.finish(run, { status: 'cancelled', error: RUNNER_SHUTDOWN, cancelledBy: 'shutdown' });
      // Held pool dispatches stay queued (on disk too) and go back to the pool at the next start.
      for (const held of [...this.heldDispatches.values()]) held.release(Promise.resolve());
      this.heldDispatches.clear();
      if (runs.length > 0) {
        const limit = this.terminateGraceMs + this.drainMs + 1000;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(runs.map((r) => r.done)),
          new Promise<void>((r) => {
            timer = setTimeout(r, limit);
          }),
        ]);
        clearTimeout(timer);
      }
      if (wasStarted) await this.persist();
      await this.store.flush();
      this.state = 'stopped';
    })();
    return this.stopPromise;
  }

  // ---------------------------------------------------------------- hooks

  /** Called for jobs with `source === 'remote'` after mark_running / job_started / persist. */
  setRemoteRunner(run: RemoteRunnerFn | null): void {
    this.remoteRunner = run;
  }

  /** Extra env per job (receivers: `ESPHOME_DATA_DIR`; `undefined` removes a variable). */
  setJobEnvProvider(fn: ((job: FirmwareJob) => Record<string, string | undefined>) | null): void {
    this.jobEnvProvider = fn;
  }

  /**
   * Decides `local` or `remote_pending` for compiles/installs not forced local (the scheduler's
   * pick_build_path). May throw an ApiError (`no_compatible_peer`), which the call rethrows.
   */
  setBuildPathPicker(fn: ((job: FirmwareJob) => JobSource) | null): void {
    this.buildPathPicker = fn;
  }

  /**
   * The scheduler's dispatch pool. Without one, `remote_pending` compiles run locally; with one
   * they wait for `dispatchRemote` / `dispatchLocal` / `failQueued`, and the pool is woken when
   * such a job is queued and whenever a compile-lane job ends.
   */
  setDispatchPool(pool: DispatchPool | null): void {
    this.dispatchPool = pool;
    if (!pool && this.state === 'started') {
      for (const job of this.pendingRemoteJobs()) this.dispatchLocal(job.job_id);
    }
  }

  /**
   * The installed esphome version (the startup probe's answer). Upload concurrency follows it —
   * 9 from 2026.8 on, else 4 — unless `EngineOptions.uploadSlots` fixed it. Raising the count
   * starts waiting flashes; lowering it lets running ones finish.
   */
  setEsphomeVersion(version: string): void {
    this.esphomeVersionValue = version;
    if (this.uploadSlotsFixed) return;
    const slots = uploadSlotsForVersion(version);
    if (slots === this.lanes.upload.slots) return;
    this.lanes.upload.setSlots(slots);
    this.schedulePump();
  }

  /** What `setEsphomeVersion` last reported ('' = not yet). */
  get esphomeVersion(): string {
    return this.esphomeVersionValue;
  }

  /** Current upload lane concurrency. */
  uploadSlots(): number {
    return this.lanes.upload.slots;
  }

  // ---------------------------------------------------------------- pause / resume

  /**
   * Pause the queue: no queued job starts on any lane and the dispatch pool is not woken (a
   * dispatch that still arrives is bound but held until resume). Running jobs go on; enqueue and
   * cancel work as usual. Persisted (jobs.json `"paused"`), so a restart stays paused. Fires
   * `queue_paused_changed` when the state changes. Before `start()` it overrides the saved flag.
   */
  pause(): void {
    this.setPaused(true);
  }

  /** Resume: waiting jobs start in queue order, held dispatches run, the pool is woken. */
  resume(): void {
    this.setPaused(false);
  }

  isPaused(): boolean {
    return this.paused;
  }

  private setPaused(paused: boolean): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new ApiError('unavailable', `job engine is ${this.state}`);
    if (this.state !== 'started') this.pausedOverride = paused;
    if (paused === this.paused) return;
    this.paused = paused;
    this.bus.emit('queue_paused_changed', { paused });
    if (this.state !== 'started') return;
    void this.persist();
    if (paused) return;
    for (const [id, held] of [...this.heldDispatches]) {
      this.heldDispatches.delete(id);
      held.release(held.job.status === 'queued' ? this.execute(held.job, null) : Promise.resolve());
    }
    this.schedulePump();
    this.wakePool();
  }

  // ---------------------------------------------------------------- operations

  compile(a: { configuration: string; forceLocal?: boolean }): FirmwareJob {
    const job = createJob({ configuration: a.configuration, job_type: 'compile' });
    this.checkConfiguration(job.configuration);
    job.source = this.pickSource(job, a.forceLocal);
    this.enqueue([job]);
    return job;
  }

  upload(a: { configuration: string; port?: string; bootloader?: boolean }): FirmwareJob {
    const port = a.port ?? '';
    const job = createJob({ configuration: a.configuration, job_type: 'upload', port, flash_bootloader: a.bootloader === true });
    this.checkConfiguration(job.configuration);
    this.checkPort(port, job.flash_bootloader, true);
    this.enqueue([job]);
    return job;
  }

  /** Compile + dependent upload (held until the compile completes). Returns the compile. */
  install(a: { configuration: string; port?: string; forceLocal?: boolean; bootloader?: boolean }): FirmwareJob {
    const port = a.port ?? OTA_PORT;
    const compile = createJob({ configuration: a.configuration, job_type: 'compile' });
    this.checkConfiguration(compile.configuration);
    this.checkPort(port, a.bootloader === true, false);
    const upload = createJob({
      configuration: a.configuration,
      job_type: 'upload',
      port,
      flash_bootloader: a.bootloader === true,
      depends_on: compile.job_id,
      created_at: compile.created_at,
    });
    compile.source = this.pickSource(compile, a.forceLocal);
    this.enqueue([compile, upload]);
    return compile;
  }

  /** Cancels the device's active jobs first, then queues the clean. */
  clean(a: { configuration: string }): FirmwareJob {
    const job = createJob({ configuration: a.configuration, job_type: 'clean' });
    this.checkConfiguration(job.configuration);
    this.assertStarted();
    for (const other of this.activeJobs()) {
      if (other.configuration === job.configuration) void this.cancelInternal(other, 'clean', `cancelled by clean job ${job.job_id}`);
    }
    this.enqueue([job]);
    return job;
  }

  /** `esphome clean-all <config dir>`: cancels every other active job, blocks all flashes until done. */
  resetBuildEnv(): FirmwareJob {
    const job = createJob({ configuration: '', job_type: 'reset_build_env' });
    this.assertStarted();
    for (const other of this.activeJobs()) void this.cancelInternal(other, 'reset', `cancelled by reset build environment job ${job.job_id}`);
    this.enqueue([job]);
    return job;
  }

  /**
   * Low-level enqueue of prepared jobs (receiver jobs, fan-out). A chain is `[head, ...dependents]`
   * with `depends_on` linking them. Order of effects (§5): place or hold each job (dependents
   * first) and fire `job_queued`; then supersede (unless `supersede: false`); then persist.
   */
  enqueue(jobs: FirmwareJob[], opts: { supersede?: boolean } = {}): void {
    this.assertStarted();
    const chain = new Set(jobs.map((j) => j.job_id));
    for (const job of jobs) this.validateNewJob(job, chain);
    this.checkRenameLock(jobs);
    for (const job of jobs) this.jobs.set(job.job_id, job);
    const doomed: FirmwareJob[] = [];
    for (const job of [...jobs].reverse()) {
      const prereq = job.depends_on ? this.jobs.get(job.depends_on) : undefined;
      if (!job.depends_on || prereq?.status === 'completed') {
        if (job.depends_on) job.dependency_released = true;
        this.place(job);
      } else if (prereq && isTerminal(prereq)) {
        doomed.push(job);
      }
      this.bus.emit('job_queued', { job });
    }
    for (const job of doomed) void this.cancelQueued(job, 'prerequisite', PREREQUISITE_FAILED);
    if (opts.supersede !== false) {
      for (const job of jobs) {
        if (job.configuration === '') continue;
        for (const other of this.activeJobs()) {
          if (!chain.has(other.job_id) && other.configuration === job.configuration) {
            void this.cancelInternal(other, 'superseded', `superseded by job ${job.job_id}`);
          }
        }
      }
    }
    void this.persist();
    this.schedulePump();
  }

  /**
   * Cancel (§7). Queued: cancelled at once, persisted, then `job_cancelled`; held dependents
   * cascade. Running: the request is recorded and the process group terminated (remote: the
   * runner's cancel signal); the run then ends cancelled whatever happens. Rejects with
   * ApiError `not_found` / `invalid_args` ("Cannot cancel a <status> job"). `by` (default
   * `'user'`) is recorded as the job's `cancelled_by` — e.g. a receiver passes `'remote'` for a
   * cancel its offloader sent.
   */
  async cancel(jobId: string, opts: { by?: CancelledBy } = {}): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new ApiError('not_found', `Job not found: ${jobId}`);
    if (isTerminal(job)) throw new ApiError('invalid_args', `Cannot cancel a ${job.status} job`);
    await this.cancelInternal(job, opts.by ?? 'user', null);
  }

  getJob(jobId: string): FirmwareJob | undefined {
    return this.jobs.get(jobId);
  }

  /** Newest first. The returned objects are the live jobs: treat them as read-only. */
  getJobs(f: { status?: JobStatus; configuration?: string } = {}): FirmwareJob[] {
    return newestFirst([...this.jobs.values()]).filter(
      (j) => (f.status === undefined || j.status === f.status) && (f.configuration === undefined || j.configuration === f.configuration),
    );
  }

  /** Remove terminal jobs (all, or one terminal status); emits `jobs_changed`. */
  clear(status?: 'completed' | 'failed' | 'cancelled'): number {
    if (status !== undefined && !TERMINAL_STATUSES.has(status)) throw new ApiError('invalid_args', `Cannot clear ${String(status)} jobs`);
    let n = 0;
    for (const job of [...this.jobs.values()]) {
      if (isTerminal(job) && (status === undefined || job.status === status)) {
        this.jobs.delete(job.job_id);
        n++;
      }
    }
    if (n > 0) {
      this.bus.emit('jobs_changed', { reason: 'cleared' });
      void this.persist();
    }
    return n;
  }

  /** The job's full retained output: inline for active jobs, from logs/<id>.log for finished ones. */
  async readLog(jobId: string): Promise<string[]> {
    const job = this.jobs.get(jobId);
    if (!job) throw new ApiError('not_found', `Job not found: ${jobId}`);
    if (job.output.length > 0 || !this.store.hasLog(jobId)) return [...job.output];
    return (await this.store.readLog(jobId)) ?? [];
  }

  /** Lane status; the compile lane is what a receiver advertises. */
  queueStatus(lane: LaneName = 'compile'): QueueStatus {
    return this.lanes[lane].status();
  }

  /** Resolves with the job once it is terminal (at once if it already is). */
  whenDone(jobId: string): Promise<FirmwareJob> {
    const job = this.jobs.get(jobId);
    if (!job) return Promise.reject(new ApiError('not_found', `Job not found: ${jobId}`));
    if (isTerminal(job) && !this.cancelEventsPending.has(jobId)) return Promise.resolve(job);
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
    return newestFirst([...this.jobs.values()])
      .reverse()
      .filter((j) => j.status === 'queued' && j.source === 'remote_pending');
  }

  /**
   * Bind a pending job to a build server and run it off-lane through the remote runner (the pool
   * keeps one in-flight job per server). Resolves when the run has ended.
   */
  dispatchRemote(jobId: string, binding: RemoteBinding): Promise<void> {
    this.assertStarted();
    const job = this.requirePending(jobId);
    job.source = 'remote';
    job.source_pin_sha256 = binding.pin;
    job.source_label = binding.label ?? '';
    job.source_esphome_version = binding.esphomeVersion ?? '';
    if (this.paused) {
      return new Promise<void>((resolve) => {
        this.heldDispatches.set(job.job_id, { job, release: (run) => void run.then(resolve, resolve) });
      });
    }
    return this.execute(job, null);
  }

  /** Run a pending job locally on the compile lane. */
  dispatchLocal(jobId: string): void {
    const job = this.requirePending(jobId);
    job.source = 'local';
    this.lanes.compile.push(job);
    void this.persist();
    this.schedulePump();
  }

  /** Fail a queued job without running it (e.g. `no_compatible_peer`). */
  async failQueued(jobId: string, error: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job || job.status !== 'queued') throw new ApiError('invalid_args', `Job ${jobId} is not queued`);
    this.removeFromLanes(job.job_id);
    markTerminal(job, 'failed', error);
    this.prune();
    await this.persist();
    this.bus.emit('job_failed', { job });
    this.settleDependents(job);
    this.schedulePump();
  }

  // ---------------------------------------------------------------- internals: placement

  private place(job: FirmwareJob): void {
    if (job.source === 'remote_pending') {
      if (this.dispatchPool) {
        this.wakePool();
        return;
      }
      job.source = 'local';
    }
    this.laneFor(job).push(job);
  }

  private laneFor(job: FirmwareJob): Lane {
    return isNetworkFlash(job) ? this.lanes.upload : this.lanes.compile;
  }

  private removeFromLanes(jobId: string): void {
    this.lanes.compile.remove(jobId);
    this.lanes.upload.remove(jobId);
  }

  /** Flashes wait while a job that wipes the local build tree is active (reset: all; clean: same configuration). */
  private gateOpen(job: FirmwareJob): boolean {
    if (!isNetworkFlash(job)) return true;
    for (const w of this.jobs.values()) {
      if (w !== job && isActive(w) && wipesLocalBuildTree(w) && (w.job_type === 'reset_build_env' || w.configuration === job.configuration)) {
        return false;
      }
    }
    return true;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.state !== 'started') return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Wake the dispatch pool on a later tick, so it never runs inside enqueue/finish bookkeeping. */
  private wakePool(): void {
    if (this.wakeScheduled || !this.dispatchPool || this.paused) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (this.state === 'started' && !this.paused) this.dispatchPool?.wake();
    });
  }

  private pump(): void {
    if (this.state !== 'started' || this.paused) return;
    for (const lane of [this.lanes.compile, this.lanes.upload]) {
      for (;;) {
        const job = lane.takeNext((j) => j.status === 'queued' && this.gateOpen(j));
        if (!job) break;
        void this.execute(job, lane);
      }
    }
  }

  // ---------------------------------------------------------------- internals: running

  private execute(job: FirmwareJob, lane: Lane | null): Promise<void> {
    const cancel = new AbortController();
    const shutdown = new AbortController();
    if (this.cancelRequested.has(job.job_id)) cancel.abort();
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
    this.runs.set(job.job_id, run);
    run.done = this.executeRun(run).catch((err) => this.warn(`job ${job.job_id}: ${errorText(err)}`));
    return run.done;
  }

  private async executeRun(run: RunState): Promise<void> {
    const { job } = run;
    markRunning(job);
    this.bus.emit('job_started', { job });
    await this.persist();
    let outcome: Outcome;
    try {
      // A remote runner is called even after an early cancel: its cancel signal replays it.
      if (job.source === 'remote' && !run.shutdown.signal.aborted) outcome = await this.runRemote(run);
      else if (run.procSignal.aborted) outcome = { status: 'cancelled' };
      else outcome = await this.runLocal(run);
    } catch (err) {
      outcome = { status: 'failed', error: errorText(err) };
    }
    this.finish(run, outcome);
  }

  private async runLocal(run: RunState): Promise<Outcome> {
    const { job } = run;
    let args: string[];
    try {
      args = esphomeArgs(this.commandFor(job));
    } catch (err) {
      return { status: 'failed', error: errorText(err) };
    }
    if ((job.job_type === 'upload' || job.job_type === 'install') && chipVerifyApplies(job.port)) {
      const stop = await this.verifyChip(run);
      if (stop) return stop;
    }
    // A cancel that landed during chip verify: never start the flash.
    if (run.procSignal.aborted) return { status: 'cancelled' };
    try {
      const res = await runTracked([...this.esphome, ...args], {
        env: this.envFor(job),
        signal: run.procSignal,
        terminateGraceMs: this.terminateGraceMs,
        drainMs: this.drainMs,
        onChunk: (c) => this.ingest(run, c, true),
      });
      if (run.procSignal.aborted) return { status: 'cancelled', exitCode: res.exitCode };
      if (res.exitCode === 0) {
        const e = run.scrape.exit0Error();
        return e ? { status: 'failed', error: e, exitCode: 0 } : { status: 'completed', exitCode: 0 };
      }
      if (res.exitCode === null) return { status: 'failed', error: `Process was killed by ${res.signal ?? 'a signal'}`, exitCode: null };
      return { status: 'failed', error: run.scrape.exitError(res.exitCode), exitCode: res.exitCode };
    } catch (err) {
      if (err instanceof SpawnError) return { status: 'failed', error: esphomeNotFoundMessage(this.esphome, spawnReason(err.code)) };
      throw err;
    }
  }

  /**
   * Chip verify (§9.5) before a serial flash of a compiled configuration: `esptool --port P
   * chip-id` as this job's tracked process. Returns the outcome that ends the job (mismatch →
   * failed, cancel → cancelled), or null to go on with the flash (match, nothing to compare with,
   * no chip detected, esptool missing — the last two with a WARNING line in the job's log).
   */
  private async verifyChip(run: RunState): Promise<Outcome | null> {
    const { job } = run;
    const env = this.envFor(job);
    const expected = await readEspPlatform(storageJsonPath(resolveConfigPath(this.configDir, job.configuration), env));
    if (expected === null) return null; // never compiled: no compile-time truth to compare with
    if (run.procSignal.aborted) return { status: 'cancelled' };
    this.ingest(run, `INFO Verifying the chip on ${job.port} (expecting ${expected.toLowerCase()})...\n`, false);
    const res = await verifyChip({
      esptool: this.esptool,
      port: job.port,
      expectedPlatform: expected,
      env,
      signal: run.procSignal,
      terminateGraceMs: this.terminateGraceMs,
      drainMs: this.drainMs,
      timeoutMs: this.chipVerifyTimeoutMs,
    });
    switch (res.kind) {
      case 'interrupted':
        return { status: 'cancelled' };
      case 'match':
        this.ingest(run, `INFO Chip verified: ${res.detected} on ${job.port}\n`, false);
        return null;
      case 'mismatch':
        this.ingest(run, `ERROR ${res.message}\n`, false);
        return { status: 'failed', error: res.message };
      case 'undetected':
      case 'unavailable':
        this.ingest(run, `WARNING Chip verification skipped: ${res.reason}; flashing without it\n`, false);
        return null;
    }
  }

  private async runRemote(run: RunState): Promise<Outcome> {
    const runner = this.remoteRunner;
    if (!runner) return { status: 'failed', error: NO_REMOTE_RUNNER };
    const res = await runner(this.remoteContext(run));
    if (!res || !['completed', 'failed', 'cancelled', 'reroute'].includes(res.status)) {
      return { status: 'failed', error: `remote build: runner returned an invalid result (${JSON.stringify(res)})` };
    }
    // Only the build server's own cancel is the runner's to report; anything else is ignored.
    if (res.cancelledBy !== undefined && res.cancelledBy !== 'remote') return { ...res, cancelledBy: undefined };
    return res;
  }

  private remoteContext(run: RunState): RemoteRunContext {
    const { job } = run;
    const engine = this;
    const yamlPath = job.configuration === '' ? '' : resolveConfigPath(this.configDir, job.configuration);
    return {
      job,
      bus: this.bus,
      configDir: this.configDir,
      yamlPath,
      esphome: this.esphome,
      env: (extra) => esphomeEnv(process.env, { ...(this.jobEnvProvider?.(job) ?? {}), ...(extra ?? {}) }),
      ingest: (line) => this.ingest(run, line, false),
      resetProgress: () => {
        if (!run.finalized) resetProgress(job, this.bus);
      },
      cancelRequested: () => engine.cancelRequested.has(job.job_id),
      cancelSignal: run.cancel.signal,
      shutdownSignal: run.shutdown.signal,
      runEsphome: async (args, opts = {}): Promise<RunEsphomeResult> => {
        if (run.procSignal.aborted || run.finalized) return { exitCode: null, signal: null, skipped: true };
        const env = esphomeEnv(process.env, { ...(this.jobEnvProvider?.(job) ?? {}), ...(opts.env ?? {}) });
        try {
          const res = await runTracked([...this.esphome, ...args], {
            env,
            signal: run.procSignal,
            terminateGraceMs: this.terminateGraceMs,
            drainMs: this.drainMs,
            onChunk: (c) => this.ingest(run, c, false),
          });
          return { exitCode: res.exitCode, signal: res.signal, skipped: false };
        } catch (err) {
          if (err instanceof SpawnError) throw new Error(esphomeNotFoundMessage(this.esphome, spawnReason(err.code)));
          throw err;
        }
      },
    };
  }

  private ingest(run: RunState, chunk: string, scrape: boolean): void {
    if (run.finalized) return;
    ingestChunk(run.job, this.bus, chunk, scrape ? run.scrape : undefined);
    this.noteOutput();
  }

  /** End-of-run bookkeeping shared by the local and remote paths (§6 steps 9–12). */
  private finish(run: RunState, outcome: Outcome): void {
    if (run.finalized) return;
    run.finalized = true;
    const { job } = run;
    const id = job.job_id;
    this.runs.delete(id);
    const request = this.cancelRequested.get(id);
    if (outcome.status === 'reroute' && !request && this.state === 'started') {
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
    this.cancelRequested.delete(id);
    if (status === 'cancelled') this.bus.emit('job_cancelled', { job, by: by || 'user' });
    else this.bus.emit(`job_${status}`, { job });
    this.settleDependents(job);
    this.prune();
    void this.persist();
    this.schedulePump();
    if (run.lane === this.lanes.compile || run.lane === null) this.wakePool();
  }

  /** Pool mode, build server lost: back to `remote_pending`, progress reset, to the pool again. */
  private reroute(run: RunState): void {
    const { job } = run;
    revertToPendingRemote(job);
    clearRunState(job);
    job.status = 'queued';
    resetProgress(job, this.bus);
    run.lane?.release(job.job_id);
    this.bus.emit('job_queued', { job });
    this.place(job);
    void this.persist();
    this.schedulePump();
  }

  /** A head ended: completed → release held dependents onto their lanes; otherwise cancel them. */
  private settleDependents(head: FirmwareJob): void {
    for (const dep of this.jobs.values()) {
      if (dep.depends_on !== head.job_id || dep.status !== 'queued' || dep.dependency_released) continue;
      if (head.status === 'completed') {
        dep.dependency_released = true;
        this.place(dep);
      } else {
        void this.cancelQueued(dep, 'prerequisite', PREREQUISITE_FAILED);
      }
    }
    if (head.status === 'completed') {
      void this.persist();
      this.schedulePump();
    }
  }

  // ---------------------------------------------------------------- internals: cancel

  private cancelInternal(job: FirmwareJob, by: CancelledBy, reason: string | null): Promise<void> {
    if (job.status === 'queued') return this.cancelQueued(job, by, reason);
    if (job.status !== 'running') return Promise.resolve();
    if (!this.cancelRequested.has(job.job_id)) this.cancelRequested.set(job.job_id, { reason, by });
    this.runs.get(job.job_id)?.cancel.abort();
    return Promise.resolve();
  }

  /** Queued → cancelled now (with held dependents), persisted, then the events; never dispatched. */
  private async cancelQueued(job: FirmwareJob, by: CancelledBy, reason: string | null): Promise<void> {
    if (job.status !== 'queued') return;
    const cancelled: Array<{ job: FirmwareJob; by: CancelledBy }> = [];
    const mark = (j: FirmwareJob, who: CancelledBy, why: string | null): void => {
      this.removeFromLanes(j.job_id);
      markTerminal(j, 'cancelled', why, who);
      trimTerminal(j);
      cancelled.push({ job: j, by: who });
    };
    mark(job, by, reason);
    for (let i = 0; i < cancelled.length; i++) {
      this.cancelEventsPending.add(cancelled[i].job.job_id);
      for (const dep of this.jobs.values()) {
        if (dep.depends_on === cancelled[i].job.job_id && dep.status === 'queued' && !dep.dependency_released) {
          mark(dep, 'prerequisite', PREREQUISITE_FAILED);
        }
      }
    }
    this.prune();
    await this.persist();
    for (const c of cancelled) {
      this.cancelEventsPending.delete(c.job.job_id);
      this.bus.emit('job_cancelled', { job: c.job, by: c.by });
      // A pool dispatch held by a pause ends here: it will never run.
      const held = this.heldDispatches.get(c.job.job_id);
      if (held) {
        this.heldDispatches.delete(c.job.job_id);
        held.release(Promise.resolve());
      }
    }
    this.schedulePump(); // the build gate may have opened
    if (job.source === 'remote_pending' || job.source === 'remote') this.wakePool();
  }

  // ---------------------------------------------------------------- internals: state

  private recover(jobs: FirmwareJob[]): void {
    for (const job of jobs) {
      if (job.status === 'running') resetForRestart(job);
      if (isActive(job) && (job.source === 'remote' || job.source === 'remote_pending') && job.job_type !== 'clean') {
        revertToPendingRemote(job);
      }
    }
    for (const job of newestFirst(jobs).reverse()) {
      if (job.status !== 'queued') continue;
      const prereq = job.depends_on ? this.jobs.get(job.depends_on) : undefined;
      if (!job.depends_on || prereq?.status === 'completed' || job.dependency_released) {
        this.place(job);
      } else if (!prereq || !isActive(prereq)) {
        markTerminal(job, 'cancelled', PREREQUISITE_FAILED, 'prerequisite');
      }
    }
  }

  private prune(): void {
    const drop = jobsToPrune([...this.jobs.values()], this.pruneLimits);
    if (drop.size === 0) return;
    for (const id of drop) this.jobs.delete(id);
    this.bus.emit('jobs_changed', { reason: 'pruned' });
  }

  private persist(): Promise<void> {
    return this.store.save(() => [...this.jobs.values()]).catch(() => undefined);
  }

  /** Running jobs' output reaches disk at most every `outputPersistMs` so a crash keeps the log. */
  private noteOutput(): void {
    if (this.outputTimer || !this.store.enabled || this.state !== 'started') return;
    this.outputTimer = setTimeout(() => {
      this.outputTimer = undefined;
      if (this.state === 'started') void this.persist();
    }, this.outputPersistMs);
    this.outputTimer.unref();
  }

  private warn(message: string): void {
    this.report(message);
    if (this.state === 'starting') return; // load warnings are reported by start()
    this.bus.emit('engine_warning', { message });
  }

  // ---------------------------------------------------------------- internals: validation

  private commandFor(job: FirmwareJob): EsphomeCommand {
    if (job.job_type === 'reset_build_env') return { command: 'clean-all', configDir: this.configDir };
    const yamlPath = resolveConfigPath(this.configDir, job.configuration);
    switch (job.job_type) {
      case 'compile':
        return { command: 'compile', yamlPath };
      case 'upload':
        return { command: 'upload', yamlPath, port: job.port, bootloader: job.flash_bootloader };
      case 'install':
        return { command: 'run', yamlPath, port: job.port };
      case 'clean':
        return { command: 'clean', yamlPath };
      case 'rename':
        if (isRenameTail(job)) {
          const renamed = resolveConfigPath(this.configDir, join(job.configuration, '..', `${job.new_name}.yaml`));
          return { command: 'upload', yamlPath: renamed, port: job.port };
        }
        return { command: 'rename', yamlPath, newName: job.new_name };
    }
  }

  private envFor(job: FirmwareJob): Record<string, string> {
    return esphomeEnv(process.env, this.jobEnvProvider?.(job) ?? {});
  }

  private pickSource(job: FirmwareJob, forceLocal: boolean | undefined): JobSource {
    if (forceLocal || !this.buildPathPicker) return 'local';
    return this.buildPathPicker(job);
  }

  private checkConfiguration(configuration: string): void {
    try {
      resolveConfigPath(this.configDir, configuration);
    } catch (err) {
      if (err instanceof ConfigPathError) throw new ApiError('invalid_args', err.message);
      throw err;
    }
  }

  private checkPort(port: string, bootloader: boolean, allowEmpty: boolean): void {
    if (port === '' && allowEmpty) {
      if (bootloader) throw new ApiError('invalid_args', '--bootloader needs an OTA target');
      return;
    }
    try {
      validatePort(port);
    } catch (err) {
      if (err instanceof PortError) throw new ApiError('invalid_args', err.message);
      throw err;
    }
    if (bootloader && isSerialPort(port)) throw new ApiError('invalid_args', 'bootloader flashing is only possible over the network (OTA targets)');
  }

  private validateNewJob(job: FirmwareJob, chain: ReadonlySet<string>): void {
    if (this.jobs.has(job.job_id)) throw new ApiError('invalid_args', `Job already exists: ${job.job_id}`);
    if (job.status !== 'queued') throw new ApiError('invalid_args', `A new job must be queued, not ${job.status}`);
    if (job.job_type === 'reset_build_env') {
      if (job.configuration !== '') throw new ApiError('invalid_args', 'reset_build_env takes no configuration');
    } else {
      this.checkConfiguration(job.configuration);
    }
    if (job.port !== '') this.checkPort(job.port, job.flash_bootloader, true);
    if (job.depends_on && !chain.has(job.depends_on) && !this.jobs.has(job.depends_on)) {
      throw new ApiError('invalid_args', `Unknown prerequisite job: ${job.depends_on}`);
    }
  }

  /** A job touching either file name of an active rename is refused (§5 step 2). */
  private checkRenameLock(jobs: readonly FirmwareJob[]): void {
    for (const r of this.jobs.values()) {
      if (r.job_type !== 'rename' || !isActive(r) || r.new_name === '') continue;
      const renamed = join(r.configuration, '..', `${r.new_name}.yaml`);
      for (const job of jobs) {
        if (job.depends_on === r.job_id) continue;
        if (job.configuration !== '' && (job.configuration === r.configuration || join(job.configuration) === renamed)) {
          throw new ApiError('invalid_args', `${job.configuration} is being renamed by job ${r.job_id}`);
        }
      }
    }
  }

  private requirePending(jobId: string): FirmwareJob {
    const job = this.jobs.get(jobId);
    if (!job || job.status !== 'queued' || job.source !== 'remote_pending') {
      throw new ApiError('invalid_args', `Job ${jobId} is not waiting for dispatch`);
    }
    return job;
  }

  private activeJobs(): FirmwareJob[] {
    return [...this.jobs.values()].filter(isActive);
  }

  private assertStarted(): void {
    if (this.state !== 'started') throw new ApiError('unavailable', `job engine is ${this.state === 'new' ? 'not started' : this.state}`);
  }
}

function newestFirst(jobs: FirmwareJob[]): FirmwareJob[] {
  return jobs
    .map((job, i) => ({ job, i }))
    .sort((a, b) => (a.job.created_at === b.job.created_at ? b.i - a.i : a.job.created_at < b.job.created_at ? 1 : -1))
    .map(({ job }) => job);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

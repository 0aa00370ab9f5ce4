// Kiln's local firmware job engine (firmware-jobs.md §3–§8, §13–§14): enqueue with install chains
// and supersede, two lanes (compile ×1, upload ×N) with the build gate, local execution of the
// esphome CLI, the remote-runner hook, cancel semantics ("user intent wins"), persistence and
// restart recovery. Everything observable goes through the typed event bus.
import { join } from 'node:path';
import { ApiError } from '../errors';
import { EventBus } from '../events';
import { esphomeArgs, esphomeEnv, isSerialPort, PortError, resolveConfigPath, validatePort, ConfigPathError, type EsphomeCommand } from '../esphome/argv';
import { DEFAULT_ESPHOME, esphomeNotFoundMessage } from '../esphome/command';
import { runTracked, SpawnError, spawnReason, DRAIN_AFTER_EXIT_MS, TERMINATE_GRACE_MS } from '../esphome/tracked-process';
import { ErrorScrape } from './error-scrape';
import { ingestChunk, resetProgress } from './ingest';
import { Lane, type LaneName } from './lanes';
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
export const DEFAULT_UPLOAD_SLOTS = 4;
export const OUTPUT_PERSIST_MS = 2000;

export interface EngineOptions {
  configDir: string;
  /** Default `<configDir>/.kiln`. */
  dataDir?: string;
  /** argv prefix of the esphome command; default `['esphome']`. */
  esphome?: readonly string[];
  bus?: EventBus;
  /** Upload lane concurrency, default 4. */
  uploadSlots?: number;
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

type Outcome = RemoteRunResult;

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
  /** Problems met while loading state (corrupt file moved aside, skipped entries). */
  readonly startupWarnings: string[] = [];

  private readonly jobs = new Map<string, FirmwareJob>();
  private readonly lanes: Record<LaneName, Lane>;
  private readonly runs = new Map<string, RunState>();
  /** job id → why (null = the user asked). Survives until the job is terminal. */
  private readonly cancelRequested = new Map<string, string | null>();
  private readonly store: JobStore;
  private readonly terminateGraceMs: number;
  private readonly drainMs: number;
  private readonly outputPersistMs: number;
  private readonly pruneLimits: PruneLimits;
  private readonly report: (message: string) => void;

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
    this.bus = opts.bus ?? new EventBus();
    this.lanes = { compile: new Lane('compile', 1), upload: new Lane('upload', opts.uploadSlots ?? DEFAULT_UPLOAD_SLOTS) };
    this.terminateGraceMs = opts.terminateGraceMs ?? TERMINATE_GRACE_MS;
    this.drainMs = opts.drainMs ?? DRAIN_AFTER_EXIT_MS;
    this.outputPersistMs = opts.outputPersistMs ?? OUTPUT_PERSIST_MS;
    this.pruneLimits = opts.pruneLimits ?? {};
    this.report = opts.report ?? ((m) => console.error(`[kiln] ${m}`));
    this.store = new JobStore(this.dataDir, { enabled: opts.persist ?? true, report: (m) => this.warn(m) });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Load jobs.json, re-queue jobs a crash left running (with the notice), re-link dependents, start the lanes. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`engine cannot start: it is ${this.state}`);
    this.state = 'starting';
    const { jobs, warnings } = await this.store.load();
    this.startupWarnings.push(...warnings);
    for (const w of warnings) this.bus.emit('engine_warning', { message: w });
    await this.store.removeStaleTemps();
    if (this.state !== 'starting') return; // stop() was called meanwhile
    for (const job of jobs) this.jobs.set(job.job_id, job);
    this.recover(jobs);
    this.state = 'started';
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
      for (const run of runs) this.finish(run, { status: 'cancelled', error: RUNNER_SHUTDOWN });
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
      if (other.configuration === job.configuration) void this.cancelInternal(other, `cancelled by clean job ${job.job_id}`);
    }
    this.enqueue([job]);
    return job;
  }

  /** `esphome clean-all <config dir>`: cancels every other active job, blocks all flashes until done. */
  resetBuildEnv(): FirmwareJob {
    const job = createJob({ configuration: '', job_type: 'reset_build_env' });
    this.assertStarted();
    for (const other of this.activeJobs()) void this.cancelInternal(other, `cancelled by reset build environment job ${job.job_id}`);
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
    for (const job of doomed) void this.cancelQueued(job, PREREQUISITE_FAILED);
    if (opts.supersede !== false) {
      for (const job of jobs) {
        if (job.configuration === '') continue;
        for (const other of this.activeJobs()) {
          if (!chain.has(other.job_id) && other.configuration === job.configuration) {
            void this.cancelInternal(other, `superseded by job ${job.job_id}`);
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
   * ApiError `not_found` / `invalid_args` ("Cannot cancel a <status> job").
   */
  async cancel(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new ApiError('not_found', `Job not found: ${jobId}`);
    if (isTerminal(job)) throw new ApiError('invalid_args', `Cannot cancel a ${job.status} job`);
    await this.cancelInternal(job, null);
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
    if (this.wakeScheduled || !this.dispatchPool) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (this.state === 'started') this.dispatchPool?.wake();
    });
  }

  private pump(): void {
    if (this.state !== 'started') return;
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

  private async runRemote(run: RunState): Promise<Outcome> {
    const runner = this.remoteRunner;
    if (!runner) return { status: 'failed', error: NO_REMOTE_RUNNER };
    const res = await runner(this.remoteContext(run));
    if (!res || !['completed', 'failed', 'cancelled', 'reroute'].includes(res.status)) {
      return { status: 'failed', error: `remote build: runner returned an invalid result (${JSON.stringify(res)})` };
    }
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
    const userCancel = this.cancelRequested.has(id);
    if (outcome.status === 'reroute' && !userCancel && this.state === 'started') {
      this.reroute(run);
      return;
    }
    let status: 'completed' | 'failed' | 'cancelled' = outcome.status === 'reroute' ? 'cancelled' : outcome.status;
    let error: string | null = outcome.error ?? null;
    if (userCancel) {
      // User intent wins over whatever the run reported.
      status = 'cancelled';
      error = this.cancelRequested.get(id) ?? null;
    } else if (status === 'failed' && !error) {
      error = 'failed';
    } else if (status === 'completed') {
      error = null;
    }
    if (outcome.exitCode !== undefined) job.exit_code = outcome.exitCode;
    job.failure_reason = status === 'failed' ? (outcome.failureReason ?? '') : '';
    markTerminal(job, status, error);
    trimTerminal(job);
    run.lane?.release(id);
    this.cancelRequested.delete(id);
    this.bus.emit(`job_${status}`, { job });
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
        void this.cancelQueued(dep, PREREQUISITE_FAILED);
      }
    }
    if (head.status === 'completed') {
      void this.persist();
      this.schedulePump();
    }
  }

  // ---------------------------------------------------------------- internals: cancel

  private cancelInternal(job: FirmwareJob, reason: string | null): Promise<void> {
    if (job.status === 'queued') return this.cancelQueued(job, reason);
    if (job.status !== 'running') return Promise.resolve();
    if (!this.cancelRequested.has(job.job_id)) this.cancelRequested.set(job.job_id, reason);
    this.runs.get(job.job_id)?.cancel.abort();
    return Promise.resolve();
  }

  /** Queued → cancelled now (with held dependents), persisted, then the events; never dispatched. */
  private async cancelQueued(job: FirmwareJob, reason: string | null): Promise<void> {
    if (job.status !== 'queued') return;
    const cancelled: FirmwareJob[] = [];
    const mark = (j: FirmwareJob, why: string | null): void => {
      this.removeFromLanes(j.job_id);
      markTerminal(j, 'cancelled', why);
      trimTerminal(j);
      cancelled.push(j);
    };
    mark(job, reason);
    for (let i = 0; i < cancelled.length; i++) {
      this.cancelEventsPending.add(cancelled[i].job_id);
      for (const dep of this.jobs.values()) {
        if (dep.depends_on === cancelled[i].job_id && dep.status === 'queued' && !dep.dependency_released) mark(dep, PREREQUISITE_FAILED);
      }
    }
    this.prune();
    await this.persist();
    for (const j of cancelled) {
      this.cancelEventsPending.delete(j.job_id);
      this.bus.emit('job_cancelled', { job: j });
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
        markTerminal(job, 'cancelled', PREREQUISITE_FAILED);
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

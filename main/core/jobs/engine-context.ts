// The state the job engine's parts share, and the small primitives they all use: the job table,
// the two lanes, the runs in flight, cancel requests, held pool dispatches, the store, the
// lifecycle state and pause flag; persist / prune / wake-ups / placement onto a lane. The parts
// (admission, run lifecycle, cancellation, pause, pool port, recovery) each take this context;
// `JobEngine` (engine.ts) composes them and is the only public surface.
import { join } from 'node:path';
import { ApiError } from '../errors';
import type { EventBus } from '../events';
import { esphomeEnv } from '../esphome/argv';
import { CHIP_VERIFY_TIMEOUT_MS, DEFAULT_ESPTOOL } from '../esphome/chip-verify';
import { DEFAULT_ESPHOME } from '../esphome/command';
import { DRAIN_AFTER_EXIT_MS, TERMINATE_GRACE_MS } from '../esphome/tracked-process';
import { ErrorScrape } from './error-scrape';
import { ingestChunk } from './ingest';
import { Lane, UPLOAD_SLOTS, type LaneName } from './lanes';
import { isActive, isNetworkFlash, type CancelledBy, type FirmwareJob, type JobSource } from './model';
import { jobsToPrune, type PruneLimits } from './prune';
import type { DispatchPool, RemotePreparerFn, RemoteRunnerFn, RemoteRunResult } from './remote';
import { JobStore } from './store';

export const OUTPUT_PERSIST_MS = 2000;

/** Extra environment per job (a build server: `ESPHOME_DATA_DIR`); `undefined` removes a variable. */
export type JobEnvProvider = (job: FirmwareJob) => Record<string, string | undefined>;
/** The scheduler's pick_build_path: `local` or `remote_pending`; may throw an ApiError (`no_compatible_peer`). */
export type BuildPathPicker = (job: FirmwareJob) => JobSource;

/** The hooks other layers plug into the engine; all given at construction. */
export interface EngineHooks {
  /** Runs jobs with `source === 'remote'` (after mark_running / job_started / persist). */
  remoteRunner?: RemoteRunnerFn;
  /** Prepares a waiting remote job ahead of its dispatch (bundles it into the bundle cache). */
  remotePreparer?: RemotePreparerFn;
  /** Decides the source of compiles/installs not forced local. Without one they run locally. */
  buildPathPicker?: BuildPathPicker;
  /**
   * The scheduler's dispatch pool. Without one (or while it is not accepting), `remote_pending`
   * compiles run locally; with one they wait for `dispatchRemote` / `dispatchLocal` / `failQueued`,
   * and the pool is woken when such a job is queued and whenever a compile-lane job ends.
   */
  dispatchPool?: DispatchPool;
  jobEnv?: JobEnvProvider;
}

export interface EngineOptions extends EngineHooks {
  configDir: string;
  /** Default `<configDir>/.kiln`. */
  dataDir?: string;
  /** argv prefix of the esphome command; default `['esphome']`. */
  esphome?: readonly string[];
  /** Default: a new bus. */
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

export type EngineState = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

/** How a run ended, as the run lifecycle records it. */
export type Outcome = Omit<RemoteRunResult, 'cancelledBy'> & { cancelledBy?: CancelledBy };

export interface CancelRequest {
  /** The job's error text when it ends cancelled (null = the user asked). */
  readonly reason: string | null;
  readonly by: CancelledBy;
}

/** One job being run (local process or remote runner). */
export interface RunState {
  readonly job: FirmwareJob;
  /** The lane slot it holds; null for an off-lane pool dispatch. */
  readonly lane: Lane | null;
  readonly cancel: AbortController;
  readonly shutdown: AbortController;
  /** Either of the above: what terminates this run's process. */
  readonly procSignal: AbortSignal;
  readonly scrape: ErrorScrape;
  finalized: boolean;
  done: Promise<void>;
}

/** A pool dispatch that arrived while paused: bound, started on resume. */
export interface HeldDispatch {
  readonly job: FirmwareJob;
  release(run: Promise<void>): void;
}

export class EngineContext {
  readonly bus: EventBus;
  readonly configDir: string;
  readonly dataDir: string;
  readonly esphome: readonly string[];
  readonly esptool: readonly string[];
  readonly terminateGraceMs: number;
  readonly drainMs: number;
  readonly chipVerifyTimeoutMs: number;
  readonly hooks: Readonly<EngineHooks>;

  readonly jobs = new Map<string, FirmwareJob>();
  readonly lanes: Record<LaneName, Lane>;
  readonly runs = new Map<string, RunState>();
  /** job id → who asked and why. Survives until the job is terminal. */
  readonly cancelRequests = new Map<string, CancelRequest>();
  readonly heldDispatches = new Map<string, HeldDispatch>();
  /** Cancelled-while-queued jobs whose `job_cancelled` waits for the persist. */
  readonly cancelEventsPending = new Set<string>();
  readonly store: JobStore;

  state: EngineState = 'new';
  /** Nothing queued starts while paused (persisted in jobs.json as `"paused"`). */
  paused = false;

  private readonly outputPersistMs: number;
  private readonly pruneLimits: PruneLimits;
  private readonly report: (message: string) => void;
  private readonly pump: () => void;
  private pumpScheduled = false;
  private wakeScheduled = false;
  private outputTimer: NodeJS.Timeout | undefined;

  /** `pump` starts whatever the lanes allow (the run lifecycle's); called on a later tick. */
  constructor(opts: EngineOptions & { bus: EventBus }, pump: () => void) {
    this.configDir = opts.configDir;
    this.dataDir = opts.dataDir ?? join(opts.configDir, '.kiln');
    this.esphome = Object.freeze([...(opts.esphome && opts.esphome.length > 0 ? opts.esphome : DEFAULT_ESPHOME)]);
    this.esptool = Object.freeze([...(opts.esptool && opts.esptool.length > 0 ? opts.esptool : DEFAULT_ESPTOOL)]);
    this.bus = opts.bus;
    this.lanes = { compile: new Lane('compile', 1), upload: new Lane('upload', opts.uploadSlots ?? UPLOAD_SLOTS) };
    this.chipVerifyTimeoutMs = opts.chipVerifyTimeoutMs ?? CHIP_VERIFY_TIMEOUT_MS;
    this.terminateGraceMs = opts.terminateGraceMs ?? TERMINATE_GRACE_MS;
    this.drainMs = opts.drainMs ?? DRAIN_AFTER_EXIT_MS;
    this.outputPersistMs = opts.outputPersistMs ?? OUTPUT_PERSIST_MS;
    this.pruneLimits = opts.pruneLimits ?? {};
    this.report = opts.report ?? ((m) => console.error(`[kiln] ${m}`));
    this.hooks = Object.freeze({
      remoteRunner: opts.remoteRunner,
      remotePreparer: opts.remotePreparer,
      buildPathPicker: opts.buildPathPicker,
      dispatchPool: opts.dispatchPool,
      jobEnv: opts.jobEnv,
    });
    this.pump = pump;
    this.store = new JobStore(this.dataDir, {
      enabled: opts.persist ?? true,
      report: (m) => this.warn(m),
      meta: () => ({ paused: this.paused }),
    });
  }

  // ---------------------------------------------------------------- persistence

  persist(): Promise<void> {
    return this.store.save(() => [...this.jobs.values()]).catch(() => undefined);
  }

  prune(): void {
    const drop = jobsToPrune([...this.jobs.values()], this.pruneLimits);
    if (drop.size === 0) return;
    for (const id of drop) this.jobs.delete(id);
    this.bus.emit('jobs_changed', { reason: 'pruned' });
  }

  /** Running jobs' output reaches disk at most every `outputPersistMs` so a crash keeps the log. */
  noteOutput(): void {
    if (this.outputTimer || !this.store.enabled || this.state !== 'started') return;
    this.outputTimer = setTimeout(() => {
      this.outputTimer = undefined;
      if (this.state === 'started') void this.persist();
    }, this.outputPersistMs);
    this.outputTimer.unref();
  }

  stopOutputTimer(): void {
    clearTimeout(this.outputTimer);
  }

  warn(message: string): void {
    this.report(message);
    if (this.state === 'starting') return; // load warnings are reported by start()
    this.bus.emit('engine_warning', { message });
  }

  // ---------------------------------------------------------------- wake-ups and placement

  schedulePump(): void {
    if (this.pumpScheduled || this.state !== 'started') return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Wake the dispatch pool on a later tick, so it never runs inside enqueue/finish bookkeeping. */
  wakePool(): void {
    if (this.wakeScheduled || !this.poolAccepting() || this.paused) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (this.state === 'started' && !this.paused && this.poolAccepting()) this.hooks.dispatchPool?.wake();
    });
  }

  /** A dispatch pool is there and takes `remote_pending` jobs (not detached). */
  poolAccepting(): boolean {
    const pool = this.hooks.dispatchPool;
    return pool !== undefined && (pool.accepting?.() ?? true);
  }

  /** Onto its lane; a `remote_pending` job waits for the pool instead (or runs locally without one). */
  place(job: FirmwareJob): void {
    if (job.source === 'remote_pending') {
      if (this.poolAccepting()) {
        this.wakePool();
        return;
      }
      job.source = 'local';
    }
    this.laneFor(job).push(job);
  }

  laneFor(job: FirmwareJob): Lane {
    return isNetworkFlash(job) ? this.lanes.upload : this.lanes.compile;
  }

  removeFromLanes(jobId: string): void {
    this.lanes.compile.remove(jobId);
    this.lanes.upload.remove(jobId);
  }

  // ---------------------------------------------------------------- shared helpers

  /** The shared per-chunk ingest of a run (ignored once the run is finalized). */
  ingest(run: RunState, chunk: string, scrape: boolean): void {
    if (run.finalized) return;
    ingestChunk(run.job, this.bus, chunk, scrape ? run.scrape : undefined);
    this.noteOutput();
  }

  envFor(job: FirmwareJob, extra: Record<string, string | undefined> = {}): Record<string, string> {
    return esphomeEnv(process.env, { ...(this.hooks.jobEnv?.(job) ?? {}), ...extra });
  }

  activeJobs(): FirmwareJob[] {
    return [...this.jobs.values()].filter(isActive);
  }

  assertStarted(): void {
    if (this.state !== 'started') throw new ApiError('unavailable', `job engine is ${this.state === 'new' ? 'not started' : this.state}`);
  }
}

/** Newest first by `created_at`; among equal times, later-inserted first. */
export function newestFirst(jobs: FirmwareJob[]): FirmwareJob[] {
  return jobs
    .map((job, i) => ({ job, i }))
    .sort((a, b) => (a.job.created_at === b.job.created_at ? b.i - a.i : a.job.created_at < b.job.created_at ? 1 : -1))
    .map(({ job }) => job);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

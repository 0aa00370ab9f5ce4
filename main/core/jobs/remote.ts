// The contract between the job engine and a remote runner (firmware-jobs.md §10, upstream PR #560):
// the engine does mark_running / job_started / persist, hands the runner this context, then does
// the shared end-of-run bookkeeping with the runner's verdict.
import type { EventBus } from '../events';
import type { FirmwareJob, JobFailureReason } from './model';
import type { BundlePriority } from '../esphome/bundle-slots';

export interface RunEsphomeResult {
  exitCode: number | null;
  signal: string | null;
  /** The job was already cancelled (or the engine stopping) before spawn: nothing was started. */
  skipped: boolean;
}

export interface RemoteRunContext {
  readonly job: FirmwareJob;
  readonly bus: EventBus;
  readonly configDir: string;
  /** Absolute YAML path, checked to be inside configDir ('' for reset_build_env). */
  readonly yamlPath: string;
  /** The esphome argv prefix the engine was configured with. */
  readonly esphome: readonly string[];
  /** Environment for local esphome runs (bundle, flash): inherited + forced + job env provider + extra. */
  env(extra?: Record<string, string | undefined>): Record<string, string>;
  /** The shared line ingest: CR collapse, caps, `job_output`, phase stamps, progress. */
  ingest(line: string): void;
  /** Phase reset: progress 0 and `job_progress 0`, bypassing the monotonic clamp. */
  resetProgress(): void;
  /** True once the user (or a supersede) asked to cancel this job. */
  cancelRequested(): boolean;
  /** Aborted on cancel; already aborted if the cancel came before the runner was called. */
  readonly cancelSignal: AbortSignal;
  /** Aborted when the engine stops: end promptly, send no wire cancel (the job ends "runner shutdown"). */
  readonly shutdownSignal: AbortSignal;
  /**
   * Run `<esphome> ...args` as a tracked process of this job (own process group, stdin closed,
   * output streamed through `ingest`); cancel or shutdown terminates it (SIGTERM, SIGKILL after the
   * grace period). A cancel before spawn skips the spawn (`skipped: true`). Rejects with an
   * actionable message when the esphome executable cannot be started.
   */
  runEsphome(args: string[], opts?: { env?: Record<string, string | undefined> }): Promise<RunEsphomeResult>;
}

export interface RemoteRunResult {
  /**
   * `reroute` (pool mode, build server lost): the job goes back to `remote_pending` and the
   * dispatch pool; the runner ingests the notice line itself.
   */
  status: 'completed' | 'failed' | 'cancelled' | 'reroute';
  error?: string | null;
  exitCode?: number | null;
  failureReason?: JobFailureReason;
  /**
   * With `status: 'cancelled'` when nobody here asked for it: `'remote'` = the build server
   * cancelled the job (the job's `cancelled_by`). A local cancel request always wins over it.
   */
  cancelledBy?: 'remote';
}

export type RemoteRunnerFn = (ctx: RemoteRunContext) => Promise<RemoteRunResult>;

/**
 * Prepares a queued remote job before the pool binds it (bundling ahead). The context's job is
 * not running: `ingest` and `resetProgress` do nothing, `runEsphome` is not available.
 */
/**
 * Bundle a pending job before its run: `ahead` while it still waits for a server (into the bundle
 * cache), `now` the moment the pool binds it (the run then takes that bundle: it starts before
 * the run has persisted its start, and before any bundle made ahead).
 */
export type RemotePreparerFn = (ctx: RemoteRunContext, signal: AbortSignal, priority?: BundlePriority) => Promise<void>;

/** The scheduler's dispatch pool: woken when pending remote jobs or the compile lane change. */
export interface DispatchPool {
  wake(): void;
  /**
   * False while the pool does not take `remote_pending` jobs (not started yet, or stopped): such
   * jobs then run locally. Absent = always accepting.
   */
  accepting?(): boolean;
}

export interface RemoteBinding {
  pin: string;
  label?: string;
  esphomeVersion?: string;
}

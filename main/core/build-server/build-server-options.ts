// What a BuildServer is built from: the engine and session-registry surfaces it uses, its
// options, and the one helper that cancels build-server jobs whose senders are gone.
import type { EventBus } from '../events';
import { isActive, isTerminal, type CancelledBy, type FirmwareJob, type QueueStatus } from '../jobs/model';
import type { BuildServerSession } from '../peer-link/session';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Frame, SubmitReason } from './frame-parse';
import type { JobOwners } from './job-env';
import type { BuildServerProvisioner } from './provision';
import type { SenderLimitOptions } from './sender-limits';

/**
 * Cancels every active receiver job (remote_peer set). Used when the role starts (jobs recovered
 * from a previous run belong to sessions that are gone: nobody can receive their result) and when
 * it stops. Queued ones are cancelled synchronously, so calling this right after
 * `await engine.start()` keeps them from ever spawning. Returns how many were cancelled.
 */
export function cancelBuildServerJobs(engine: Pick<BuildServerEngine, 'getJobs' | 'cancel'>): number {
  let n = 0;
  for (const job of engine.getJobs()) {
    if (job.remote_peer === '' || !isActive(job)) continue;
    n++;
    engine.cancel(job.job_id).catch(() => undefined);
  }
  return n;
}

/**
 * The engine surface the receiver uses (JobEngine fits). The engine must be constructed with
 * `jobEnv: buildServerJobEnv(dataDir)` (job-env.ts) so each sender's builds get its ESPHOME_DATA_DIR.
 */
export interface BuildServerEngine {
  readonly bus: EventBus;
  readonly configDir: string;
  readonly dataDir: string;
  enqueue(jobs: FirmwareJob[], opts?: { supersede?: boolean }): void;
  /** `by` is recorded as the job's cancelled_by ('remote' for a sender's cancel_job). */
  cancel(jobId: string, opts?: { by?: CancelledBy }): Promise<void>;
  getJob(jobId: string): FirmwareJob | undefined;
  /** Newest first. */
  getJobs(f?: { status?: FirmwareJob['status']; configuration?: string }): FirmwareJob[];
  queueStatus(): QueueStatus;
}

/** The session registry surface (ReceiverSessionRegistry fits). */
export interface BuildServerSessions {
  get(dashboardId: string): BuildServerSession | undefined;
  list(): BuildServerSession[];
  onRegister(fn: (s: BuildServerSession) => void): () => void;
  onUnregister(fn: (s: BuildServerSession, reason: string) => void): () => void;
}

/** Per-sender and total limits: SenderLimitOptions (sender-limits.ts). */
export interface BuildServerOptions extends SenderLimitOptions {
  engine: BuildServerEngine;
  /** The registry the engine's job env reads (`buildServerJobEnv(dataDir, owners)`): must be the same instance. */
  jobOwners: JobOwners;
  sessions: BuildServerSessions;
  /** Where `remote_builds/` lives; default the engine's dataDir. Must lie inside the engine's configDir. */
  dataDir?: string;
  /** Workspace TTL (§15 `cleanup_ttl_seconds`), default 24 h, clamped 1 h..30 days. */
  cleanupTtlSeconds?: number;
  sweepIntervalMs?: number;
  /** How long artifacts packed at completion wait for their download, default 60 s. */
  prepackTtlMs?: number;
  /** Bound on an inflated bundle, default 512 MiB. */
  maxUncompressedBundleBytes?: number;
  /** Bundle cap, default 128 MiB. */
  maxBundleBytes?: number;
  log?: (message: string) => void;
  /**
   * Test seam: awaited after the ack and before extraction starts, with the job's abort signal
   * (lets a test hold a job "mid-extract" deterministically).
   */
  beforeExtract?: (jobId: string, signal: AbortSignal) => Promise<void>;
  /** This build server's own ESPHome version ('' while unknown: no stored build is reused). */
  esphomeVersion?: () => string;
  /** Completed builds kept per sender for an identical resubmission (artifact-reuse.ts), default 3; 0 = off. */
  reuseKeepPerSender?: number;
  /** Builds a sender's ESPHome version in a toolchain of that version (§9.5); absent = never. */
  provisioner?: BuildServerProvisioner;
}

/** The job's configuration: the extracted YAML relative to the engine's config dir (POSIX). */
export function configurationFor(configDir: string, root: string, yamlPath: string): string {
  const rel = relative(resolve(configDir), yamlPath);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new Error(`the remote-build root ${root} is not inside the config directory ${configDir}`);
  }
  return rel.split(sep).join('/');
}

/** Cancels the running builds of `configuration` and waits until they ended (a resubmit rewrites their workspace). */
export async function stopRunningBuilds(engine: Pick<BuildServerEngine, 'bus' | 'cancel' | 'getJobs'>, configuration: string, onReplace: (jobId: string) => void): Promise<void> {
  const running = engine.getJobs({ configuration }).filter((j) => j.status === 'running');
  for (const job of running) {
    onReplace(job.job_id);
    const done = new Promise<void>((res) => {
      const offs = (['job_completed', 'job_failed', 'job_cancelled'] as const).map((ev) =>
        engine.bus.on(ev, ({ job: j }) => {
          if (j.job_id !== job.job_id) return;
          for (const off of offs) off();
          res();
        }),
      );
      if (isTerminal(job)) {
        for (const off of offs) off();
        res();
      }
    });
    await engine.cancel(job.job_id).catch(() => undefined);
    await done;
  }
}

export function ackFrame(jobId: string, accepted: boolean, reason?: SubmitReason): Frame {
  const f: Frame = { type: 'submit_job_ack', job_id: jobId, accepted };
  if (!accepted && reason) f.reason = reason;
  return f;
}

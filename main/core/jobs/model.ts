// The firmware job model (firmware-jobs.md §2). One JSON shape serves the API, the jobs file on
// disk and the receiver's bookkeeping, so field names stay snake_case like upstream's.
import { randomUUID } from 'node:crypto';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const JOB_TYPES = ['compile', 'upload', 'install', 'clean', 'reset_build_env', 'rename'] as const;
export type JobType = (typeof JOB_TYPES)[number];

export const JOB_SOURCES = ['local', 'remote', 'remote_pending'] as const;
export type JobSource = (typeof JOB_SOURCES)[number];

export type JobFailureReason = '' | 'provision';

/**
 * Who ended a job cancelled (Kiln extra): the user, a newer job for the same configuration, a
 * clean or reset of the build environment, engine shutdown, a failed/cancelled prerequisite, or
 * the build server (remote runner / receiver side).
 */
export const CANCELLED_BY_VALUES = ['user', 'superseded', 'clean', 'reset', 'shutdown', 'prerequisite', 'remote'] as const;
export type CancelledBy = (typeof CANCELLED_BY_VALUES)[number];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);
export const ACTIVE_STATUSES: ReadonlySet<JobStatus> = new Set(['queued', 'running']);
export const OTA_PORT = 'OTA';

export interface QueueStatus {
  idle: boolean;
  running: boolean;
  queue_depth: number;
}

export interface FirmwareJob {
  job_id: string;
  configuration: string;
  job_type: JobType;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  compile_started_at: string | null;
  compile_ended_at: string | null;
  exit_code: number | null;
  /** Buffered output chunks, each with its terminator. Capped (§8). */
  output: string[];
  error: string | null;
  port: string;
  flash_bootloader: boolean;
  is_deferred_install: boolean;
  new_name: string;
  depends_on: string;
  dependency_released: boolean;
  progress: number | null;
  /** Parser bookkeeping: never sent to clients or written to disk. */
  ninja_total: number;
  remote_peer: string;
  remote_job_id: string;
  remote_peer_label: string;
  device_name: string;
  device_friendly_name: string;
  source: JobSource;
  source_pin_sha256: string;
  source_label: string;
  source_esphome_version: string;
  target_esphome_version: string;
  failure_reason: JobFailureReason;
  /** Set when the job ended cancelled; '' otherwise (Kiln extra). */
  cancelled_by: CancelledBy | '';
}

/** 12 lowercase hex characters from a random UUID (firmware-jobs.md §2.2). */
export function newJobId(): string {
  return randomUUID().replace(/-/g, '').slice(0, 12);
}

export function nowIso(): string {
  return new Date().toISOString();
}

export function createJob(init: Pick<FirmwareJob, 'configuration' | 'job_type'> & Partial<FirmwareJob>): FirmwareJob {
  return {
    job_id: newJobId(),
    status: 'queued',
    created_at: nowIso(),
    started_at: null,
    completed_at: null,
    compile_started_at: null,
    compile_ended_at: null,
    exit_code: null,
    output: [],
    error: null,
    port: '',
    flash_bootloader: false,
    is_deferred_install: false,
    new_name: '',
    depends_on: '',
    dependency_released: false,
    progress: null,
    ninja_total: 0,
    remote_peer: '',
    remote_job_id: '',
    remote_peer_label: '',
    device_name: '',
    device_friendly_name: '',
    source: 'local',
    source_pin_sha256: '',
    source_label: '',
    source_esphome_version: '',
    target_esphome_version: '',
    failure_reason: '',
    cancelled_by: '',
    ...init,
  };
}

export const isTerminal = (job: Pick<FirmwareJob, 'status'>): boolean => TERMINAL_STATUSES.has(job.status);
export const isActive = (job: Pick<FirmwareJob, 'status'>): boolean => ACTIVE_STATUSES.has(job.status);
export const isRenameTail = (job: FirmwareJob): boolean => job.job_type === 'rename' && job.depends_on !== '';
export const isNetworkFlash = (job: FirmwareJob): boolean => job.job_type === 'upload' || isRenameTail(job);
export const wipesLocalBuildTree = (job: FirmwareJob): boolean =>
  (job.job_type === 'clean' || job.job_type === 'reset_build_env') && job.source !== 'remote';

export function markRunning(job: FirmwareJob): void {
  job.status = 'running';
  job.started_at = nowIso();
}

/** `cancelledBy` is recorded only for `cancelled` (anything else clears it). */
export function markTerminal(job: FirmwareJob, status: JobStatus, error: string | null = null, cancelledBy: CancelledBy | '' = ''): void {
  if (!TERMINAL_STATUSES.has(status)) throw new Error(`markTerminal: ${status} is not a terminal status`);
  job.status = status;
  job.completed_at = nowIso();
  job.error = error;
  job.cancelled_by = status === 'cancelled' ? cancelledBy : '';
}

export function clearRunState(job: FirmwareJob): void {
  job.progress = null;
  job.ninja_total = 0;
  job.error = null;
  job.failure_reason = '';
  job.cancelled_by = '';
  job.started_at = null;
  job.completed_at = null;
  job.compile_started_at = null;
  job.compile_ended_at = null;
  job.exit_code = null;
}

export const RESTART_NOTICE =
  "... [dashboard restarted mid-build; the previous run's log is above, the rebuild begins below] ...\n";

/** Restart recovery: keep the log, append the notice, re-queue. */
export function resetForRestart(job: FirmwareJob): void {
  job.output.push(RESTART_NOTICE);
  clearRunState(job);
  job.status = 'queued';
}

/** Re-route: the job goes back to the dispatch pool, unbound. */
export function revertToPendingRemote(job: FirmwareJob): void {
  job.source = 'remote_pending';
  job.source_pin_sha256 = '';
  job.source_label = '';
  job.source_esphome_version = '';
}

/** The client/disk view: never carries parser bookkeeping. */
export function serializeJob(job: FirmwareJob, opts: { withOutput?: boolean } = {}): Omit<FirmwareJob, 'ninja_total'> {
  const { ninja_total: _ignored, ...rest } = job;
  return { ...rest, output: opts.withOutput === false ? [] : [...job.output] };
}

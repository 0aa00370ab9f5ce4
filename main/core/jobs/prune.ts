// History pruning (firmware-jobs.md §14). Active jobs are never pruned.
import { isTerminal, type FirmwareJob, type JobType } from './model';

export const MAX_PRIMARY_TERMINAL_JOBS = 500;
export const MAX_AUX_TERMINAL_JOBS = 5;

const AUX_TYPES: ReadonlySet<JobType> = new Set(['clean', 'reset_build_env']);

export interface PruneLimits {
  primary?: number;
  aux?: number;
}

/**
 * Ids to drop: terminal primary jobs (compile/upload/install/rename) keep only the newest per
 * (configuration, job_type), at most 500; terminal aux jobs (clean/reset) at most 5.
 * Newest = latest `created_at`; ties go to the later entry in `jobs`.
 */
export function jobsToPrune(jobs: readonly FirmwareJob[], limits: PruneLimits = {}): Set<string> {
  const maxPrimary = limits.primary ?? MAX_PRIMARY_TERMINAL_JOBS;
  const maxAux = limits.aux ?? MAX_AUX_TERMINAL_JOBS;
  const newestFirst = jobs
    .map((job, i) => ({ job, i }))
    .filter(({ job }) => isTerminal(job))
    .sort((a, b) => (a.job.created_at === b.job.created_at ? b.i - a.i : a.job.created_at < b.job.created_at ? 1 : -1))
    .map(({ job }) => job);
  const drop = new Set<string>();
  const seen = new Set<string>();
  let primary = 0;
  let aux = 0;
  for (const job of newestFirst) {
    if (AUX_TYPES.has(job.job_type)) {
      if (++aux > maxAux) drop.add(job.job_id);
      continue;
    }
    const key = `${job.job_type}\u0000${job.configuration}`;
    if (seen.has(key) || ++primary > maxPrimary) {
      drop.add(job.job_id);
      continue;
    }
    seen.add(key);
  }
  return drop;
}

// Restart recovery (firmware-jobs.md §13): jobs.json is loaded (problems become warnings, never a
// crash), jobs a crash left running are re-queued with the restart notice, active remote jobs go
// back to the dispatch pool, queued dependents are re-linked to their heads or cancelled when
// the head can no longer complete.
import { PREREQUISITE_FAILED } from './cancellation';
import { newestFirst, type EngineContext } from './engine-context';
import { isActive, markTerminal, resetForRestart, revertToPendingRemote, type FirmwareJob } from './model';
import type { JobsFileMeta } from './store';

/**
 * Loads the store into the job table and re-queues what should run. Load problems are appended to
 * `warnings` and emitted as `engine_warning`. Returns the file's meta, or null when the engine
 * was stopped meanwhile (then nothing is loaded).
 */
export async function loadAndRecover(ctx: EngineContext, warnings: string[]): Promise<JobsFileMeta | null> {
  const loaded = await ctx.store.load();
  const { jobs, meta } = loaded;
  warnings.push(...loaded.warnings);
  for (const w of loaded.warnings) ctx.bus.emit('engine_warning', { message: w });
  await ctx.store.removeStaleTemps();
  if (ctx.state !== 'starting') return null; // stop() was called meanwhile
  for (const job of jobs) ctx.jobs.set(job.job_id, job);
  recover(ctx, jobs);
  return meta;
}

function recover(ctx: EngineContext, jobs: FirmwareJob[]): void {
  for (const job of jobs) {
    if (job.status === 'running') resetForRestart(job);
    if (isActive(job) && (job.source === 'remote' || job.source === 'remote_pending') && job.job_type !== 'clean') {
      revertToPendingRemote(job);
    }
  }
  for (const job of newestFirst(jobs).reverse()) {
    if (job.status !== 'queued') continue;
    const prereq = job.depends_on ? ctx.jobs.get(job.depends_on) : undefined;
    if (!job.depends_on || prereq?.status === 'completed' || job.dependency_released) {
      ctx.place(job);
    } else if (!prereq || !isActive(prereq)) {
      markTerminal(job, 'cancelled', PREREQUISITE_FAILED, 'prerequisite');
    }
  }
}

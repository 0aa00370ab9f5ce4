// "Build locally instead" (ui-and-users.md §4.2), implemented once: the API's `buildLocally` and
// `RemoteBuilds.buildLocallyInstead` both call this. It only needs the engine's public job
// operations, so the API service can use it without the peer-link wiring.
import { ApiError, toApiError } from '../errors';
import { isTerminal, type FirmwareJob } from '../jobs/model';

/** The job engine operations this needs (JobEngine and the API's JobsPort both fit). */
export interface BuildLocallyJobs {
  getJob(jobId: string): FirmwareJob | undefined;
  getJobs(): FirmwareJob[];
  /** Rejects/throws ApiError not_found / invalid_args when the job is gone or already finished. */
  cancel(jobId: string): Promise<void> | void;
  compile(a: { configuration: string; forceLocal?: boolean }): FirmwareJob;
  install(a: { configuration: string; port?: string; forceLocal?: boolean; bootloader?: boolean }): FirmwareJob;
}

/**
 * Cancels the remote compile/install (a job that finished in the meantime is tolerated) and
 * submits it again with `forceLocal`. A compile with a held upload, or an install, is re-submitted
 * as an install keeping that upload's target and bootloader flag. Returns the new job (the compile
 * of the new chain). Throws ApiError not_found (unknown job) or invalid_args (not a compile or
 * install, or already local).
 */
export async function buildLocallyInstead(jobs: BuildLocallyJobs, jobId: string): Promise<FirmwareJob> {
  const job = jobs.getJob(jobId);
  if (!job) throw new ApiError('not_found', `Job not found: ${jobId}`);
  if (job.job_type !== 'compile' && job.job_type !== 'install') {
    throw new ApiError('invalid_args', 'Only a compile or install can be switched to a local build');
  }
  if (job.source === 'local') throw new ApiError('invalid_args', 'This job already builds locally');
  // Read before the cancel: cancelling the compile cancels its held upload too.
  const upload = jobs.getJobs().find((j) => j.depends_on === jobId && j.job_type === 'upload');
  if (!isTerminal(job)) {
    try {
      await jobs.cancel(jobId);
    } catch (err) {
      // The remote job may have finished between the check and the cancel: re-submit anyway.
      const e = toApiError(err);
      if (e.code !== 'not_found' && e.code !== 'invalid_args') throw e;
    }
  }
  if (upload || job.job_type === 'install') {
    const port = upload ? upload.port : job.port;
    const bootloader = upload ? upload.flash_bootloader : job.flash_bootloader;
    return jobs.install({ configuration: job.configuration, port: port || 'OTA', bootloader, forceLocal: true });
  }
  return jobs.compile({ configuration: job.configuration, forceLocal: true });
}

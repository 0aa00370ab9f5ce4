// Admission (firmware-jobs.md §5): building the jobs of an operation (compile, upload, install
// chain, clean, reset), validating them (configuration inside the config dir, port, prerequisite,
// rename lock), placing or holding each on its lane with `job_queued`, superseding other active
// jobs of the same configuration, persisting.
import { join } from 'node:path';
import { ApiError } from '../errors';
import { ConfigPathError, isSerialPort, PortError, resolveConfigPath, validatePort } from '../esphome/argv';
import { PREREQUISITE_FAILED, type Cancellation } from './cancellation';
import type { EngineContext } from './engine-context';
import { ingestChunk } from './ingest';
import { createJob, isActive, isTerminal, OTA_PORT, type FirmwareJob, type JobSource } from './model';

export class Admission {
  constructor(
    private readonly ctx: EngineContext,
    private readonly cancellation: Cancellation,
  ) {}

  compile(a: { configuration: string; forceLocal?: boolean }): FirmwareJob {
    const job = createJob({ configuration: a.configuration, job_type: 'compile' });
    this.checkConfiguration(job.configuration);
    job.source = this.pickSource(job, a.forceLocal);
    this.enqueue([job]);
    return job;
  }

  upload(a: { configuration: string; port?: string; bootloader?: boolean; note?: string }): FirmwareJob {
    const port = a.port ?? '';
    const job = createJob({ configuration: a.configuration, job_type: 'upload', port, flash_bootloader: a.bootloader === true });
    this.checkConfiguration(job.configuration);
    this.checkPort(port, job.flash_bootloader, true);
    this.enqueue([job]);
    this.note(job, a.note);
    return job;
  }

  /** Compile + dependent upload (held until the compile completes). Returns the compile. */
  install(a: { configuration: string; port?: string; forceLocal?: boolean; bootloader?: boolean; note?: string }): FirmwareJob {
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
    this.note(compile, a.note);
    return compile;
  }

  /** Cancels the device's active jobs first, then queues the clean. */
  clean(a: { configuration: string }): FirmwareJob {
    const job = createJob({ configuration: a.configuration, job_type: 'clean' });
    this.checkConfiguration(job.configuration);
    this.ctx.assertStarted();
    for (const other of this.ctx.activeJobs()) {
      if (other.configuration === job.configuration) void this.cancellation.request(other, 'clean', `cancelled by clean job ${job.job_id}`);
    }
    this.enqueue([job]);
    return job;
  }

  /** `esphome clean-all <config dir>`: cancels every other active job, blocks all flashes until done. */
  resetBuildEnv(): FirmwareJob {
    const job = createJob({ configuration: '', job_type: 'reset_build_env' });
    this.ctx.assertStarted();
    for (const other of this.ctx.activeJobs()) void this.cancellation.request(other, 'reset', `cancelled by reset build environment job ${job.job_id}`);
    this.enqueue([job]);
    return job;
  }

  /**
   * Low-level enqueue of prepared jobs (receiver jobs, fan-out). A chain is `[head, ...dependents]`
   * with `depends_on` linking them. Order of effects (§5): place or hold each job (dependents
   * first) and fire `job_queued`; then supersede (unless `supersede: false`); then persist.
   */
  enqueue(jobs: FirmwareJob[], opts: { supersede?: boolean } = {}): void {
    const { ctx } = this;
    ctx.assertStarted();
    const chain = new Set(jobs.map((j) => j.job_id));
    for (const job of jobs) this.validateNewJob(job, chain);
    this.checkRenameLock(jobs);
    for (const job of jobs) ctx.jobs.set(job.job_id, job);
    const doomed: FirmwareJob[] = [];
    for (const job of [...jobs].reverse()) {
      const prereq = job.depends_on ? ctx.jobs.get(job.depends_on) : undefined;
      if (!job.depends_on || prereq?.status === 'completed') {
        if (job.depends_on) job.dependency_released = true;
        ctx.place(job);
      } else if (prereq && isTerminal(prereq)) {
        doomed.push(job);
      }
      ctx.bus.emit('job_queued', { job });
    }
    for (const job of doomed) void this.cancellation.cancelQueued(job, 'prerequisite', PREREQUISITE_FAILED);
    if (opts.supersede !== false) {
      for (const job of jobs) {
        if (job.configuration === '') continue;
        for (const other of ctx.activeJobs()) {
          if (!chain.has(other.job_id) && other.configuration === job.configuration) {
            void this.cancellation.request(other, 'superseded', `superseded by job ${job.job_id}`);
          }
        }
      }
    }
    void ctx.persist();
    ctx.schedulePump();
  }

  /**
   * A line shown first in a job's log (the firmware library's "which build is used" /
   * "rebuilding because …", jobs/library-install.ts). Lanes start jobs from a scheduled pump,
   * so it lands before any process output.
   */
  private note(job: FirmwareJob, note: string | undefined): void {
    if (note) ingestChunk(job, this.ctx.bus, note.endsWith('\n') ? note : `${note}\n`);
  }

  private pickSource(job: FirmwareJob, forceLocal: boolean | undefined): JobSource {
    const picker = this.ctx.hooks.buildPathPicker;
    if (forceLocal || !picker) return 'local';
    return picker(job);
  }

  private checkConfiguration(configuration: string): void {
    try {
      resolveConfigPath(this.ctx.configDir, configuration);
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
    const { jobs } = this.ctx;
    if (jobs.has(job.job_id)) throw new ApiError('invalid_args', `Job already exists: ${job.job_id}`);
    if (job.status !== 'queued') throw new ApiError('invalid_args', `A new job must be queued, not ${job.status}`);
    if (job.job_type === 'reset_build_env') {
      if (job.configuration !== '') throw new ApiError('invalid_args', 'reset_build_env takes no configuration');
    } else {
      this.checkConfiguration(job.configuration);
    }
    if (job.port !== '') this.checkPort(job.port, job.flash_bootloader, true);
    if (job.depends_on && !chain.has(job.depends_on) && !jobs.has(job.depends_on)) {
      throw new ApiError('invalid_args', `Unknown prerequisite job: ${job.depends_on}`);
    }
  }

  /** A job touching either file name of an active rename is refused (§5 step 2). */
  private checkRenameLock(jobs: readonly FirmwareJob[]): void {
    for (const r of this.ctx.jobs.values()) {
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
}

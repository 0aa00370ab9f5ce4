// Persistence under dataDir (firmware-jobs.md §13): job metadata in one JSON file written
// atomically (temp + rename) with serialized, coalescing writes; each finished job's output in
// logs/<job_id>.log (atomic), dropped from memory and metadata once written; active jobs keep
// output inline so a crash keeps their log. Loading never throws: a corrupt file is moved aside
// and reported, a corrupt entry is skipped and reported.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { splitChunks } from '../esphome/line-splitter';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../private-fs';
import { CANCELLED_BY_VALUES, createJob, isActive, isTerminal, JOB_SOURCES, JOB_STATUSES, JOB_TYPES, serializeJob, type FirmwareJob } from './model';

export const JOBS_FILE = 'jobs.json';
export const LOGS_DIR = 'logs';
const FILE_VERSION = 1;
const TEMP_MARK = '.tmp-';
const JOB_ID_RE = /^[0-9a-f]{12}$/;

const isoOrNull = z.string().nullable();
/** One persisted job. Fields added later may be missing in older files: they get defaults. */
const jobEntrySchema = z.object({
  job_id: z.string().regex(JOB_ID_RE, 'job_id must be 12 lowercase hex characters'),
  configuration: z.string(),
  job_type: z.enum(JOB_TYPES),
  status: z.enum(JOB_STATUSES),
  created_at: z.string().min(1),
  started_at: isoOrNull.optional(),
  completed_at: isoOrNull.optional(),
  compile_started_at: isoOrNull.optional(),
  compile_ended_at: isoOrNull.optional(),
  exit_code: z.number().int().nullable().optional(),
  output: z.array(z.string()).optional(),
  error: z.string().nullable().optional(),
  port: z.string().optional(),
  flash_bootloader: z.boolean().optional(),
  is_deferred_install: z.boolean().optional(),
  new_name: z.string().optional(),
  depends_on: z.string().optional(),
  dependency_released: z.boolean().optional(),
  progress: z.number().int().min(0).max(100).nullable().optional(),
  remote_peer: z.string().optional(),
  remote_job_id: z.string().optional(),
  remote_peer_label: z.string().optional(),
  device_name: z.string().optional(),
  device_friendly_name: z.string().optional(),
  source: z.enum(JOB_SOURCES).optional(),
  source_pin_sha256: z.string().optional(),
  source_label: z.string().optional(),
  source_esphome_version: z.string().optional(),
  target_esphome_version: z.string().optional(),
  failure_reason: z.enum(['', 'provision']).optional(),
  cancelled_by: z.enum(['', ...CANCELLED_BY_VALUES]).optional(),
});

/** Engine state kept next to the jobs in jobs.json (absent in older files: defaults). */
export interface JobsFileMeta {
  /** The queue is paused: nothing queued starts until resumed. */
  paused: boolean;
}

export interface LoadResult {
  jobs: FirmwareJob[];
  warnings: string[];
  meta: JobsFileMeta;
}

export interface JobStoreOptions {
  /** false: nothing is read or written (one-shot CLI runs, tests). */
  enabled?: boolean;
  /** Where warnings go besides the returned list (default: stderr). */
  report?: (message: string) => void;
  /** Engine state written with every save (captured when the write starts). */
  meta?: () => JobsFileMeta;
}

export class JobStore {
  readonly jobsFile: string;
  readonly logsDir: string;
  readonly enabled: boolean;
  private readonly report: (message: string) => void;
  private readonly meta: (() => JobsFileMeta) | undefined;
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;
  /** Terminal jobs whose output lives in logs/<id>.log (and no longer in memory). */
  private readonly logged = new Set<string>();
  /**
   * Whether logs with no job in memory may be deleted as orphans. Off when jobs.json could not
   * be read or quarantined: those logs belong to jobs we could not load, not to nobody.
   */
  private sweepOrphanLogs = true;

  constructor(
    readonly dataDir: string,
    opts: JobStoreOptions = {},
  ) {
    this.jobsFile = join(dataDir, JOBS_FILE);
    this.logsDir = join(dataDir, LOGS_DIR);
    this.enabled = opts.enabled ?? true;
    this.report = opts.report ?? ((m) => console.error(`[kiln] ${m}`));
    this.meta = opts.meta;
  }

  hasLog(jobId: string): boolean {
    return this.logged.has(jobId);
  }

  async load(): Promise<LoadResult> {
    const warnings: string[] = [];
    const warn = (m: string): void => {
      warnings.push(m);
      this.report(m);
    };
    const meta: JobsFileMeta = { paused: false };
    if (!this.enabled) return { jobs: [], warnings, meta };
    await mkdirPrivate(this.logsDir);
    let text: string;
    try {
      text = await readFile(this.jobsFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { jobs: [], warnings, meta };
      this.sweepOrphanLogs = false;
      warn(`could not read ${this.jobsFile}: ${(err as Error).message}; starting with no job history (existing logs are kept)`);
      return { jobs: [], warnings, meta };
    }
    let entries: unknown[];
    let paused: unknown;
    try {
      const parsed: unknown = JSON.parse(text);
      const list = Array.isArray(parsed) ? parsed : (parsed as { jobs?: unknown } | null)?.jobs;
      if (!Array.isArray(list)) throw new Error('expected a list of jobs');
      entries = list;
      if (!Array.isArray(parsed)) paused = (parsed as { paused?: unknown }).paused;
    } catch (err) {
      const aside = `${this.jobsFile}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      let moved = true;
      try {
        await rename(this.jobsFile, aside);
      } catch {
        moved = false;
      }
      // The logs belong to the quarantined jobs: they go aside with it, never swept as orphans.
      const logsAside = `${aside}.logs`;
      let logsMoved = false;
      if (moved) {
        try {
          await rename(this.logsDir, logsAside);
          logsMoved = true;
          await mkdirPrivate(this.logsDir);
        } catch {
          logsMoved = false;
        }
      }
      if (!logsMoved) this.sweepOrphanLogs = false;
      warn(
        `jobs file ${this.jobsFile} is corrupt (${(err as Error).message}); ` +
          (moved ? `moved it aside to ${aside}` : 'could not move it aside') +
          (logsMoved ? ` with its logs (${logsAside})` : ' (its logs are kept in place)') +
          ' and started with an empty job list',
      );
      return { jobs: [], warnings, meta };
    }
    if (typeof paused === 'boolean') meta.paused = paused;
    else if (paused !== undefined) warn(`ignored an invalid "paused" value in ${this.jobsFile}: ${JSON.stringify(paused)}`);
    const jobs: FirmwareJob[] = [];
    const ids = new Set<string>();
    const existingLogs = new Set(await this.listLogIds());
    entries.forEach((entry, i) => {
      const res = jobEntrySchema.safeParse(entry);
      if (!res.success) {
        const id = (entry as { job_id?: unknown } | null)?.job_id;
        const issue = res.error.issues[0];
        warn(`skipped corrupt job entry #${i}${typeof id === 'string' ? ` (${id})` : ''}: ${issue?.path.join('.') || 'entry'}: ${issue?.message}`);
        return;
      }
      if (ids.has(res.data.job_id)) {
        warn(`skipped duplicate job entry #${i} (${res.data.job_id})`);
        return;
      }
      ids.add(res.data.job_id);
      const job = createJob({ ...stripUndefined(res.data), configuration: res.data.configuration, job_type: res.data.job_type, ninja_total: 0 });
      if (isTerminal(job) && job.output.length === 0 && existingLogs.has(job.job_id)) this.logged.add(job.job_id);
      jobs.push(job);
    });
    return { jobs, warnings, meta };
  }

  /**
   * Persist the jobs `capture()` returns when this write begins (so a burst of requests is one
   * write of the newest state). Writes never overlap; the promise settles after a write that
   * started after the call.
   */
  save(capture: () => FirmwareJob[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    if (this.queued) return this.queued;
    const p = this.chain.then(() => {
      this.queued = null;
      return this.writeNow(capture(), this.meta?.());
    });
    this.queued = p;
    this.chain = p.catch((err) => this.report(`could not save job state: ${(err as Error).message}`));
    return p;
  }

  /** Wait for every requested write to finish. */
  async flush(): Promise<void> {
    await this.chain;
  }

  /** The finished job's output from its sidecar log; null if there is none. */
  async readLog(jobId: string): Promise<string[] | null> {
    if (!JOB_ID_RE.test(jobId)) return null;
    try {
      return splitChunks(await readFile(join(this.logsDir, `${jobId}.log`), 'utf8'));
    } catch {
      return null;
    }
  }

  /** Delete temp files left by a crash mid-write (only called when no write is in flight). */
  async removeStaleTemps(): Promise<void> {
    if (!this.enabled) return;
    for (const dir of [this.dataDir, this.logsDir]) {
      for (const name of await safeReaddir(dir)) {
        if (name.includes(TEMP_MARK)) await rm(join(dir, name), { force: true });
      }
    }
  }

  private async writeNow(jobs: FirmwareJob[], meta: JobsFileMeta | undefined): Promise<void> {
    await mkdirPrivate(this.logsDir);
    for (const job of jobs) {
      if (isTerminal(job) && job.output.length > 0 && !this.logged.has(job.job_id)) {
        const out = job.output;
        await atomicWrite(join(this.logsDir, `${job.job_id}.log`), out.join(''));
        this.logged.add(job.job_id);
        if (job.output === out) job.output = [];
      }
    }
    const doc = {
      version: FILE_VERSION,
      ...(meta ? { paused: meta.paused } : {}),
      jobs: jobs.map((job) => serializeJob(job, { withOutput: isActive(job) })),
    };
    await atomicWrite(this.jobsFile, JSON.stringify(doc));
    const keep = new Set(jobs.map((j) => j.job_id));
    for (const id of this.logged) if (!keep.has(id)) this.logged.delete(id);
    for (const name of await safeReaddir(this.logsDir)) {
      const id = name.endsWith('.log') ? name.slice(0, -4) : null;
      if ((id !== null && !keep.has(id) && this.sweepOrphanLogs) || name.includes(TEMP_MARK)) await rm(join(this.logsDir, name), { force: true });
    }
  }

  private async listLogIds(): Promise<string[]> {
    return (await safeReaddir(this.logsDir)).filter((n) => n.endsWith('.log')).map((n) => n.slice(0, -4));
  }
}

async function atomicWrite(file: string, data: string): Promise<void> {
  const tmp = `${file}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.chmod(PRIVATE_FILE_MODE); // whatever the umask: job logs and configurations are private
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function safeReaddir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

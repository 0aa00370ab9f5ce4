// Persistence under dataDir (firmware-jobs.md §13): job metadata in a JSON snapshot (jobs.json,
// written atomically: temp + rename) plus an append-only journal of the jobs that changed since
// (jobs.journal, see journal.ts), compacted into the snapshot at start, at stop and when it grows
// past half the snapshot; writes are serialized and coalescing; each finished job's output in
// logs/<job_id>.log (atomic), dropped from memory and metadata once written; active jobs keep
// output inline so a crash keeps their log. Loading never throws: a corrupt file is moved aside
// and reported, a corrupt entry is skipped and reported.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { delLine, JOURNAL_FILE, JournalWriter, metaLine, parseJournal, putLine } from './journal';
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
/** The journal is compacted once it exceeds this or half the snapshot, whichever is larger. */
const COMPACT_MIN_BYTES = 64 * 1024;

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
  readonly journalFile: string;
  private readonly journal: JournalWriter;
  /** Well-formed bytes of the journal found at load (a torn tail beyond is cut before appending). */
  private journalValidBytes = 0;
  /** Each job's JSON as last persisted (snapshot or journal): a save appends only what differs. */
  private persisted = new Map<string, string>();
  private persistedPaused: boolean | undefined;
  /** The next write is a full snapshot (first write after load, or the journal grew too big). */
  private compactNext = true;
  private snapshotBytes = 0;
  private loadedSnapshotBytes = 0;
  private readonly jsonCache = new WeakMap<FirmwareJob, { sig: string; json: string }>();
  /** Timing-free counters for tests and benchmarks. */
  readonly stats = { snapshots: 0, appends: 0, records: 0 };

  constructor(
    readonly dataDir: string,
    opts: JobStoreOptions = {},
  ) {
    this.jobsFile = join(dataDir, JOBS_FILE);
    this.logsDir = join(dataDir, LOGS_DIR);
    this.enabled = opts.enabled ?? true;
    this.report = opts.report ?? ((m) => console.error(`[kiln] ${m}`));
    this.meta = opts.meta;
    this.journalFile = join(dataDir, JOURNAL_FILE);
    this.journal = new JournalWriter(this.journalFile);
  }

  /** Size of the jobs.json read by load() (0 when there was none). */
  get loadedBytes(): number {
    return this.loadedSnapshotBytes;
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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.finishLoad([], undefined, warn, warnings, meta);
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
      // The journal holds changes to the quarantined snapshot: it goes aside with it.
      if (moved) await rename(this.journalFile, `${aside}.journal`).catch(() => undefined);
      warn(
        `jobs file ${this.jobsFile} is corrupt (${(err as Error).message}); ` +
          (moved ? `moved it aside to ${aside}` : 'could not move it aside') +
          (logsMoved ? ` with its logs (${logsAside})` : ' (its logs are kept in place)') +
          ' and started with an empty job list',
      );
      return { jobs: [], warnings, meta };
    }
    this.snapshotBytes = this.loadedSnapshotBytes = Buffer.byteLength(text);
    text = '';
    return this.finishLoad(entries, paused, warn, warnings, meta);
  }

  /** Replays the journal over the snapshot's entries, then validates each entry. */
  private async finishLoad(entries: unknown[], snapshotPaused: unknown, warn: (m: string) => void, warnings: string[], meta: JobsFileMeta): Promise<LoadResult> {
    let paused = snapshotPaused;
    let buf: Buffer | null = null;
    try {
      buf = await readFile(this.journalFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`could not read ${this.journalFile}: ${(err as Error).message}; changes since the last snapshot are lost`);
    }
    if (buf && buf.length > 0) {
      const parsed = parseJournal(buf, this.journalFile);
      this.journalValidBytes = parsed.validBytes;
      parsed.warnings.forEach(warn);
      const at = new Map<string, number>();
      entries.forEach((e, i) => {
        const id = (e as { job_id?: unknown } | null)?.job_id;
        if (typeof id === 'string' && !at.has(id)) at.set(id, i);
      });
      const gone = new Set<number>();
      for (const rec of parsed.records) {
        if (rec.op === 'meta') paused = rec.paused;
        else if (rec.op === 'del') {
          const i = at.get(rec.id);
          if (i !== undefined) gone.add(i);
          at.delete(rec.id);
        } else {
          const id = (rec.job as { job_id?: unknown }).job_id;
          const i = typeof id === 'string' ? at.get(id) : undefined;
          if (i !== undefined) entries[i] = rec.job;
          else {
            if (typeof id === 'string') at.set(id, entries.length);
            entries.push(rec.job);
          }
        }
      }
      if (gone.size > 0) entries = entries.filter((_, i) => !gone.has(i));
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
    // The first save compacts whatever was replayed into a fresh snapshot.
    this.compactNext = true;
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

  /**
   * Folds the journal into the snapshot with the next write (the engine calls this on stop,
   * so a stopped data dir is one jobs.json) and releases the journal's file handle.
   */
  async compact(capture: () => FirmwareJob[]): Promise<void> {
    if (!this.enabled) return;
    await this.flush();
    this.compactNext = true;
    await this.save(capture);
    await this.journal.close();
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
    const full = this.compactNext;
    const now = new Map<string, string>();
    for (const job of jobs) now.set(job.job_id, this.jsonOf(job, full));
    const keep = new Set(now.keys());
    for (const id of this.logged) if (!keep.has(id)) this.logged.delete(id);
    const lines: string[] = [];
    for (const [id, json] of now) if (this.persisted.get(id) !== json) lines.push(putLine(json));
    const removed = [...this.persisted.keys()].filter((id) => !keep.has(id));
    for (const id of removed) lines.push(delLine(id));
    if (meta && meta.paused !== this.persistedPaused) lines.push(metaLine(meta.paused));
    const journalBytes = lines.reduce((n, l) => n + l.length + 1, 0);
    if (this.compactNext || this.journal.size + journalBytes > Math.max(COMPACT_MIN_BYTES, this.snapshotBytes / 2)) {
      // A full snapshot: atomic rename first, then the journal is emptied (replaying it over the
      // new snapshot after a crash in between gives the same state: its records are whole jobs).
      const text = `{"version":${FILE_VERSION}${meta ? `,"paused":${meta.paused}` : ''},"jobs":[${[...now.values()].join(',')}]}`;
      await atomicWrite(this.jobsFile, text);
      this.snapshotBytes = text.length;
      await this.journal.open(this.journalValidBytes);
      await this.journal.reset();
      this.compactNext = false;
      this.stats.snapshots++;
      for (const name of await safeReaddir(this.logsDir)) {
        const id = name.endsWith('.log') ? name.slice(0, -4) : null;
        if ((id !== null && !keep.has(id) && this.sweepOrphanLogs) || name.includes(TEMP_MARK)) await rm(join(this.logsDir, name), { force: true });
      }
    } else if (lines.length > 0) {
      await this.journal.open(this.journalValidBytes);
      await this.journal.append(lines);
      this.stats.appends++;
      this.stats.records += lines.length;
      // A removed job's log goes with it (the full orphan sweep runs at compaction).
      for (const id of removed) if (JOB_ID_RE.test(id)) await rm(join(this.logsDir, `${id}.log`), { force: true });
    }
    this.persisted = now;
    if (meta) this.persistedPaused = meta.paused;
  }

  /**
   * A job's persisted JSON. A finished job whose log is written out does not change any more
   * (retry and re-route make new jobs), so its JSON is reused while the same object keeps the
   * same terminal signature: a save at 500 jobs serializes the few active ones, not the history
   * (~1.8 ms saved per save on this machine). Compaction (`full`) serializes every job afresh.
   */
  private jsonOf(job: FirmwareJob, full: boolean): string {
    const reusable = isTerminal(job) && job.output.length === 0;
    const sig = reusable ? `${job.status}|${job.completed_at}|${job.exit_code}|${job.error}|${job.cancelled_by}|${job.failure_reason}|${job.remote_job_id}|${job.progress}` : '';
    const cached = this.jsonCache.get(job);
    if (!full && reusable && cached?.sig === sig) return cached.json;
    const json = JSON.stringify(serializeJob(job, { withOutput: isActive(job) }));
    if (reusable) this.jsonCache.set(job, { sig, json });
    return json;
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

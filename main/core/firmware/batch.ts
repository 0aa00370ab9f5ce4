// Fleet batches (issue 15): "Build all" queues a compile for every device that is not up to date
// in the firmware library (so later Installs are flashes of the kept build); "Update all" queues
// an install over OTA for each. The jobs are ordinary engine jobs — persisted, shown in the task
// list, spread over idle build servers (and this computer when it is in the pool) by the dispatch
// pool. The batch itself is only bookkeeping over those jobs, kept in memory: after a restart
// there is no batch (nothing half-remembered to show), while its jobs are recovered by the engine
// like any other. One batch at a time; Stop cancels the batch's queued and running jobs only.
import { randomBytes } from 'node:crypto';
import type { BatchItem, BatchItemState, BatchKind, BatchSummary } from '../../../preload/contract/firmware';
import { ApiError, toApiError } from '../errors';
import type { EventBus } from '../events';
import type { InstallRequest, InstallTarget } from '../jobs/library-install';
import { isTerminal, type FirmwareJob } from '../jobs/model';
import { estimateEtaSeconds, priorBuildMs } from './batch-eta';
import { deviceStatus } from './device-status';
import type { ConfigDigester } from './digest';
import type { FirmwareLibrary } from './store';

/** The engine operations a batch uses (JobEngine and the API's JobsPort fit). */
export interface BatchJobs extends InstallTarget {
  readonly bus: EventBus;
  compile(a: { configuration: string; forceLocal?: boolean }): FirmwareJob;
  cancel(jobId: string): Promise<void> | void;
  getJob(jobId: string): FirmwareJob | undefined;
  getJobs(f?: { configuration?: string }): FirmwareJob[];
}

export interface FleetBatchOptions {
  jobs: () => BatchJobs;
  library: FirmwareLibrary;
  digester: ConfigDigester;
  configDir: string;
  /** The ESPHome version a compile uses now ('' unknown: every device counts as not up to date). */
  esphomeVersion: () => string;
  /** The configurations of the config dir; those with a parse error are left out. */
  configurations: () => Promise<Array<{ name: string; error?: string }>>;
  /** The library-aware install (FirmwareService.install); default: the engine's plain install. */
  install?: (target: InstallTarget, req: InstallRequest) => Promise<FirmwareJob>;
  /**
   * Resolves once the library recorded the builds completed so far (FirmwareRecorder.idle): a
   * device counts as done only then, so a window that re-reads the statuses on that event sees
   * it up to date.
   */
  settled?: () => Promise<void>;
  /** Compile everything on this computer (the CLI without --server). */
  forceLocal?: boolean;
  now?: () => number;
}

export interface StartBatchRequest {
  kind: BatchKind;
  /** Only these (still only the ones not up to date); default every configuration. */
  configurations?: string[];
  /** Refuse unless the current ESPHome version is this one ("Build all with ESPHome X"). */
  esphomeVersion?: string;
}

interface Item {
  configuration: string;
  /** head first, then its held dependents (an install's upload). */
  jobs: FirmwareJob[];
  /** Set when the job could not even be queued. */
  enqueueError: string;
  priorMs: number | null;
  endedAt: number | null;
}

const KIND_NAME: Record<BatchKind, string> = { build: 'Build all', update: 'Update all' };

export class FleetBatch {
  private current: Batch | null = null;
  private starting = false;
  private readonly listeners = new Set<(s: BatchSummary) => void>();

  constructor(private readonly opts: FleetBatchOptions) {}

  /** Called with the summary after every change (a job of the batch moved, start, end). */
  onChange(fn: (s: BatchSummary) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The ESPHome version a batch compiles with now. */
  esphomeVersion(): string {
    return this.opts.esphomeVersion();
  }

  /** The running batch, else the last one (null: none since this process started). */
  summary(): BatchSummary | null {
    return this.current?.summary() ?? null;
  }

  /**
   * The configurations a batch would queue now: readable ones not up to date; for Update all also
   * those whose up-to-date build was never flashed (built by a Build all, not installed since).
   */
  async selection(kind: BatchKind, only?: string[]): Promise<string[]> {
    const { library, digester, configDir } = this.opts;
    const version = this.opts.esphomeVersion();
    const all = await this.opts.configurations();
    const names = new Set(all.map((c) => c.name));
    if (only) {
      const unknown = only.filter((n) => !names.has(n));
      if (unknown.length > 0) throw new ApiError('not_found', `no such configuration: ${unknown.join(', ')}`);
    }
    const wanted = new Set(only ?? all.map((c) => c.name));
    const entries = await library.list();
    const jobs = this.opts.jobs();
    const todo: string[] = [];
    for (const c of all) {
      if (c.error || !wanted.has(c.name)) continue;
      const s = await deviceStatus(library, digester, configDir, c.name, version, entries);
      if (s.status !== 'up-to-date' || (kind === 'update' && s.build && !flashedSince(jobs.getJobs({ configuration: c.name }), s.build))) todo.push(c.name);
    }
    return todo;
  }

  async start(req: StartBatchRequest): Promise<BatchSummary> {
    const running = this.current && !this.current.ended();
    if (running || this.starting) {
      const s = this.current?.summary();
      throw new ApiError('precondition_failed', s ? `${KIND_NAME[s.kind]} is still running (${s.done} of ${s.total} done): stop it or wait for it to finish first` : 'a batch is being started: wait for it first');
    }
    this.starting = true;
    try {
      const version = this.opts.esphomeVersion();
      if (req.esphomeVersion !== undefined && req.esphomeVersion !== version) {
        throw new ApiError('precondition_failed', `ESPHome is now ${version || 'unknown'}, not ${req.esphomeVersion}: look at the devices' status again`);
      }
      const todo = await this.selection(req.kind, req.configurations);
      if (todo.length === 0) throw new ApiError('precondition_failed', req.kind === 'build' ? 'every device is up to date: nothing to build' : 'every device is up to date and flashed: nothing to install');
      const batch = new Batch(req.kind, version, this.opts, (s) => this.emit(s));
      this.current = batch;
      await batch.queue(todo);
      return batch.summary();
    } finally {
      this.starting = false;
    }
  }

  /** Stop: cancels the batch's queued and running jobs (nothing else). */
  async stop(batchId?: string): Promise<BatchSummary> {
    const b = this.current;
    if (!b || (batchId !== undefined && b.id !== batchId)) throw new ApiError('not_found', `no batch ${batchId ?? ''} to stop`.replace('  ', ' '));
    await b.stop();
    return b.summary();
  }

  /** Resolves with the summary once every job of the current batch ended. */
  whenDone(): Promise<BatchSummary> {
    const b = this.current;
    if (!b) return Promise.reject(new ApiError('not_found', 'no batch'));
    return b.done;
  }

  dispose(): void {
    this.current?.detach();
    this.listeners.clear();
  }

  private emit(s: BatchSummary): void {
    for (const fn of this.listeners) {
      try {
        fn(s);
      } catch {
        // a listener's failure is its own
      }
    }
  }
}

class Batch {
  readonly id = `b${randomBytes(4).toString('hex')}`;
  private readonly items: Item[] = [];
  private readonly byJob = new Map<string, Item>();
  private readonly startedAt: number;
  private state: 'running' | 'stopping' | 'done' | 'stopped' = 'running';
  private endedAt: number | null = null;
  private peakRunning = 0;
  /** True while jobs are still being queued: the batch cannot end before all are. */
  private queuing = true;
  private readonly offs: Array<() => void> = [];
  private resolveDone!: (s: BatchSummary) => void;
  readonly done = new Promise<BatchSummary>((r) => (this.resolveDone = r));
  private readonly now: () => number;

  constructor(
    readonly kind: BatchKind,
    private readonly esphomeVersion: string,
    private readonly opts: FleetBatchOptions,
    private readonly changed: (s: BatchSummary) => void,
  ) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
  }

  ended(): boolean {
    return this.state === 'done' || this.state === 'stopped';
  }

  async queue(configurations: string[]): Promise<void> {
    const jobs = this.opts.jobs();
    // Subscribed before the first job is queued: no lifecycle event of the batch is missed.
    const onJob = ({ job }: { job: FirmwareJob }): void => this.update(job);
    for (const ev of ['job_queued', 'job_started', 'job_completed', 'job_failed', 'job_cancelled'] as const) this.offs.push(jobs.bus.on(ev, onJob));
    for (const configuration of configurations) {
      const item: Item = { configuration, jobs: [], enqueueError: '', priorMs: priorBuildMs(jobs.getJobs({ configuration })), endedAt: null };
      this.items.push(item);
      try {
        const head =
          this.kind === 'build'
            ? jobs.compile({ configuration, forceLocal: this.opts.forceLocal })
            : await (this.opts.install ?? ((t, r) => Promise.resolve(t.install(r))))(jobs, { configuration, port: 'OTA', forceLocal: this.opts.forceLocal });
        item.jobs = [head, ...jobs.getJobs({ configuration }).filter((j) => j.depends_on === head.job_id)];
        for (const j of item.jobs) this.byJob.set(j.job_id, item);
      } catch (err) {
        item.enqueueError = toApiError(err).message;
        item.endedAt = this.now();
      }
    }
    this.queuing = false;
    this.changedNow();
  }

  async stop(): Promise<void> {
    if (this.ended()) return;
    this.state = 'stopping';
    const jobs = this.opts.jobs();
    // Heads first: cancelling a compile cascades to its held upload.
    for (const item of this.items) {
      for (const j of item.jobs) {
        if (isTerminal(j)) continue;
        try {
          await jobs.cancel(j.job_id);
        } catch {
          // ended meanwhile, or cascaded from its head
        }
      }
    }
    this.changedNow();
  }

  detach(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private update(job: FirmwareJob): void {
    const item = this.byJob.get(job.job_id);
    if (!item) return;
    // Keep the object the event carries: it is the engine's live job (also after a clear).
    item.jobs = item.jobs.map((j) => (j.job_id === job.job_id ? job : j));
    if (item.endedAt === null && item.jobs.every(isTerminal)) {
      const settled = this.opts.settled;
      if (settled && item.jobs.some((j) => j.status === 'completed')) {
        void settled()
          .catch(() => undefined)
          .then(() => {
            if (item.endedAt !== null) return;
            item.endedAt = this.now();
            this.changedNow();
          });
      } else {
        item.endedAt = this.now();
      }
    }
    this.changedNow();
  }

  private changedNow(): void {
    const running = this.items.filter((i) => i.endedAt === null && i.jobs.some((j) => j.status === 'running')).length;
    this.peakRunning = Math.max(this.peakRunning, running);
    if (!this.queuing && !this.ended() && this.items.every((i) => i.endedAt !== null)) {
      this.state = this.state === 'stopping' ? 'stopped' : 'done';
      this.endedAt = this.now();
      this.detach();
      this.changed(this.summary());
      this.resolveDone(this.summary());
      return;
    }
    this.changed(this.summary());
  }

  summary(): BatchSummary {
    const now = this.now();
    const items: BatchItem[] = this.items.map((i) => {
      // Until every job of the device ended (and its build is recorded) it is still under way:
      // states and `done` always agree.
      const state = i.endedAt !== null ? itemState(i) : i.jobs.some((j) => j.status === 'queued') && !i.jobs.some((j) => j.status === 'running' || j.status === 'completed') ? 'queued' : 'running';
      const bad = i.jobs.find((j) => j.status === 'failed') ?? i.jobs.find((j) => j.status === 'cancelled');
      return { configuration: i.configuration, state, jobId: (bad ?? i.jobs[0])?.job_id ?? '', error: i.enqueueError || (bad?.error ?? '') };
    });
    const count = (s: BatchItemState): number => items.filter((i) => i.state === s).length;
    const durations = this.items.filter((i) => i.endedAt !== null && itemState(i) === 'completed').map((i) => (i.endedAt ?? now) - (firstStart(i) ?? this.startedAt));
    const eta = this.ended()
      ? 0
      : estimateEtaSeconds(
          this.items.map((i) => ({ ended: i.endedAt !== null, startedAt: firstStart(i), priorMs: i.priorMs })),
          durations,
          this.peakRunning,
          now,
        );
    return {
      id: this.id,
      kind: this.kind,
      esphomeVersion: this.esphomeVersion,
      state: this.state,
      startedAt: new Date(this.startedAt).toISOString(),
      endedAt: this.endedAt === null ? null : new Date(this.endedAt).toISOString(),
      total: items.length,
      done: this.items.filter((i) => i.endedAt !== null).length,
      failed: count('failed'),
      cancelled: count('cancelled'),
      running: count('running'),
      etaSeconds: eta,
      items,
    };
  }
}

/**
 * Whether the job history shows this build flashed: a completed upload of its own compile (an
 * install), or an upload/install queued after it was built (an install from the library). The
 * history can be cleared or pruned: then the device is flashed again, the safe side.
 */
export function flashedSince(jobs: readonly FirmwareJob[], build: { job_id: string; built_at: string }): boolean {
  const builtAt = Date.parse(build.built_at);
  return jobs.some(
    (j) =>
      j.status === 'completed' &&
      (j.job_type === 'upload' || j.job_type === 'install') &&
      (j.depends_on === build.job_id || j.job_id === build.job_id || Date.parse(j.created_at) >= builtAt),
  );
}

function firstStart(i: Item): number | null {
  const t = i.jobs.map((j) => (j.started_at ? Date.parse(j.started_at) : NaN)).filter((x) => Number.isFinite(x));
  return t.length > 0 ? Math.min(...t) : null;
}

function itemState(i: Item): BatchItemState {
  if (i.enqueueError) return 'failed';
  if (i.jobs.some((j) => j.status === 'failed')) return 'failed';
  if (i.jobs.every(isTerminal)) {
    const c = i.jobs.find((j) => j.status === 'cancelled');
    if (!c) return 'completed';
    return c.cancelled_by === 'superseded' ? 'replaced' : 'cancelled';
  }
  return i.jobs.some((j) => j.status === 'running') ? 'running' : 'queued';
}

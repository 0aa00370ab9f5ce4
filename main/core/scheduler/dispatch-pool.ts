// The remote dispatch pool (firmware-jobs.md §11.3): compiles the scheduler sent "remote" wait
// here as `remote_pending` ("Waiting for a build server") and are bound to a server only when one
// is free — at most one in-flight job per build server. One pass loop, woken by the events that
// can change a decision; a startup grace lets servers reconnect after a restart before anything
// falls back to local.
// Pipelined (issue 18 §2): while every server builds, the pool has the oldest waiting jobs
// bundled ahead (one `esphome bundle` at a time, into the shared bundle cache) so a job bound to
// a server that comes free is submitted without a bundle spawn; the job stays `queued` and
// unbound meanwhile, so cancel and re-route are unchanged. A server's slot is released when it
// reports the build complete, not when the sender has downloaded and staged the artifacts: the
// download overlaps the server's next build.
// Submitted ahead (issue 18 §2): when every server builds, one job already bundled per busy
// server is submitted to wait in that server's own queue, so the server starts it the moment its
// build ends (no submit, extract or spawn of ours between its two builds). Such a job is running
// here and bound to that server: a cancel sends cancel_job (it never runs there), a lost server
// re-routes it as any other. A server that comes free while a job still waits in another
// server's queue takes it back ("steal back": cancelled there, re-routed here), so the batch tail
// stays balanced.
import type { EventBus } from '../events';
import type { FirmwareJob, QueueStatus } from '../jobs/model';
import type { DispatchPool as EngineDispatchPool, RemoteBinding } from '../jobs/remote';
import type { PoolRunnerHooks } from '../jobs/remote-runner';
import { classifyPairings, pickDispatchTarget, type SchedulerPairing, type SchedulerSnapshot, type VersionMatchPolicy } from './build-scheduler';

export const STARTUP_GRACE_MS = 30_000;
export const MAX_SERVER_LOSS_RETRIES = 3;
/**
 * `esphome bundle` processes run ahead at once: one kept four servers fed on a quiet machine but
 * fell behind when the sender's CPU was shared (a bundle took ~1 s at load 19 against a job
 * finishing every ~0.9 s).
 */
export const PREPARE_CONCURRENCY = 2;

/** The engine surface the pool drives (JobEngine satisfies it). */
export interface PoolEngine {
  pendingRemoteJobs(): FirmwareJob[];
  dispatchRemote(jobId: string, binding: RemoteBinding): Promise<void>;
  dispatchLocal(jobId: string): void;
  failQueued(jobId: string, error: string): Promise<void>;
  queueStatus(lane?: 'compile' | 'upload'): QueueStatus;
  /** The pool stopped accepting: every pending job goes to the local compile lane. */
  runPendingLocally(): void;
  /**
   * Bundle a pending job ahead of its dispatch (into the bundle cache its run then reads). The
   * job is not bound or started. Absent: no preparing ahead.
   */
  prepareRemote?(jobId: string, signal: AbortSignal, priority?: 'now' | 'ahead'): Promise<void>;
  /** Queue paused: no job is bound while it is (the engine wakes the pool on resume). */
  isPaused(): boolean;
}

/** Where the pool reads pairings, settings and live links at decision time. */
export interface PoolEnvironment {
  /** The remote-build service is up; false sends every pending compile to the local lane. */
  available(): boolean;
  settings(): { remote_builds_enabled: boolean; version_match_policy: VersionMatchPolicy; include_local_in_pool: boolean };
  pairings(): SchedulerPairing[];
  /** Pins with an open session. Default: tracked from peer_link_opened/closed on the bus. */
  connectedPins?(): ReadonlySet<string>;
  localEsphomeVersion(): string;
}

export interface DispatchPoolOptions {
  bus: EventBus;
  /**
   * The engine, reached at run time only: the pool is built before the engine, which takes the
   * pool as a constructor option (construction order: pool → engine).
   */
  jobs: () => PoolEngine;
  env: PoolEnvironment;
  /** First pass after this long (default 30 s) so servers can reconnect after a restart. */
  startupGraceMs?: number;
  /** Re-routes after a lost server before the job fails (default 3). */
  maxServerLossRetries?: number;
  /** Submit one bundled job ahead into each busy server's queue (default true). */
  submitAhead?: boolean;
  report?: (message: string) => void;
}

export interface InFlight {
  jobId: string;
  pin: string;
  label: string;
  /** When it was bound (the server most likely to finish first gets the job submitted ahead). */
  since: number;
}

/** A job submitted ahead into a busy server's queue. */
export interface Ahead extends InFlight {
  /** submitting → waiting (acked, queued there) → running (the server started it). */
  state: 'submitting' | 'waiting' | 'running';
  /** Aborted to take it back (steal back). */
  withdraw: AbortController;
}

export class DispatchPool implements EngineDispatchPool, PoolRunnerHooks {
  private readonly bus: EventBus;
  private readonly jobs: () => PoolEngine;
  private readonly env: PoolEnvironment;
  private readonly graceMs: number;
  private readonly maxLosses: number;
  private readonly report: (message: string) => void;
  /** pin → job in flight there (one per server). */
  private readonly inFlight = new Map<string, InFlight>();
  /** pin → the job submitted ahead into that server's queue (at most one per server). */
  private readonly ahead = new Map<string, Ahead>();
  private readonly submitAhead: boolean;
  private readonly driving = new Set<string>();
  private readonly losses = new Map<string, number>();
  private readonly mustBuildLocally = new Set<string>();
  private readonly queue = new Map<string, QueueStatus>();
  private readonly connected = new Set<string>();
  private readonly offs: Array<() => void> = [];
  private state: 'new' | 'grace' | 'running' | 'stopped' = 'new';
  private graceTimer: NodeJS.Timeout | undefined;
  private passScheduled = false;
  private passCount = 0;
  /** Jobs bundled ahead (or being bundled), with the abort of a bundle still running. */
  private readonly prepared = new Map<string, AbortController | null>();
  private preparing = 0;

  constructor(opts: DispatchPoolOptions) {
    this.bus = opts.bus;
    this.jobs = opts.jobs;
    this.env = opts.env;
    this.graceMs = opts.startupGraceMs ?? STARTUP_GRACE_MS;
    this.maxLosses = opts.maxServerLossRetries ?? MAX_SERVER_LOSS_RETRIES;
    this.submitAhead = opts.submitAhead ?? true;
    this.report = opts.report ?? ((m) => console.error(`[kiln] dispatch pool: ${m}`));
  }

  /**
   * Subscribes to the wake events and starts accepting `remote_pending` jobs (call before `engine.start()` so
   * recovered pending jobs wait for the pool). The first pass runs after the startup grace.
   */
  start(): void {
    if (this.state !== 'new') return;
    const bus = this.bus;
    const wake = (): void => this.wake();
    this.offs.push(
      bus.on('peer_link_opened', (e) => {
        this.connected.add(e.pin);
        wake();
      }),
      bus.on('peer_link_closed', (e) => {
        this.connected.delete(e.pin);
        this.queue.delete(e.pin);
        wake();
      }),
      bus.on('offloader_queue_status', (e) => {
        this.queue.set(e.pin, { idle: e.idle, running: e.running, queue_depth: e.queue_depth });
        wake();
      }),
      bus.on('pairings_changed', wake),
      // A waiting job cancelled while it is bundled ahead: stop its bundle.
      bus.on('job_cancelled', (e) => this.prepared.get(e.job.job_id)?.abort()),
    );
    if (this.graceMs <= 0) {
      this.state = 'running';
      this.wake();
    } else {
      this.state = 'grace';
      this.graceTimer = setTimeout(() => {
        if (this.state !== 'grace') return;
        this.state = 'running';
        this.wake();
      }, this.graceMs);
      this.graceTimer.unref?.();
    }
  }

  /** Detach; the engine then runs pending compiles locally. In-flight jobs finish on their own. */
  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.graceTimer);
    for (const off of this.offs.splice(0)) off();
    for (const c of this.prepared.values()) c?.abort();
    this.jobs().runPendingLocally();
  }

  /** The engine places `remote_pending` jobs here (rather than on the local lane) only while started. */
  accepting(): boolean {
    return this.state === 'grace' || this.state === 'running';
  }

  /** Schedules one pass (coalesced). Before the grace period ends it only records the wish. */
  wake(): void {
    if (this.state !== 'running' || this.passScheduled) return;
    this.passScheduled = true;
    setImmediate(() => {
      this.passScheduled = false;
      this.pass();
    });
  }

  /** Ends the startup grace now (e.g. every paired server has reconnected). */
  endGrace(): void {
    if (this.state !== 'grace') return;
    clearTimeout(this.graceTimer);
    this.state = 'running';
    this.wake();
  }

  // ------------------------------------------------------------ introspection

  get passes(): number {
    return this.passCount;
  }

  inFlightJobs(): InFlight[] {
    return [...this.inFlight.values()];
  }

  /** Jobs submitted ahead, waiting in (or just started by) a busy server's queue. */
  aheadJobs(): Ahead[] {
    return [...this.ahead.values()];
  }

  busyPins(): Set<string> {
    return new Set(this.inFlight.keys());
  }

  queueStatusOf(pin: string): QueueStatus | undefined {
    return this.queue.get(pin);
  }

  // ------------------------------------------------------------ runner hooks

  isPoolJob(jobId: string): boolean {
    return this.driving.has(jobId);
  }

  serverLost(jobId: string): { reroute: boolean; count: number } {
    const count = (this.losses.get(jobId) ?? 0) + 1;
    this.losses.set(jobId, count);
    const reroute = count <= this.maxLosses && this.state !== 'stopped';
    if (!reroute) this.losses.delete(jobId);
    return { reroute, count };
  }

  forceLocal(jobId: string): void {
    this.mustBuildLocally.add(jobId);
  }

  /** The server reported the job's build complete: it takes the next job while this one downloads. */
  buildFinished(jobId: string): void {
    for (const [pin, f] of this.inFlight) {
      if (f.jobId !== jobId) continue;
      this.release(pin);
      return;
    }
  }

  submitAccepted(jobId: string): void {
    const a = this.aheadOf(jobId);
    if (a?.state === 'submitting') a.state = 'waiting';
  }

  /** The server started a job we submitted ahead: it is that server's current job now. */
  remoteStarted(jobId: string): void {
    const a = this.aheadOf(jobId);
    if (!a) return;
    a.state = 'running';
    if (!this.inFlight.has(a.pin) && !a.withdraw.signal.aborted) this.promote(a.pin);
  }

  withdrawSignal(jobId: string): AbortSignal | undefined {
    return this.aheadOf(jobId)?.withdraw.signal;
  }

  private aheadOf(jobId: string): Ahead | undefined {
    for (const a of this.ahead.values()) if (a.jobId === jobId) return a;
    return undefined;
  }

  /** The server's current job is done with it: the job waiting in its queue (if any) is next. */
  private release(pin: string): void {
    this.inFlight.delete(pin);
    // One being taken back stays where it is until its run has ended.
    if (this.ahead.has(pin) && !this.ahead.get(pin)!.withdraw.signal.aborted) this.promote(pin);
    this.wake();
  }

  private promote(pin: string): void {
    const a = this.ahead.get(pin)!;
    this.ahead.delete(pin);
    if (a.state === 'waiting') a.state = 'running'; // the server starts it now: no longer taken back
    this.inFlight.set(pin, { jobId: a.jobId, pin, label: a.label, since: Date.now() });
  }

  // ------------------------------------------------------------ the pass

  private connectedPins(): ReadonlySet<string> {
    return this.env.connectedPins?.() ?? this.connected;
  }

  private pass(): void {
    if (this.state !== 'running') return;
    if (this.jobs().isPaused()) return;
    this.passCount++;
    const pending = this.jobs().pendingRemoteJobs();
    // Nothing waiting here: a free server may still take a job back from a busy one's queue.
    if (pending.length === 0 && this.ahead.size === 0) return;
    if (!this.env.available()) {
      for (const job of pending) this.toLocal(job);
      return;
    }
    const settings = this.env.settings();
    const pairings = this.env.pairings();
    const localVersion = this.env.localEsphomeVersion();
    // What the scheduler decides on, read afresh at each call (busy pins and the local lane change).
    const snapshot = (): SchedulerSnapshot => ({
      remoteBuildsEnabled: settings.remote_builds_enabled,
      pairings,
      connectedPins: this.connectedPins(),
      queueStatus: this.queue,
      localEsphomeVersion: localVersion,
      versionPolicy: settings.version_match_policy,
      busyPins: this.busyPins(),
      includeLocalInPool: settings.include_local_in_pool,
      localCompileBusy: !this.jobs().queueStatus('compile').idle,
    });
    for (const job of pending) {
      if (job.status !== 'queued' || job.source !== 'remote_pending') continue;
      if (this.mustBuildLocally.has(job.job_id)) {
        this.mustBuildLocally.delete(job.job_id);
        this.toLocal(job);
        continue;
      }
      // Busy pins and the local lane are re-read per job: the previous iteration may have taken them.
      const decision = pickDispatchTarget(snapshot());
      switch (decision.target) {
        case 'remote':
          this.drive(job, decision.pairing, false);
          break;
        case 'local':
          this.toLocal(job);
          break;
        case 'no_compatible_peer':
          this.losses.delete(job.job_id);
          this.jobs().failQueued(job.job_id, decision.error).catch((err) => this.report(`failQueued ${job.job_id}: ${String(err)}`));
          break;
        case 'wait':
          break;
      }
    }
    this.prepareAhead();
    if (this.submitAhead) {
      this.fillAhead(snapshot());
      this.stealBack(snapshot());
    }
  }

  /**
   * Every job still waiting and already bundled goes into the queue of a busy server without
   * one, the server whose current build started first taking the oldest job.
   */
  private fillAhead(s: SchedulerSnapshot): void {
    if (!s.remoteBuildsEnabled) return;
    const ready = this.jobs()
      .pendingRemoteJobs()
      .filter((j) => this.prepared.has(j.job_id) && this.prepared.get(j.job_id) === null && !this.mustBuildLocally.has(j.job_id));
    if (ready.length === 0) return;
    const busy = classifyPairings(s)
      .filter((c) => c.eligibility === 'busy' && !this.ahead.has(c.pairing.pin_sha256))
      .map((c) => c.pairing)
      .sort((a, b) => (this.inFlight.get(a.pin_sha256)?.since ?? 0) - (this.inFlight.get(b.pin_sha256)?.since ?? 0));
    for (const [i, pairing] of busy.entries()) {
      const job = ready[i];
      if (job === undefined) break;
      this.drive(job, pairing, true);
    }
  }

  /**
   * Nothing waits here, yet a server (or this computer, when it is in the pool) is free while a
   * job still waits in a busy server's queue: take the oldest such job back for it.
   */
  private stealBack(s: SchedulerSnapshot): void {
    if (this.ahead.size === 0 || this.jobs().pendingRemoteJobs().some((j) => !this.mustBuildLocally.has(j.job_id))) return;
    let free = classifyPairings(s).filter((c) => c.eligibility === 'eligible').length;
    if (s.includeLocalInPool && !s.localCompileBusy) free++;
    for (const a of this.ahead.values()) if (a.withdraw.signal.aborted) free--;
    const waiting = [...this.ahead.values()].filter((a) => a.state === 'waiting' && !a.withdraw.signal.aborted).sort((a, b) => a.since - b.since);
    for (const a of waiting) {
      if (free <= 0) return;
      free--;
      a.withdraw.abort();
    }
  }

  /**
   * Bundle the oldest waiting jobs ahead, at most PREPARE_CONCURRENCY spawns at a time (the
   * sender's CPU is shared with the downloads and, with this computer in the pool, a local
   * build), as many as there are busy servers to take them.
   */
  private prepareAhead(): void {
    const engine = this.jobs();
    if (!engine.prepareRemote) return;
    const waiting = engine.pendingRemoteJobs().filter((j) => !this.mustBuildLocally.has(j.job_id));
    const ids = new Set(waiting.map((j) => j.job_id));
    for (const id of this.prepared.keys()) if (!ids.has(id) && !this.driving.has(id)) this.prepared.delete(id);
    const ahead = Math.max(1, this.inFlight.size);
    for (const next of waiting.slice(0, ahead)) {
      if (this.preparing >= PREPARE_CONCURRENCY) return;
      if (this.prepared.has(next.job_id)) continue;
      const ctl = new AbortController();
      const id = next.job_id;
      this.prepared.set(id, ctl);
      this.preparing++;
      engine
        .prepareRemote(id, ctl.signal)
        .catch(() => undefined) // the job's own run bundles again and reports any error
        .finally(() => {
          this.preparing--;
          if (this.prepared.get(id) === ctl) this.prepared.set(id, null);
          this.wake();
        });
    }
  }

  /**
   * A job bound to a free server is bundled from this moment, before every bundle made ahead (one
   * already being made ahead is raised instead); its run takes that bundle. Without this, the
   * bundles made ahead in the same pass took the free slots first: 4 free servers started their
   * first builds after ~0.9 s instead of ~0.25–0.5 s (P6, docs/notes/performance.md).
   */
  private bundleOnBind(id: string): void {
    const engine = this.jobs();
    if (!engine.prepareRemote) return;
    const existing = this.prepared.get(id);
    if (existing === null) return; // already bundled ahead, into the cache
    const ctl = existing ?? new AbortController();
    if (!existing) this.prepared.set(id, ctl);
    engine
      .prepareRemote(id, ctl.signal, 'now')
      .catch(() => undefined) // the job's run reports any error
      .finally(() => {
        if (!existing && this.prepared.get(id) === ctl) this.prepared.set(id, null);
      });
  }

  private toLocal(job: FirmwareJob): void {
    try {
      this.jobs().dispatchLocal(job.job_id);
      this.losses.delete(job.job_id);
    } catch (err) {
      this.report(`could not run ${job.job_id} locally: ${String(err)}`);
    }
  }

  /**
   * Bind and run (`ahead`: into the queue of a server that is still building); the server is
   * freed (and the pool woken) however the run ends.
   */
  private drive(job: FirmwareJob, pairing: SchedulerPairing, ahead: boolean): void {
    const pin = pairing.pin_sha256;
    const id = job.job_id;
    const slot = { jobId: id, pin, label: pairing.label, since: Date.now() };
    if (ahead) this.ahead.set(pin, { ...slot, state: 'submitting', withdraw: new AbortController() });
    else {
      this.inFlight.set(pin, slot);
      this.bundleOnBind(id);
    }
    this.driving.add(id);
    let run: Promise<void>;
    try {
      run = this.jobs().dispatchRemote(id, { pin, label: pairing.label, esphomeVersion: pairing.esphome_version });
    } catch (err) {
      run = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    run
      .catch((err) => this.report(`job ${id} on ${pin.slice(0, 8)}: ${String(err)}`))
      .finally(() => {
        if (this.ahead.get(pin)?.jobId === id) this.ahead.delete(pin);
        if (this.inFlight.get(pin)?.jobId === id) this.release(pin);
        this.driving.delete(id);
        // A job that ended for good no longer needs its loss count.
        if (!this.jobs().pendingRemoteJobs().some((j) => j.job_id === id)) this.losses.delete(id);
        this.wake();
      });
  }
}

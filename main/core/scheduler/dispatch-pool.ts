// The remote dispatch pool (firmware-jobs.md §11.3): compiles the scheduler sent "remote" wait
// here as `remote_pending` ("Waiting for a build server") and are bound to a server only when one
// is free — at most one job building per build server. One pass loop, woken by the events that
// can change a decision; a startup grace lets servers reconnect after a restart before anything
// falls back to local.
// Pipelined (issue 18 §2): when every server is busy, one more waiting job per server is
// prepared ahead — dispatched so its bundle is built while the server builds — and submitted the
// moment the server reports its current build complete (or moved to another server that comes
// free first). A server's slot is released at that report, not when the sender has downloaded
// and staged the artifacts, so the download overlaps the next build. A prepared job is not on
// the server until its turn: cancelling it sends nothing, and losing its server re-routes it
// without counting a loss.
import type { EventBus } from '../events';
import type { FirmwareJob, QueueStatus } from '../jobs/model';
import type { DispatchPool as EngineDispatchPool, RemoteBinding } from '../jobs/remote';
import type { PoolRunnerHooks, TurnResult } from '../jobs/remote-runner';
import { pickDispatchTarget, type SchedulerPairing, type VersionMatchPolicy } from './build-scheduler';

export const STARTUP_GRACE_MS = 30_000;
export const MAX_SERVER_LOSS_RETRIES = 3;

/** The engine surface the pool drives (JobEngine satisfies it). */
export interface PoolEngine {
  pendingRemoteJobs(): FirmwareJob[];
  dispatchRemote(jobId: string, binding: RemoteBinding): Promise<void>;
  dispatchLocal(jobId: string): void;
  failQueued(jobId: string, error: string): Promise<void>;
  queueStatus(lane?: 'compile' | 'upload'): QueueStatus;
  /** The pool stopped accepting: every pending job goes to the local compile lane. */
  runPendingLocally(): void;
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
  report?: (message: string) => void;
}

export interface InFlight {
  jobId: string;
  pin: string;
  label: string;
}

/** A job prepared ahead for a busy server: its turn fires when the slot is its own. */
interface Ahead {
  jobId: string;
  pairing: SchedulerPairing;
  turn: Promise<TurnResult>;
  fire: (t: TurnResult) => void;
  fired: boolean;
  /** Preparation order: the oldest prepared job is moved first. */
  seq: number;
}

export class DispatchPool implements EngineDispatchPool, PoolRunnerHooks {
  private readonly bus: EventBus;
  private readonly jobs: () => PoolEngine;
  private readonly env: PoolEnvironment;
  private readonly graceMs: number;
  private readonly maxLosses: number;
  private readonly report: (message: string) => void;
  /** pin → job building there (one per server). */
  private readonly inFlight = new Map<string, InFlight>();
  /** pin → the job prepared ahead for it (one per server), bundled while the server builds. */
  private readonly ahead = new Map<string, Ahead>();
  /** Turns already given (a free server, or a promotion) and not yet collected by the runner. */
  private readonly turns = new Map<string, Promise<TurnResult>>();
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
  private aheadSeq = 0;

  constructor(opts: DispatchPoolOptions) {
    this.bus = opts.bus;
    this.jobs = opts.jobs;
    this.env = opts.env;
    this.graceMs = opts.startupGraceMs ?? STARTUP_GRACE_MS;
    this.maxLosses = opts.maxServerLossRetries ?? MAX_SERVER_LOSS_RETRIES;
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
        // The job prepared for it was never sent: it goes back to the pool (not a lost build).
        const a = this.ahead.get(e.pin);
        if (a && !a.fired) {
          this.ahead.delete(e.pin);
          a.fire({ kind: 'lost', reason: e.detail ? `${e.reason}: ${e.detail}` : e.reason });
        }
        wake();
      }),
      bus.on('offloader_queue_status', (e) => {
        this.queue.set(e.pin, { idle: e.idle, running: e.running, queue_depth: e.queue_depth });
        wake();
      }),
      bus.on('pairings_changed', wake),
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

  /** Pins that take no new job now: building, or with a job prepared for them. */
  busyPins(): Set<string> {
    return new Set([...this.inFlight.keys(), ...this.ahead.keys()]);
  }

  /** Jobs prepared ahead, per pin (introspection, tests). */
  aheadJobs(): Array<{ jobId: string; pin: string }> {
    return [...this.ahead.entries()].map(([pin, a]) => ({ jobId: a.jobId, pin }));
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

  awaitTurn(jobId: string): Promise<TurnResult> {
    const given = this.turns.get(jobId);
    if (given) {
      this.turns.delete(jobId);
      return given;
    }
    for (const a of this.ahead.values()) if (a.jobId === jobId) return a.turn;
    // Not one of ours (e.g. dispatched outside the pool): nothing to wait for.
    const f = [...this.inFlight.values()].find((x) => x.jobId === jobId);
    return Promise.resolve(f ? { kind: 'go', pin: f.pin, label: f.label, esphomeVersion: '' } : { kind: 'lost', reason: 'not bound to a build server' });
  }

  buildFinished(jobId: string): void {
    for (const [pin, f] of this.inFlight) {
      if (f.jobId === jobId) {
        this.release(pin);
        return;
      }
    }
  }

  /** The server's slot is free: the job prepared for it (if any) takes it at once. */
  private release(pin: string): void {
    this.inFlight.delete(pin);
    const a = this.ahead.get(pin);
    if (a && !a.fired) {
      this.ahead.delete(pin);
      this.promote(a, a.pairing);
    }
    this.wake();
  }

  private promote(a: Ahead, pairing: SchedulerPairing): void {
    this.inFlight.set(pairing.pin_sha256, { jobId: a.jobId, pin: pairing.pin_sha256, label: pairing.label });
    a.fire({ kind: 'go', pin: pairing.pin_sha256, label: pairing.label, esphomeVersion: pairing.esphome_version });
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
    if (pending.length === 0) return;
    if (!this.env.available()) {
      for (const job of pending) this.toLocal(job);
      return;
    }
    const settings = this.env.settings();
    const pairings = this.env.pairings();
    const localVersion = this.env.localEsphomeVersion();
    const snapshot = (busyPins: ReadonlySet<string>, includeLocal: boolean) =>
      pickDispatchTarget({
        remoteBuildsEnabled: settings.remote_builds_enabled,
        pairings,
        connectedPins: this.connectedPins(),
        queueStatus: this.queue,
        localEsphomeVersion: localVersion,
        versionPolicy: settings.version_match_policy,
        busyPins,
        includeLocalInPool: includeLocal,
        localCompileBusy: !this.jobs().queueStatus('compile').idle,
      });
    // A server that came free while another's prepared job still waits takes that job (its
    // bundle does not depend on the server): the oldest waiting job first.
    for (;;) {
      const waiting = [...this.ahead.entries()].filter(([, a]) => !a.fired);
      if (waiting.length === 0) break;
      const d = snapshot(this.busyPins(), false);
      if (d.target !== 'remote') break;
      const [fromPin, a] = waiting.reduce((x, y) => (x[1].seq <= y[1].seq ? x : y));
      this.ahead.delete(fromPin);
      this.promote(a, d.pairing);
    }
    for (const job of pending) {
      if (job.status !== 'queued' || job.source !== 'remote_pending') continue;
      if (this.mustBuildLocally.has(job.job_id)) {
        this.mustBuildLocally.delete(job.job_id);
        this.toLocal(job);
        continue;
      }
      // Busy pins and the local lane are re-read per job: the previous iteration may have taken them.
      const decision = pickDispatchTarget({
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
      switch (decision.target) {
        case 'remote':
          this.drive(job, decision.pairing);
          break;
        case 'local':
          this.toLocal(job);
          break;
        case 'no_compatible_peer':
          this.losses.delete(job.job_id);
          this.jobs().failQueued(job.job_id, decision.error).catch((err) => this.report(`failQueued ${job.job_id}: ${String(err)}`));
          break;
        case 'wait': {
          // Every usable server is building: prepare this job for one that has none prepared.
          const d = snapshot(new Set(this.ahead.keys()), false);
          if (d.target === 'remote') this.drive(job, d.pairing, true);
          break;
        }
      }
    }
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
   * Bind and run; the server is freed (and the pool woken) however the run ends. `prepared`: the
   * server is building another job; this one is bundled now and submitted on its turn.
   */
  private drive(job: FirmwareJob, pairing: SchedulerPairing, prepared = false): void {
    const pin = pairing.pin_sha256;
    const id = job.job_id;
    if (prepared) {
      let fire!: (t: TurnResult) => void;
      const turn = new Promise<TurnResult>((r) => (fire = r));
      const a: Ahead = { jobId: id, pairing, turn, fired: false, seq: this.aheadSeq++, fire: (t) => {
        if (a.fired) return;
        a.fired = true;
        fire(t);
      } };
      this.ahead.set(pin, a);
    } else {
      this.inFlight.set(pin, { jobId: id, pin, label: pairing.label });
      this.turns.set(id, Promise.resolve({ kind: 'go', pin, label: pairing.label, esphomeVersion: pairing.esphome_version }));
    }
    this.driving.add(id);
    let run: Promise<void>;
    try {
      run = this.jobs().dispatchRemote(id, { pin, label: pairing.label, esphomeVersion: pairing.esphome_version });
    } catch (err) {
      run = Promise.reject(err);
    }
    run
      .catch((err) => this.report(`job ${id} on ${pin.slice(0, 8)}: ${String(err)}`))
      .finally(() => {
        this.turns.delete(id);
        // Wherever it ended up (it may have moved to another server): free its slot.
        for (const [p, a] of this.ahead) if (a.jobId === id) this.ahead.delete(p);
        for (const [p, f] of this.inFlight) if (f.jobId === id) this.release(p);
        this.driving.delete(id);
        // A job that ended for good no longer needs its loss count.
        if (!this.jobs().pendingRemoteJobs().some((j) => j.job_id === id)) this.losses.delete(id);
        this.wake();
      });
  }
}

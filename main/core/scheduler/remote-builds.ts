// The sender's remote-build wiring in one place: the remote runner, the scheduler's build-path
// picker and the dispatch pool, over the pairing store and the peer-link client manager, handed to
// the job engine as constructor options. `kiln serve`, Electron, `kiln build --server` and the
// tests all go through `createEngineWithRemoteBuilds`, so a remote build takes the same code path
// everywhere.
import { ApiError } from '../errors';
import { EventBus } from '../events';
import { JobEngine, type EngineHooks, type EngineOptions } from '../jobs/engine';
import { createJob, type FirmwareJob, type JobSource } from '../jobs/model';
import { createRemotePreparer, createRemoteRunner, type RemoteRunnerDeps, type SubmitHeader } from '../jobs/remote-runner';
import type { SenderSession } from '../peer-link/client';
import { cancelJob, downloadArtifacts, materializeArtifacts, submitJob } from '../peer-link/sender-jobs';
import type { PairingStore, StoredPairing } from '../peer-link/pairing-store';
import { buildLocallyInstead } from './build-locally';
import { pickBuildPath, type SchedulerPairing } from './build-scheduler';
import { DispatchPool, type PoolEngine } from './dispatch-pool';

/** What the wiring needs from the peer-link client manager (PeerLinkClientManager fits). */
export interface SessionSource {
  getSession(pin: string): SenderSession;
  connectedPins(): string[];
}

/** The engine operations remote builds use (JobEngine fits). */
export type RemoteBuildsJobs = PoolEngine & Pick<JobEngine, 'enqueue' | 'getJob' | 'getJobs' | 'cancel' | 'compile' | 'install'>;

export interface RemoteBuildsOptions {
  bus: EventBus;
  /**
   * The engine, reached at run time only: RemoteBuilds is built first because the engine takes
   * its runner, picker and pool as constructor options (see `createEngineWithRemoteBuilds`).
   */
  jobs: () => RemoteBuildsJobs;
  store: PairingStore;
  clients: SessionSource;
  /** The local esphome version (version policies, `target_esphome_version`). */
  localEsphomeVersion: () => string;
  deviceNames?: (configuration: string) => { device_name: string; device_friendly_name: string };
  /** Default 30 s; tests use 0. */
  startupGraceMs?: number;
  maxServerLossRetries?: number;
  /** Submit one bundled job ahead into each busy server's queue (default true; dispatch-pool.ts). */
  submitAhead?: boolean;
  cancelConfirmTimeoutMs?: number;
  /** Replace the `esphome bundle` step (benchmarks, tests). */
  buildBundle?: RemoteRunnerDeps['buildBundle'];
  report?: (message: string) => void;
}

export function toSchedulerPairing(p: StoredPairing): SchedulerPairing {
  return { pin_sha256: p.pin_sha256, label: p.label, paired_at: p.paired_at, status: p.status, enabled: p.enabled, esphome_version: p.esphome_version, auto_provision_supported: p.auto_provision_supported };
}

/** The runner's dependencies over the real peer-link calls. */
export function peerLinkRunnerDeps(o: Pick<RemoteBuildsOptions, 'clients' | 'localEsphomeVersion' | 'deviceNames' | 'cancelConfirmTimeoutMs' | 'buildBundle'>): RemoteRunnerDeps<SenderSession> {
  return {
    getSession: (pin) => o.clients.getSession(pin),
    submitJob: async (session, h: SubmitHeader, bundle) => {
      const ack = await submitJob(session, {
        jobId: h.job_id,
        configurationFilename: h.configuration_filename,
        target: h.target,
        bundle,
        deviceName: h.device_name,
        deviceFriendlyName: h.device_friendly_name,
        targetEsphomeVersion: h.target_esphome_version,
      });
      return { accepted: ack.accepted, reason: ack.reason };
    },
    cancelJob: (session, jobId) => cancelJob(session, jobId),
    downloadArtifacts: (session, jobId) => downloadArtifacts(session, jobId),
    materialiseArtifacts: async ({ job, configDir, tarball, signal, deviceName }) => {
      await materializeArtifacts({ tarball, configDir, configuration: job.configuration, signal, deviceName: deviceName || undefined });
    },
    buildBundle: o.buildBundle,
    deviceNames: o.deviceNames,
    localEsphomeVersion: o.localEsphomeVersion,
    cancelConfirmTimeoutMs: o.cancelConfirmTimeoutMs,
  };
}

export class RemoteBuilds {
  readonly pool: DispatchPool;
  /** What the job engine is constructed with. */
  readonly engineHooks: Required<Pick<EngineHooks, 'remoteRunner' | 'remotePreparer' | 'buildPathPicker' | 'dispatchPool'>>;
  private readonly o: RemoteBuildsOptions;
  private started = false;

  constructor(o: RemoteBuildsOptions) {
    this.o = o;
    this.pool = new DispatchPool({
      bus: o.bus,
      jobs: o.jobs,
      startupGraceMs: o.startupGraceMs,
      maxServerLossRetries: o.maxServerLossRetries,
      submitAhead: o.submitAhead,
      report: o.report,
      env: {
        available: () => this.started,
        settings: () => o.store.settings,
        pairings: () => o.store.list().map(toSchedulerPairing),
        connectedPins: () => new Set(o.clients.connectedPins()),
        localEsphomeVersion: o.localEsphomeVersion,
      },
    });
    this.engineHooks = {
      remoteRunner: createRemoteRunner(peerLinkRunnerDeps(o), this.pool),
      remotePreparer: createRemotePreparer(peerLinkRunnerDeps(o)),
      buildPathPicker: (job) => this.pickSource(job),
      dispatchPool: this.pool,
    };
  }

  /** Starts the pool and the picker. Call before `engine.start()` so recovered pending jobs wait for the pool. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.pool.start();
  }

  /** Pending compiles then run locally and new ones are picked local. Running remote jobs finish on their own. */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.pool.stop();
  }

  /** pick_build_path at enqueue time: `remote_pending` (the pool binds a server later) or `local` (always, while stopped). */
  pickSource(_job: FirmwareJob): JobSource {
    if (!this.started) return 'local';
    const { store, clients } = this.o;
    const s = store.settings;
    const d = pickBuildPath({
      remoteBuildsEnabled: s.remote_builds_enabled,
      pairings: store.list().map(toSchedulerPairing),
      connectedPins: new Set(clients.connectedPins()),
      queueStatus: this.queueStatusMap(),
      localEsphomeVersion: this.o.localEsphomeVersion(),
      versionPolicy: s.version_match_policy,
      busyPins: this.pool.busyPins(),
      includeLocalInPool: s.include_local_in_pool,
      localCompileBusy: !this.o.jobs().queueStatus('compile').idle,
    });
    if (d.path === 'no_compatible_peer') throw new ApiError('no_compatible_peer', d.error);
    return d.path === 'remote' ? 'remote_pending' : 'local';
  }

  private queueStatusMap(): Map<string, { idle: boolean; running: boolean; queue_depth: number }> {
    const m = new Map<string, { idle: boolean; running: boolean; queue_depth: number }>();
    for (const p of this.o.store.list()) {
      const q = this.pool.queueStatusOf(p.pin_sha256);
      if (q) m.set(p.pin_sha256, q);
    }
    return m;
  }

  /**
   * Finds a pairing by `host:port`, label (case-insensitive) or pin prefix (≥ 8 hex chars).
   * Throws ApiError not_found / invalid_args (ambiguous).
   */
  resolveServer(spec: string): StoredPairing {
    return resolvePairing(this.o.store.list(), spec);
  }

  /**
   * Compile (or compile + local flash when `port` is given) on one chosen server: a job with
   * `source = remote` bound to that pin, run by the same remote runner as pool jobs.
   */
  buildOn(a: { configuration: string; server: string; port?: string; bootloader?: boolean }): FirmwareJob {
    const pairing = this.resolveServer(a.server);
    if (pairing.status !== 'approved') throw new ApiError('precondition_failed', `build server ${pairing.label || pairing.receiver_hostname} is not approved yet`);
    const job = createJob({
      configuration: a.configuration,
      job_type: a.port ? 'install' : 'compile',
      port: a.port ?? '',
      flash_bootloader: a.bootloader === true,
      source: 'remote',
      source_pin_sha256: pairing.pin_sha256,
      source_label: pairing.label,
      source_esphome_version: pairing.esphome_version,
    });
    this.o.jobs().enqueue([job]);
    return job;
  }

  /** "Build locally instead" (ui-and-users.md §4.2): see `buildLocallyInstead` in build-locally.ts. */
  buildLocallyInstead(jobId: string): Promise<FirmwareJob> {
    return buildLocallyInstead(this.o.jobs(), jobId);
  }
}

/**
 * The engine with remote builds wired in, construction order explicit: RemoteBuilds first (it
 * reaches the engine only at run time), then the engine with its runner, picker and pool as
 * constructor options. Call `remoteBuilds.start()` before `engine.start()`.
 */
export function createEngineWithRemoteBuilds(
  engineOptions: Omit<EngineOptions, 'remoteRunner' | 'buildPathPicker' | 'dispatchPool'>,
  remote: Omit<RemoteBuildsOptions, 'bus' | 'jobs'>,
): { engine: JobEngine; remoteBuilds: RemoteBuilds } {
  const bus = engineOptions.bus ?? new EventBus();
  // eslint-disable-next-line prefer-const -- declared before the closure below that reads it
  let engine: JobEngine | undefined;
  const remoteBuilds = new RemoteBuilds({
    ...remote,
    bus,
    jobs: () => {
      if (!engine) throw new Error('remote builds used before the job engine was constructed');
      return engine;
    },
  });
  engine = new JobEngine({ ...engineOptions, bus, ...remoteBuilds.engineHooks });
  return { engine, remoteBuilds };
}

export function resolvePairing(pairings: readonly StoredPairing[], spec: string): StoredPairing {
  const s = spec.trim();
  if (s === '') throw new ApiError('invalid_args', 'no build server given');
  const hp = /^(.+):(\d{1,5})$/.exec(s);
  const byEndpoint = hp ? pairings.filter((p) => p.receiver_hostname.toLowerCase() === hp[1]?.toLowerCase() && p.receiver_port === Number(hp[2])) : [];
  const byLabel = pairings.filter((p) => p.label.toLowerCase() === s.toLowerCase());
  const byHost = pairings.filter((p) => p.receiver_hostname.toLowerCase() === s.toLowerCase());
  const byPin = /^[0-9a-f]{8,64}$/i.test(s) ? pairings.filter((p) => p.pin_sha256.startsWith(s.toLowerCase())) : [];
  for (const hits of [byEndpoint, byLabel, byHost, byPin]) {
    if (hits.length === 1 && hits[0]) return hits[0];
    if (hits.length > 1) throw new ApiError('invalid_args', `'${s}' matches ${hits.length} paired build servers; use host:port`);
  }
  const known = pairings.map((p) => `${p.label || '(no label)'} (${p.receiver_hostname}:${p.receiver_port})`).join(', ');
  throw new ApiError('not_found', `no paired build server matches '${s}'${known ? `; paired: ${known}` : ' (nothing is paired: run `kiln pair <host:port>` first)'}`);
}

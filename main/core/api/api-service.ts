// The API service: the contract (preload/contract.ts) implemented once over the core. Transports
// (WebSocket in main/headless, MessagePort in main/electron) call `connect()` per client after
// the hello and feed it raw method names and params; everything is validated here, so an
// in-process caller gets the same guarantees as a remote one.
import type {
  BackendMethods,
  BuildServerRoleState,
  DiscoveredBuildServers,
  Environment,
  EventName,
  FollowLogResult,
  FrontendEvents,
  HelloResult,
  JobLifecycleKind,
  Settings,
} from '../../../preload/contract';
import { PROTOCOL_VERSION } from '../../../preload/contract';
import { ApiError } from '../errors';
import type { EventBus } from '../events';
import { isTerminal, type FirmwareJob } from '../jobs/model';
import { buildLocallyInstead } from '../scheduler/build-locally';
import { importYaml } from './configurations';
import { ConfigurationsCache } from './configurations-cache';
import { jobsPage } from './jobs-page';
import { firmwareHandlers, installVia, type FirmwarePort } from './firmware-api';
import { batchHandlers } from './batch-api';
import type { FleetBatch } from '../firmware/batch';
import { buildServerHandlers } from './build-server-handlers';
import { Connection, Follow, type ApiConnection, type ConnectionOptions, type EventSink, type Handlers } from './connection';
import { alertText, formatLastError } from './alert-text';
import { JobAnnotations } from './job-annotations';
import { checkConfigDir, checkEsphomeCommand } from './settings-validation';
import { probeEsphome } from './esphome-status';
import { LogBatcher, type LogBatcherOptions } from './log-batcher';
import { toolchainHandlers, type ToolchainsPort } from './toolchains-api';
import type { DiscoveryPort, EsphomeProbe, IdentityPort, JobsPort, SenderPort, SenderSettings, BuildServerRolePort } from './ports';
import type { SettingsStore } from './settings-store';
import { ProgressThrottle } from './progress-throttle';

export interface ApiServiceOptions {
  jobs: JobsPort;
  settings: SettingsStore;
  /** The esphome argv used when the stored setting is empty (--esphome, KILN_ESPHOME, the managed default, `esphome`). */
  defaultEsphome: string[] | (() => string[]);
  /** The firmware library (absent: installs always compile, the Firmware methods answer unavailable). */
  firmware?: FirmwarePort;
  /** "Build all" / "Update all" (absent: the batch methods answer unavailable). */
  batch?: FleetBatch;
  /** Managed ESPHome toolchains (absent: the Toolchains methods answer unavailable). */
  toolchains?: ToolchainsPort;
  /** Applies a new esphome command to the engine; returns false when only a restart can. */
  applyEsphomeCommand?: (argv: string[]) => boolean;
  probe?: EsphomeProbe;
  sender?: SenderPort;
  buildServer?: BuildServerRolePort;
  identity?: IdentityPort;
  /** mDNS discovery of build servers ("Build servers on your network"); without it listDiscoveredBuildServers says discovery is off. */
  discovery?: DiscoveryPort;
  appVersion?: string;
  desktop?: boolean;
  logBatch?: LogBatcherOptions;
  /** Minimum spacing of jobProgress events per job (default 100 ms: ≤ 10/s). */
  progressIntervalMs?: number;
}

export class ApiService {
  private readonly connections = new Set<Connection>();
  /** job_id → follows of that job across connections (one bus listener for all). */
  private readonly followers = new Map<string, Set<Follow>>();
  private readonly progress: ProgressThrottle;
  private readonly offBus: Array<() => void> = [];
  private esphomeStatus: ReturnType<EsphomeProbe> | null = null;
  /** The esphome argv the engine runs (a saved change that needs a restart does not move it). */
  private inUseEsphome: string[] | null = null;
  private nextConnId = 1;
  private readonly bus: EventBus;

  /** Failure summaries, moves and replacements shown beside each job. */
  private readonly notes: JobAnnotations;

  /** Parsed configurations kept between connects; the folder watch pushes deltas. */
  readonly configurations: ConfigurationsCache;

  constructor(private readonly opts: ApiServiceOptions) {
    this.bus = opts.jobs.bus;
    this.progress = new ProgressThrottle((jobId, progress) => this.broadcast('jobProgress', { jobId, progress }), opts.progressIntervalMs ?? 100);
    this.configurations = new ConfigurationsCache(opts.jobs.configDir, {
      onChange: ({ changed, removed }) => this.broadcast('configurationsChanged', { reason: this.configurations.primed ? 'folder' : 'scan', changed, removed }),
    });
    // Warm the cache now, so even the first window connect finds the folder already parsed.
    void this.configurations.list().catch(() => undefined);
    this.notes = new JobAnnotations(
      (jobId) => opts.jobs.readLog(jobId),
      () => this.broadcast('jobsChanged', { reason: 'failure_summary' }),
    );
    this.subscribe();
    if (opts.batch) this.offBus.push(opts.batch.onChange((batch) => this.broadcast('batchChanged', { batch })));
    this.inUseEsphome = this.effectiveEsphome();
  }

  connect(sink: EventSink, opts: ConnectionOptions = {}): ApiConnection {
    const conn = new Connection(`c${this.nextConnId++}`, this, sink, opts);
    this.connections.add(conn);
    return conn;
  }

  hello(): HelloResult {
    return {
      protocol: PROTOCOL_VERSION,
      serverVersion: this.opts.appVersion ?? '0.0.0',
      capabilities: { desktop: this.opts.desktop ?? false, buildServerRole: !!this.opts.buildServer, pairing: !!this.opts.sender },
    };
  }

  /** Stops listening to the bus and closes every connection. */
  dispose(): void {
    this.configurations.close();
    for (const off of this.offBus.splice(0)) off();
    for (const c of [...this.connections]) c.close();
    this.progress.dispose();
  }

  broadcast<E extends EventName>(event: E, data: FrontendEvents[E]): void {
    for (const c of this.connections) c.send(event, data);
  }

  /** @internal */
  dropFollower(jobId: string, f: Follow): void {
    const set = this.followers.get(jobId);
    if (!set) return;
    set.delete(f);
    if (set.size === 0) this.followers.delete(jobId);
  }

  /** @internal */
  dropConnection(conn: Connection): void {
    this.connections.delete(conn);
    if (conn.holdsWindow && this.opts.buildServer) {
      conn.holdsWindow = false;
      try {
        this.opts.buildServer.closeWindow(conn.id);
      } catch (err) {
        console.error('[kiln] releasing the pairing window failed:', err);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Bus → events

  private subscribe(): void {
    const on = this.bus.on.bind(this.bus);
    this.offBus.push(
      on('job_output', ({ job_id, line }) => {
        this.notes.output(job_id, line);
        const set = this.followers.get(job_id);
        if (set) for (const f of set) f.batcher.push(line);
      }),
      on('job_progress', ({ job_id, progress }) => this.progress.queue(job_id, progress)),
      on('job_queued', ({ job }) => this.lifecycle('queued', job)),
      on('job_started', ({ job }) => this.lifecycle('started', job)),
      on('job_completed', ({ job }) => this.lifecycle('completed', job)),
      on('job_failed', ({ job }) => this.lifecycle('failed', job)),
      on('job_cancelled', ({ job }) => this.lifecycle('cancelled', job)),
      on('jobs_changed', ({ reason }) => this.broadcast('jobsChanged', { reason })),
      on('queue_paused_changed', ({ paused }) => this.broadcast('queuePaused', { paused })),
      on('peer_link_state_changed', ({ pin, status, last_error, alert }) => {
        const lastError = alert ? alertText(alert, last_error) : last_error && status !== 'connected' ? formatLastError(last_error) : '';
        this.broadcast('buildServerConnection', { pin, connection: status, lastError });
      }),
      on('offloader_queue_status', ({ pin, idle, running, queue_depth }) =>
        this.broadcast('buildServerQueue', { pin, queue: { idle, running, queueDepth: queue_depth } }),
      ),
      on('pairings_changed', ({ pin, change }) => {
        this.broadcast('buildServersChanged', { pin, change });
        if (change === 'approved') this.broadcast('pairStatus', { pin, status: 'approved', reason: '' });
        if (change === 'declined') this.broadcast('pairStatus', { pin, status: 'rejected', reason: 'declined or removed' });
      }),
      on('discovered_build_servers_changed', () => this.broadcast('discoveredBuildServersChanged', this.discovered())),
      on('pair_request_received', ({ dashboard_id, pin, label, peer_ip }) => {
        this.broadcast('pairRequest', { dashboardId: dashboard_id, pin, label, peerIp: peer_ip, requestedAt: new Date().toISOString() });
        this.broadcast('buildServerRoleChanged', { reason: 'pair_request' });
      }),
      on('pair_status_changed', ({ status }) => this.broadcast('buildServerRoleChanged', { reason: `pair_${status}` })),
      on('pairing_window_changed', ({ open, expires_in_seconds }) =>
        this.broadcast('pairingWindow', { open, expiresInSeconds: expires_in_seconds }),
      ),
      on('receiver_session_opened', () => this.broadcast('buildServerRoleChanged', { reason: 'session_opened' })),
      on('receiver_session_closed', () => this.broadcast('buildServerRoleChanged', { reason: 'session_closed' })),
    );
  }

  private lifecycle(kind: JobLifecycleKind, job: FirmwareJob): void {
    const terminal = kind === 'completed' || kind === 'failed' || kind === 'cancelled';
    if (terminal) {
      // The job's last lines go out before its end, and its pending progress is moot.
      const set = this.followers.get(job.job_id);
      if (set) {
        for (const f of [...set]) f.conn.unfollow(job.job_id);
      }
      this.progress.drop(job.job_id);
      this.notes.ended(job);
    } else {
      if (kind === 'queued' && job.started_at === null) this.notes.requeued(job.job_id);
      this.progress.flush(job.job_id);
    }
    this.broadcast('jobLifecycle', { kind, job: this.notes.view(job) });
  }

  /**
   * Asks every window to select a job and open its log (an OS notification was clicked).
   * Returns false (nothing sent) for a job that is not in the history.
   */
  selectJob(jobId: string): boolean {
    if (!this.opts.jobs.getJob(jobId)) return false;
    this.broadcast('selectJob', { jobId });
    return true;
  }

  /** The "notifications" setting, for the desktop policy (toasts / OS notifications). */
  /** The device's name as the window shows it, and a failed job's first decisive error line. */
  describeJob(job: FirmwareJob): { name?: string; failureLine?: string } {
    // The same order as the window's rows (renderer/src/ui/format.ts deviceLabel).
    const entry = job.remote_peer ? undefined : this.configurations.peek(job.configuration);
    const name = job.device_friendly_name || job.device_name || (entry ? entry.friendlyName || entry.deviceName : '');
    const failureLine = job.status === 'failed' ? (this.notes.view(job).failure?.line ?? '') : '';
    return { ...(name ? { name } : {}), ...(failureLine ? { failureLine } : {}) };
  }

  notificationsOn(): boolean {
    return this.opts.settings.get().notifications;
  }

  // ------------------------------------------------------------------------------------------
  // Helpers used by handlers

  private mustJob(jobId: string): FirmwareJob {
    const job = this.opts.jobs.getJob(jobId);
    if (!job) throw new ApiError('not_found', `Job not found: ${jobId}`);
    return job;
  }

  private dependentOf(jobId: string): FirmwareJob | undefined {
    return this.opts.jobs.getJobs().find((j) => j.depends_on === jobId);
  }

  private sender(): SenderPort {
    if (!this.opts.sender) throw new ApiError('unavailable', 'sending builds to a build server is not available in this mode');
    return this.opts.sender;
  }

  private buildServer(): BuildServerRolePort {
    if (!this.opts.buildServer) throw new ApiError('unavailable', 'the build-server role is not available in this mode');
    return this.opts.buildServer;
  }

  effectiveEsphome(): string[] {
    const stored = this.opts.settings.get().esphome_command;
    if (stored.length > 0) return stored;
    return typeof this.opts.defaultEsphome === 'function' ? this.opts.defaultEsphome() : this.opts.defaultEsphome;
  }

  /** The esphome in use changed outside the settings (a toolchain installed or made the default). */
  esphomeChanged(reason: string): void {
    // The launcher already runs the new command (toolchains/launcher.ts): it is the one in use now.
    this.inUseEsphome = this.effectiveEsphome();
    this.esphomeStatus = null;
    this.broadcast('toolchainsChanged', { reason });
  }

  private esphome(): ReturnType<EsphomeProbe> {
    if (!this.esphomeStatus) {
      const probe = this.opts.probe ?? probeEsphome;
      this.esphomeStatus = probe(this.inUseEsphome ?? this.effectiveEsphome());
    }
    return this.esphomeStatus;
  }

  private settingsView(): Settings {
    const s = this.opts.settings.get();
    const off: SenderSettings = this.opts.sender
      ? this.opts.sender.getSettings()
      : { remoteBuildsEnabled: s.remote_builds_enabled, includeLocalInPool: s.include_local_in_pool, versionPolicy: s.version_match_policy };
    return {
      esphomeCommand: s.esphome_command,
      configDir: s.config_dir || this.opts.jobs.configDir,
      notifications: s.notifications,
      launchAtLogin: s.launch_at_login,
      ...off,
    };
  }

  private discovered(): DiscoveredBuildServers {
    return this.opts.discovery ? { enabled: true, servers: this.opts.discovery.list() } : { enabled: false, servers: [] };
  }

  private roleState(): BuildServerRoleState {
    return this.buildServer().state();
  }

  // ------------------------------------------------------------------------------------------
  // Handlers (params are already validated)

  readonly handlers: Handlers = {
    ...toolchainHandlers(() => this.opts.toolchains),
    ...firmwareHandlers(() => this.opts.firmware, () => this.opts.jobs, (j) => this.notes.view(j)),
    ...batchHandlers(() => this.opts.batch),
    getEnvironment: async (): Promise<Environment> => ({
      appVersion: this.opts.appVersion ?? '0.0.0',
      configDir: this.opts.jobs.configDir,
      dataDir: this.opts.jobs.dataDir,
      esphome: await this.esphome(),
    }),

    getJobs: (p) => this.opts.jobs.getJobs(p).map((j) => this.notes.view(j)),
    getJobsPage: (p) => jobsPage(this.opts.jobs.getJobs(), (j) => this.notes.view(j), p),
    getJob: (p) => {
      const job = this.opts.jobs.getJob(p.jobId);
      return job ? this.notes.view(job) : null;
    },
    compile: (p) => this.notes.view(this.opts.jobs.compile(p)),
    upload: (p) => this.notes.view(this.opts.jobs.upload(p)),
    install: async (p) => this.notes.view(await installVia(() => this.opts.firmware, this.opts.jobs, p)),
    clean: (p) => this.notes.view(this.opts.jobs.clean(p)),
    resetBuildEnv: () => this.notes.view(this.opts.jobs.resetBuildEnv()),
    cancel: async (p) => {
      await this.opts.jobs.cancel(p.jobId);
      return { ok: true as const };
    },
    retry: (p) => {
      const job = this.mustJob(p.jobId);
      if (!isTerminal(job) || job.status === 'completed') {
        throw new ApiError('invalid_args', `Only failed or cancelled jobs can be retried (this one is ${job.status})`);
      }
      const configuration = job.configuration;
      switch (job.job_type) {
        case 'compile': {
          const upload = this.dependentOf(job.job_id);
          if (upload) {
            return this.notes.view(
              this.opts.jobs.install({ configuration, port: upload.port || 'OTA', bootloader: upload.flash_bootloader, forceLocal: p.forceLocal }),
            );
          }
          return this.notes.view(this.opts.jobs.compile({ configuration, forceLocal: p.forceLocal }));
        }
        case 'install':
          return this.notes.view(this.opts.jobs.install({ configuration, port: job.port || 'OTA', bootloader: job.flash_bootloader, forceLocal: p.forceLocal }));
        case 'upload':
          return this.notes.view(this.opts.jobs.upload({ configuration, port: job.port, bootloader: job.flash_bootloader }));
        case 'clean':
          return this.notes.view(this.opts.jobs.clean({ configuration }));
        default:
          throw new ApiError('invalid_args', `A ${job.job_type} job cannot be retried`);
      }
    },
    buildLocally: async (p) => {
      const old = this.mustJob(p.jobId);
      const held = this.opts.jobs.getJobs().filter((j) => j.depends_on === p.jobId).map((j) => j.job_id);
      const from = old.source_label || old.remote_peer_label || 'the build server';
      // Marked before the cancel, so its "cancelled" event already says "replaced" (no phantom
      // Cancelled row in any window); the real id follows once the new job exists.
      this.notes.replacing([p.jobId, ...held]);
      let next: FirmwareJob;
      try {
        next = await buildLocallyInstead(this.opts.jobs, p.jobId);
      } catch (err) {
        this.notes.notReplaced([p.jobId, ...held]);
        throw err;
      }
      this.notes.replaced([p.jobId, ...held], next, `Moved from ${from} to this computer (Build locally instead)`);
      this.broadcast('jobsChanged', { reason: 'replaced' });
      return this.notes.view(next);
    },
    clearJobs: (p) => ({ removed: this.opts.jobs.clear(p.status) }),

    followLog: async (p, conn): Promise<FollowLogResult> => {
      const job = this.mustJob(p.jobId);
      // Re-opening detaches the previous follow first (leaked subscriptions duplicated lines).
      conn.unfollow(p.jobId);
      if (isTerminal(job)) {
        const all = await this.opts.jobs.readLog(p.jobId);
        // A finished log never changes, so indexes stay valid for getLogRange later.
        const firstIndex = p.tail !== undefined && all.length > p.tail ? all.length - p.tail : 0;
        return { job: this.notes.view(job), lines: firstIndex > 0 ? all.slice(firstIndex) : all, truncated: isTrimmed(all), firstIndex };
      }
      // Subscribe first, then snapshot in the same tick: JS cannot interleave a job_output
      // between the two, so history + live has no gap and no duplicate.
      const lines = [...job.output];
      const batcher = new LogBatcher(
        p.jobId,
        lines.length,
        (b) => conn.send('logBatch', b),
        (g) => conn.send('logGap', g),
        { ...this.opts.logBatch, backlog: conn.opts.backlog },
      );
      const follow = new Follow(conn, batcher);
      conn.follows.set(p.jobId, follow);
      let set = this.followers.get(p.jobId);
      if (!set) this.followers.set(p.jobId, (set = new Set()));
      set.add(follow);
      // Live sequence numbers continue from the history, so a running job's is never cut.
      return { job: this.notes.view(job), lines, truncated: isTrimmed(lines), firstIndex: 0 };
    },
    unfollowLog: (p, conn) => {
      conn.unfollow(p.jobId);
      return { ok: true as const };
    },
    getLogRange: async (p) => {
      this.mustJob(p.jobId);
      const all = await this.opts.jobs.readLog(p.jobId);
      const end = Math.min(p.before, all.length);
      const start = Math.max(0, end - p.max);
      return { start, lines: all.slice(start, end), total: all.length };
    },

    getQueuePause: () => ({ paused: this.opts.jobs.isPaused() }),
    pauseQueue: () => {
      this.opts.jobs.pause();
      return { paused: this.opts.jobs.isPaused() };
    },
    resumeQueue: () => {
      this.opts.jobs.resume();
      return { paused: this.opts.jobs.isPaused() };
    },

    listConfigurations: () => this.configurations.listReady(),
    importYaml: async (p) => {
      await this.configurations.list().catch(() => undefined); // primed: later scans report deltas
      const result = await importYaml(this.opts.jobs.configDir, p);
      // The rescan finds the new file (one read) and broadcasts it as a delta (or the folder
      // watch's rescan got there first and did).
      const primed = this.configurations.primed;
      await this.configurations.rescan().catch(() => undefined);
      if (!primed) this.broadcast('configurationsChanged', { reason: 'import' });
      return result;
    },

    getSettings: () => this.settingsView(),
    updateSettings: async (p) => {
      let restartRequired = false;
      const before = this.opts.settings.get();
      const patch: Parameters<SettingsStore['update']>[0] = {};
      if (p.esphomeCommand !== undefined) patch.esphome_command = p.esphomeCommand;
      if (p.notifications !== undefined) patch.notifications = p.notifications;
      if (p.launchAtLogin !== undefined) patch.launch_at_login = p.launchAtLogin;
      // Checked before anything is saved: a refusal changes nothing.
      if (p.esphomeCommand !== undefined && p.esphomeCommand.join('\0') !== before.esphome_command.join('\0')) {
        await checkEsphomeCommand(p.esphomeCommand, this.opts.probe ?? probeEsphome);
      }
      if (p.configDir !== undefined && p.configDir !== before.config_dir) await checkConfigDir(p.configDir);
      if (p.configDir !== undefined) {
        patch.config_dir = p.configDir;
        if (p.configDir !== this.opts.jobs.configDir) restartRequired = true;
      }
      const off: Partial<SenderSettings> = {};
      if (p.remoteBuildsEnabled !== undefined) off.remoteBuildsEnabled = p.remoteBuildsEnabled;
      if (p.includeLocalInPool !== undefined) off.includeLocalInPool = p.includeLocalInPool;
      if (p.versionPolicy !== undefined) off.versionPolicy = p.versionPolicy;
      if (this.opts.sender) {
        if (Object.keys(off).length > 0) await this.opts.sender.updateSettings(off);
      } else {
        if (off.remoteBuildsEnabled !== undefined) patch.remote_builds_enabled = off.remoteBuildsEnabled;
        if (off.includeLocalInPool !== undefined) patch.include_local_in_pool = off.includeLocalInPool;
        if (off.versionPolicy !== undefined) patch.version_match_policy = off.versionPolicy;
      }
      await this.opts.settings.update(patch);
      if (p.esphomeCommand !== undefined && p.esphomeCommand.join('\0') !== before.esphome_command.join('\0')) {
        const applied = this.opts.applyEsphomeCommand?.(this.effectiveEsphome()) ?? false;
        if (applied) {
          this.inUseEsphome = this.effectiveEsphome();
          this.esphomeStatus = null;
        } else {
          // Still running the old one until a restart: the environment keeps saying so.
          restartRequired = true;
        }
      }
      const settings = this.settingsView();
      this.broadcast('settingsChanged', settings);
      return { settings, restartRequired };
    },

    ...buildServerHandlers({
      identity: () => this.opts.identity,
      senderOrNull: () => this.opts.sender ?? null,
      sender: () => this.sender(),
      buildServer: () => this.buildServer(),
      discovered: () => this.discovered(),
      roleState: () => this.roleState(),
      broadcast: (e, d) => this.broadcast(e, d),
    }),
  };
}

function isTrimmed(lines: string[]): boolean {
  return lines[0]?.startsWith('... [output trimmed:') ?? false;
}

export type { BackendMethods };
export { alertText, formatLastError } from './alert-text';
export { jobView, type ApiConnection, type ConnectionOptions, type EventSink } from './connection';

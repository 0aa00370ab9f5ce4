// Composition root shared by `kiln serve`, the Electron shell (and available to `kiln receiver`):
// settings → esphome command → job engine → peer-link state → offloader clients + pairing flow →
// remote builds (runner, scheduler, dispatch pool) → build-server role → API service → desktop
// policy. Each part is optional so a minimal backend (tests, a receiver) can leave some out, and
// `extensions` let the integrator hang further parts on the same objects.
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { EsphomeStatus } from '../../preload/contract';
import { declaredDeviceNames, listConfigurations } from './api/configurations';
import { probeEsphome } from './api/esphome-status';
import { createSenderPort } from './api/sender-port';
import type { SenderPort } from './api/ports';
import { BuildServerRole } from './api/build-server-role';
import { ApiService } from './api/api-service';
import { SettingsStore } from './api/settings-store';
import { ToastDesktop } from './api/toast-desktop';
import { DesktopPolicy, type DesktopIntegration } from './desktop';
import { acquireDataDirLock } from './data-dir-lock';
import { DEFAULT_ESPHOME } from './esphome/command';
import { EventBus } from './events';
import type { ToolchainManagerOptions } from './toolchains/manager';
import { setupToolchains, type ToolchainSetup } from './toolchains/setup';
import type { ToolchainStore } from './toolchains/store';
import { JobEngine, type EngineOptions } from './jobs/engine';
import { PeerLinkClientManager } from './peer-link/client-manager';
import { BuildServerDiscovery } from './peer-link/discovery';
import { OffloaderPairingFlow } from './peer-link/sender-pairing';
import { ReceiverPairing } from './peer-link/build-server-pairing';
import type { BonjourLike } from './peer-link/mdns';
import type { SessionTiming } from './peer-link/session';
import { openPeerLinkState, type PeerLinkState } from './peer-link/state';
import { buildServerJobEnv, JobOwners } from './build-server/job-env';
import { FleetBatch } from './firmware/batch';
import { FirmwareService } from './firmware/firmware-service';
import type { RetentionSettings } from './firmware/store';
import { createEngineWithRemoteBuilds, type RemoteBuilds } from './scheduler/remote-builds';

export interface PeerLinkAppOptions extends SessionTiming {
  /** Build-server listener bind address (default all interfaces) and port (default 6055; 0 = any). */
  listenHost?: string;
  listenPort?: number;
  /**
   * The build-server role: 'setting' (default) follows the stored setting, which is off until the
   * user turns it on in Settings; 'on' binds the listener for this run whatever the setting
   * (`kiln serve --build-server`); 'off' has no role at all (`--no-build-server`). `true`/`false`
   * are the old spellings of 'setting'/'off'.
   */
  buildServerRole?: 'setting' | 'on' | 'off' | boolean;
  /** Name shown to peers (default the host name). */
  friendlyName?: string;
  /** Client reconnect back-off (tests shorten it). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Remote builds' startup grace before pending compiles fall back (default 30 s). */
  startupGraceMs?: number;
  pairingTimeoutMs?: number;
  pairingWindowIdleMs?: number;
}

export interface AppOptions {
  configDir: string;
  /** Default `<configDir>/.kiln`. */
  dataDir?: string;
  /** Explicit esphome argv (--esphome / KILN_ESPHOME). Beats the stored setting. */
  esphome?: string[];
  appVersion?: string;
  /** The API's capabilities.desktop (Electron: true). */
  desktopShell?: boolean;
  /** Tray + OS notifications; default: in-app toasts through the API (browser mode). */
  desktop?: DesktopIntegration;
  /** For the desktop policy: the user can already see this job (focused window, selected). */
  isJobVisible?: (jobId: string) => boolean;
  /** Offloader + build-server roles; false = local builds only. */
  peerLink?: PeerLinkAppOptions | false;
  /**
   * mDNS stack on which the build-server role advertises _esphomebuilder._tcp while its listener
   * is bound (peer-link-protocol.md §16). Default false: nothing is advertised, so tests never
   * multicast; `kiln serve` and the desktop pass `createBonjour()` unless turned off (`--no-mdns`,
   * `KILN_MDNS=0`). The caller owns the stack (destroys it after `stop()`).
   */
  mdns?: BonjourLike | false;
  /**
   * Managed ESPHome toolchains: the store (default: the per-user folder, `KILN_TOOLCHAINS`), or
   * false for none. `toolchainPip` is pip pass-through for every install (offline wheelhouse,
   * mirror); `toolchainUpdateUrl` the PyPI JSON URL of the update check.
   */
  toolchains?: ToolchainStore | false;
  toolchainPip?: ToolchainManagerOptions['pip'];
  toolchainUpdateUrl?: string;
  /** Engine knobs (upload slots, grace times, persistence) for tests and benchmarks. */
  engine?: Omit<EngineOptions, 'configDir' | 'dataDir' | 'esphome' | 'bus'>;
  /** Log lines from the composed parts (default stderr). */
  report?: (message: string) => void;
  /**
   * Who holds the data dir's lock, as named to a second process ("kiln serve", "the Kiln
   * desktop app"); default "Kiln". The lock is held from here until stop() (data-dir-lock.ts).
   */
  processName?: string;
  /** Further parts wired on the composed app; each returns its own stop function. */
  extensions?: Array<(app: KilnApp) => Promise<(() => Promise<void> | void) | void> | (() => Promise<void> | void) | void>;
}

export interface PeerLinkParts {
  state: PeerLinkState;
  clients: PeerLinkClientManager;
  flow: OffloaderPairingFlow;
  sender: SenderPort;
  receiverPairing: ReceiverPairing;
  role: BuildServerRole | null;
  remoteBuilds: RemoteBuilds;
}

export interface KilnApp {
  readonly bus: EventBus;
  readonly engine: JobEngine;
  readonly settings: SettingsStore;
  readonly service: ApiService;
  readonly configDir: string;
  readonly dataDir: string;
  /** The esphome argv in use at startup (see `toolchains.base()` for the current one). */
  readonly esphome: string[];
  readonly toolchains: ToolchainSetup;
  /** Resolves once the esphome version probe ran. */
  readonly esphomeStatus: Promise<EsphomeStatus>;
  readonly peerLink: PeerLinkParts | null;
  /** mDNS browser for unpaired build servers (null without mDNS or peer-link). */
  readonly discovery: BuildServerDiscovery | null;
  readonly policy: DesktopPolicy;
  /** The firmware library (records compiles, installs without rebuilding, downloads). */
  readonly firmware: FirmwareService;
  /** "Build all" / "Update all" over the engine (one batch at a time). */
  readonly batch: FleetBatch;
  stop(): Promise<void>;
}

export async function createApp(opts: AppOptions): Promise<KilnApp> {
  const report = opts.report ?? ((m: string) => console.error(`[kiln] ${m}`));
  const configDir = resolve(opts.configDir);
  const dataDir = resolve(opts.dataDir ?? join(configDir, '.kiln'));
  // One process per data dir, before anything reads or writes it (throws DataDirLockedError).
  const lock = acquireDataDirLock(dataDir, opts.processName ?? 'Kiln');
  try {
    return await composeApp(opts, report, configDir, dataDir, () => lock.release());
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function composeApp(opts: AppOptions, report: (m: string) => void, configDir: string, dataDir: string, releaseLock: () => void): Promise<KilnApp> {
  const settings = SettingsStore.forDataDir(dataDir);
  const stored = await settings.load();
  // explicit flag/env > the user's setting > the managed default > `esphome` on the PATH.
  const toolchains = await setupToolchains({ dataDir, explicit: opts.esphome, setting: stored.esphome_command, store: opts.toolchains, pip: opts.toolchainPip, updateUrl: opts.toolchainUpdateUrl });
  const esphome = toolchains.base();
  const explicitGiven = !!(opts.esphome && opts.esphome.length > 0);
  const defaultEsphome = (): string[] => (explicitGiven ? [...opts.esphome!] : (toolchains.manager?.store.defaultToolchain()?.command ?? [...DEFAULT_ESPHOME]));

  // One probe for everyone (version policy, listener response, the UI's simulator badge).
  let esphomeStatus = probeEsphome(esphome);
  let esphomeVersion = '';

  const bus = new EventBus();
  // Build-server jobs (the role below) build with their sender's ESPHOME_DATA_DIR.
  const jobOwners = new JobOwners();
  const engineOptions: EngineOptions = { jobEnv: buildServerJobEnv(dataDir, jobOwners), ...opts.engine, configDir, dataDir, esphome: toolchains.engineCommand, bus, report };
  // Runs last on stop (stops run in reverse): the lock outlives every writer of the data dir.
  const stops: Array<() => Promise<void> | void> = [releaseLock];

  // With peer-link, the engine is built together with remote builds (runner, picker and pool are
  // its constructor options); without, on its own.
  let engine: JobEngine;
  let peerLink: PeerLinkParts | null = null;
  let buildServerForced = false;
  if (opts.peerLink === false) {
    engine = new JobEngine(engineOptions);
  } else {
    const pl = opts.peerLink ?? {};
    const friendlyName = () => pl.friendlyName ?? hostname();
    const state = await openPeerLinkState(dataDir, { bus, report });
    const clients = new PeerLinkClientManager({
      identity: state.identity,
      store: state.pairings,
      bus,
      friendlyName,
      backoffBaseMs: pl.backoffBaseMs,
      backoffCapMs: pl.backoffCapMs,
      heartbeatIntervalMs: pl.heartbeatIntervalMs,
      heartbeatDeadAfterMs: pl.heartbeatDeadAfterMs,
    });
    const flow = new OffloaderPairingFlow({ identity: state.identity, store: state.pairings, bus, friendlyName, timeoutMs: pl.pairingTimeoutMs });
    let remoteBuilds: RemoteBuilds;
    ({ engine, remoteBuilds } = createEngineWithRemoteBuilds(engineOptions, {
      store: state.pairings,
      clients,
      localEsphomeVersion: () => esphomeVersion,
      deviceNames: (configuration) => declaredDeviceNames(configDir, configuration),
      startupGraceMs: pl.startupGraceMs,
      report,
    }));
    // The pool must accept before the engine loads and re-queues pending remote jobs.
    remoteBuilds.start();
    const receiverPairing = new ReceiverPairing({ store: state.receiverPeers, bus, windowIdleMs: pl.pairingWindowIdleMs, report });
    const roleMode = pl.buildServerRole === false ? 'off' : pl.buildServerRole === true || pl.buildServerRole === undefined ? 'setting' : pl.buildServerRole;
    buildServerForced = roleMode === 'on';
    const role =
      roleMode === 'off'
        ? null
        : new BuildServerRole({
            engine,
            jobOwners,
            bus,
            state,
            pairing: receiverPairing,
            host: pl.listenHost,
            port: pl.listenPort,
            esphomeVersion: () => esphomeVersion,
            provisioner: toolchains.provisioner(() => esphomeVersion) ?? undefined,
            friendlyName,
            mdns: opts.mdns || undefined,
            serverVersion: opts.appVersion,
            report,
            heartbeatIntervalMs: pl.heartbeatIntervalMs,
            heartbeatDeadAfterMs: pl.heartbeatDeadAfterMs,
          });
    const parts = {
      state,
      clients,
      flow,
      sender: createSenderPort({ store: state.pairings, clients, flow, defaultIntroduction: friendlyName }),
      receiverPairing,
      role,
      remoteBuilds,
    };
    peerLink = parts;
    // Pushed before the engine's stop so it runs after it (stops run in reverse): running remote
    // jobs end as "runner shutdown" while their sessions still exist.
    stops.push(async () => {
      parts.flow.stop();
      parts.remoteBuilds.stop();
      await parts.clients.stop();
      await parts.role?.stop();
      await parts.state.pairings.flush();
      await parts.state.receiverPeers.close();
    });
  }

  // Upload concurrency follows the installed esphome (9 slots from 2026.8, else 4).
  void esphomeStatus.then((s) => {
    esphomeVersion = s.version;
    engine.setEsphomeVersion(s.version);
  });

  // Sender side of §16: browse for unpaired build servers on the same stack the role advertises on.
  let discovery: BuildServerDiscovery | null = null;
  if (peerLink && opts.mdns) {
    const { state } = peerLink;
    const d = new BuildServerDiscovery({
      bonjour: opts.mdns,
      bus,
      ownPin: () => state.identity.pin,
      ownDashboardId: () => state.dashboardId,
      paired: () => state.pairings.list().map((p) => ({ pin: p.pin_sha256, host: p.receiver_hostname, port: p.receiver_port })),
      report,
    });
    d.start();
    discovery = d;
    stops.push(() => d.stop());
  }

  // The firmware library records every compile this engine completes (a build server's jobs for
  // its senders are theirs, not ours); it stops after the engine (stops run in reverse).
  // Retention is a user setting, read at every prune (so a saved change applies at once).
  const retention = (): RetentionSettings => ({ perDevice: settings.get().firmware_keep_per_device, maxBytes: settings.get().firmware_max_bytes });
  const firmware = new FirmwareService({ dataDir, configDir, bus, esphomeVersion: () => esphomeVersion, jobEnv: engineOptions.jobEnv, skip: (job) => jobOwners.get(job.job_id) !== undefined, retention, report });
  firmware.start();
  stops.push(() => firmware.stop());
  // "Build all" / "Update all": bookkeeping over normal engine jobs (in memory: no phantom batch
  // after a restart); the jobs go through the dispatch pool like any other.
  const batch = new FleetBatch({
    jobs: () => engine,
    library: firmware.library,
    digester: firmware.digester,
    configDir,
    esphomeVersion: () => esphomeVersion,
    configurations: () => listConfigurations(configDir),
    install: (target, req) => firmware.install(target, req),
    settled: () => firmware.recorder.idle(),
  });
  stops.push(() => batch.dispose());

  await engine.start();
  stops.push(() => engine.stop());

  if (peerLink) {
    // The version is needed for the first version-policy decisions and the listener's answers.
    await esphomeStatus;
    peerLink.clients.start();
    await peerLink.role?.start(buildServerForced);
  }

  const service = new ApiService({
    jobs: engine,
    settings,
    defaultEsphome,
    toolchains: {
      setup: toolchains,
      source: () => (explicitGiven ? 'explicit' : settings.get().esphome_command.length > 0 ? 'setting' : toolchains.manager?.store.defaultVersion() ? 'managed' : 'path'),
    },
    // The launcher follows a changed setting at once (POSIX); elsewhere only a restart can.
    applyEsphomeCommand: () => {
      void toolchains.refresh(settings.get().esphome_command).then((changed) => changed && reprobe());
      // With --esphome / KILN_ESPHOME the setting only applies after a restart without them.
      return toolchains.live && !explicitGiven;
    },
    probe: async (command) => (command.join('\0') === toolchains.base().join('\0') ? esphomeStatus : probeEsphome(command)),
    sender: peerLink?.sender,
    firmware: {
      service: firmware,
      esphomeVersion: () => esphomeVersion,
      retention: { get: retention, set: async (r) => void (await settings.update({ firmware_keep_per_device: r.perDevice, firmware_max_bytes: r.maxBytes })) },
      chooseSavePath: opts.desktop?.chooseSavePath ? (name) => opts.desktop!.chooseSavePath!(name) : undefined,
    },
    batch,
    buildServer: peerLink?.role ?? undefined,
    discovery: discovery ?? undefined,
    identity: peerLink
      ? { identity: () => ({ pin: peerLink.state.identity.pin, dashboardId: peerLink.state.dashboardId, label: opts.peerLink ? (opts.peerLink.friendlyName ?? hostname()) : hostname() }) }
      : undefined,
    appVersion: opts.appVersion,
    desktop: opts.desktopShell ?? false,
  });
  stops.push(() => service.dispose());

  // Toolchains → the window (progress), and a new default takes effect without a restart.
  const reprobe = (): void => {
    esphomeStatus = probeEsphome(toolchains.base());
    void esphomeStatus.then((s) => {
      esphomeVersion = s.version;
      engine.setEsphomeVersion(s.version);
      service.esphomeChanged('esphome');
    });
  };
  const offToolchains = toolchains.manager?.onEvent((e) => {
    if (e.kind === 'install') service.broadcast('toolchainInstall', e.install);
    else {
      service.broadcast('toolchainsChanged', { reason: e.reason });
      void toolchains.refresh().then((changed) => changed && reprobe());
    }
  });
  if (offToolchains) stops.push(offToolchains);

  const desktop = opts.desktop ?? new ToastDesktop(service);
  const policy = new DesktopPolicy({
    bus,
    jobs: () => engine.getJobs(),
    desktop,
    notificationsEnabled: () => service.notificationsOn(),
    // Notices use the window's words: the device's shown name and the failure's first error line.
    describe: (job) => service.describeJob(job),
    isJobVisible: opts.isJobVisible,
    // The tray's paused state; the shell's Pause/Resume items call engine.pause()/resume()
    // (main/electron/backend.ts) and the policy re-pushes the tray on queue_paused_changed.
    isPaused: () => engine.isPaused(),
  }).start();
  stops.push(() => policy.dispose());

  const app: KilnApp = {
    bus,
    engine,
    settings,
    service,
    configDir,
    dataDir,
    esphome,
    get esphomeStatus() {
      return esphomeStatus;
    },
    toolchains,
    peerLink,
    discovery,
    policy,
    firmware,
    batch,
    stop: async () => {
      // Reverse order: the service stops talking first, the engine last.
      for (const stop of stops.splice(0).reverse()) {
        try {
          await stop();
        } catch (err) {
          report(`shutdown step failed: ${(err as Error).message}`);
        }
      }
    },
  };

  for (const ext of opts.extensions ?? []) {
    const stop = await ext(app);
    if (typeof stop === 'function') stops.push(stop);
  }
  return app;
}

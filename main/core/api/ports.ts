// What the API service needs from the rest of the core, as narrow interfaces. The job engine
// satisfies JobsPort structurally; the peer-link and build-server parts are wrapped by adapters in
// main/core/app.ts. Keeping these small lets the service be tested with real engines and lets a
// part that is absent (no peer-link in a minimal setup) simply be left out.
import type {
  BuildServerPairing,
  BuildServerPreview,
  BuildServerRoleState,
  DiscoveredBuildServer,
  EsphomeStatus,
  Identity,
  PairingWindowState,
  PairRequestResult,
  VersionPolicy,
} from '../../../preload/contract';
import type { EventBus } from '../events';
import type { FirmwareJob, JobStatus, QueueStatus } from '../jobs/model';

/** The job engine's public surface the API uses (main/core/jobs/engine.ts). */
export interface JobsPort {
  readonly bus: EventBus;
  readonly configDir: string;
  readonly dataDir: string;
  compile(a: { configuration: string; forceLocal?: boolean }): FirmwareJob;
  /** `note`: a first log line (the firmware library's "which build is used"). */
  upload(a: { configuration: string; port?: string; bootloader?: boolean; note?: string }): FirmwareJob;
  install(a: { configuration: string; port?: string; forceLocal?: boolean; bootloader?: boolean; note?: string }): FirmwareJob;
  clean(a: { configuration: string }): FirmwareJob;
  resetBuildEnv(): FirmwareJob;
  /** Rejects/throws ApiError not_found / invalid_args (firmware-jobs.md §7). */
  cancel(jobId: string): Promise<void> | void;
  getJob(jobId: string): FirmwareJob | undefined;
  getJobs(f?: { status?: JobStatus; configuration?: string }): FirmwareJob[];
  clear(status?: 'completed' | 'failed' | 'cancelled'): number;
  readLog(jobId: string): Promise<string[]>;
  queueStatus(): QueueStatus;
  /** Queue pause (persisted by the engine; emits queue_paused_changed). */
  pause(): void;
  resume(): void;
  isPaused(): boolean;
}

export interface SenderSettings {
  remoteBuildsEnabled: boolean;
  includeLocalInPool: boolean;
  versionPolicy: VersionPolicy;
}

/** Sender side of pairing (peer-link client manager + pairing store). */
export interface SenderPort {
  list(): BuildServerPairing[];
  get(pin: string): BuildServerPairing | null;
  preview(host: string, port: number): Promise<BuildServerPreview>;
  pair(req: {
    host: string;
    port: number;
    expectedPin: string;
    label?: string;
    introduceAs?: string;
    pairingKey?: string;
  }): Promise<PairRequestResult>;
  unpair(pin: string): Promise<void>;
  setEnabled(pin: string, enabled: boolean): Promise<BuildServerPairing>;
  getSettings(): SenderSettings;
  updateSettings(patch: Partial<SenderSettings>): Promise<void>;
}

/** Build-server role (peer-link listener + approved-sender store + pairing window). */
export interface BuildServerRolePort {
  state(): BuildServerRoleState;
  setEnabled(enabled: boolean): Promise<void>;
  /** holder: one id per UI connection (the window is refcounted per window/tab). */
  openWindow(holder: string): PairingWindowState;
  extendWindow(holder: string): PairingWindowState;
  closeWindow(holder: string): PairingWindowState;
  approve(dashboardId: string): Promise<void>;
  reject(dashboardId: string): Promise<void>;
  removeSender(dashboardId: string): Promise<void>;
}

/** mDNS discovery of unpaired build servers (peer-link/discovery.ts); absent when mDNS is off. */
export interface DiscoveryPort {
  list(): DiscoveredBuildServer[];
}

export interface IdentityPort {
  identity(): Identity;
}

export type EsphomeProbe = (command: string[]) => Promise<EsphomeStatus>;

// Kiln's one typed API contract between the window (renderer) and the backend (main/core).
//
// Dependency-free on purpose: main, preload and the renderer all import it, and the renderer is
// type-checked with DOM types only (no Node). Everything here is a type except PROTOCOL_VERSION
// and a few literal lists that both sides need at runtime (enum values for pickers/validation).
//
// Carried by one RPC message format (see RpcMessage below and docs/notes/ui.md) over two
// transports: WebSocket (`kiln serve`, JSON text frames) and Electron MessagePort (structured
// clone of the same objects).

import type { ToolchainInstall, ToolchainUpdateCheck, ToolchainsState } from './contract/toolchains';
import type { BatchKind, BatchSummary, DeviceFirmwareStatus, FirmwareBuild, FirmwareRetention, SaveFirmwareResult } from './contract/firmware';
import type {
  BuildServerPairing,
  BuildServerPreview,
  BuildServerRoleState,
  DiscoveredBuildServers,
  Identity,
  PairRequestResult,
  PairingWindowState,
  PeerConnectionState,
  PendingPairRequest,
} from './contract/build-servers';
export * from './contract/toolchains';
export * from './contract/firmware';
export * from './contract/build-servers';

/** Bumped on any incompatible change to methods, params, results or events. Checked in `hello`. */
export const PROTOCOL_VERSION = 1;

/** Largest YAML `importYaml` accepts (UTF-8 bytes); the window checks it before sending. */
export const MAX_IMPORT_YAML_BYTES = 512 * 1024;

// ---------------------------------------------------------------------------------------------
// Shared vocabulary (mirrors main/core/jobs/model.ts; a compile-time check in
// main/core/api/contract-check.ts keeps the two in sync)

export const JOB_STATUS_VALUES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUS_VALUES)[number];
export const JOB_TYPE_VALUES = ['compile', 'upload', 'install', 'clean', 'reset_build_env', 'rename'] as const;
export type JobType = (typeof JOB_TYPE_VALUES)[number];
export type JobSource = 'local' | 'remote' | 'remote_pending';
/** Who ended a job cancelled (`Job.cancelled_by`; '' when not cancelled). */
export type CancelledBy = 'user' | 'superseded' | 'clean' | 'reset' | 'shutdown' | 'prerequisite' | 'remote';
export const CLEARABLE_STATUS_VALUES = ['completed', 'failed', 'cancelled'] as const;
export type ClearableStatus = (typeof CLEARABLE_STATUS_VALUES)[number];
export const VERSION_POLICY_VALUES = ['any', 'release', 'exact', 'exact_required'] as const;
export type VersionPolicy = (typeof VERSION_POLICY_VALUES)[number];

/** A firmware job as clients see it (firmware-jobs.md §2.2, snake_case like upstream). */
/** One page of jobs (getJobsPage). */
export interface JobsPage {
  jobs: Job[];
  /** Jobs the engine holds in all. */
  total: number;
  /** Pass as `cursor` for the next older page; null when this was the last. */
  nextCursor: string | null;
}

export interface Job {
  job_id: string;
  configuration: string;
  job_type: JobType;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  compile_started_at: string | null;
  compile_ended_at: string | null;
  exit_code: number | null;
  /** Always [] in lists and events; the log travels through followLog + logBatch. */
  output: string[];
  error: string | null;
  port: string;
  flash_bootloader: boolean;
  is_deferred_install: boolean;
  new_name: string;
  depends_on: string;
  dependency_released: boolean;
  progress: number | null;
  remote_peer: string;
  remote_job_id: string;
  remote_peer_label: string;
  device_name: string;
  device_friendly_name: string;
  source: JobSource;
  source_pin_sha256: string;
  source_label: string;
  source_esphome_version: string;
  target_esphome_version: string;
  failure_reason: '' | 'provision';
  cancelled_by: CancelledBy | '';
  // --- Added by the API service (not stored in jobs.json; main/core/jobs/failure-summary.ts) ---
  /** What failed, in one line, and its kind; null unless the job failed. */
  failure: JobFailure | null;
  /** Moves of this job in plain words ("Lost fast-box mid-build — …"), oldest first. */
  history: string[];
  /** Set on a job "Build locally instead" replaced: the id of the job that replaced it ("pending" while switching). */
  replaced_by: string;
}

export const FAILURE_KIND_VALUES = ['config', 'compile', 'upload', 'server_lost', 'esphome', 'other'] as const;
export type FailureKind = (typeof FAILURE_KIND_VALUES)[number];
/** The first decisive error line of a failed job (esphome's Failed config, gcc error:, ERROR …). */
export interface JobFailure {
  kind: FailureKind;
  /** '' when the log had nothing decisive (then the job's `error` says what happened). */
  line: string;
  file?: string;
  lineNo?: number;
  column?: number;
}

/** Error codes that cross the API (main/core/errors.ts). */
export type ApiErrorCode =
  | 'invalid_args'
  | 'not_found'
  | 'internal_error'
  | 'unavailable'
  | 'precondition_failed'
  | 'no_pairing_window'
  | 'no_compatible_peer';

/** Every failed call rejects with this shape (never a raw Error). */
export interface ApiErrorShape {
  code: ApiErrorCode;
  message: string;
  data?: unknown;
}

export interface QueueState {
  idle: boolean;
  running: boolean;
  queueDepth: number;
}

// ---------------------------------------------------------------------------------------------
// Results

export interface HelloResult {
  protocol: number;
  serverVersion: string;
  /** Desktop-only features are false in browser mode (electron.md §4.3). */
  capabilities: { desktop: boolean; buildServerRole: boolean; pairing: boolean };
}

export interface EsphomeStatus {
  /** argv prefix in use, e.g. ["esphome"] or ["/usr/bin/node", "tools/esphome-sim/esphome"]. */
  command: string[];
  /** true once `esphome version` ran and printed `Version: …`. */
  found: boolean;
  version: string;
  /** The version output says it is Kiln's simulator: the UI labels jobs with a badge. */
  simulator: boolean;
  /** Why it was not found (spawn error, exit code), for the empty state. */
  error: string;
}

export interface Environment {
  appVersion: string;
  configDir: string;
  dataDir: string;
  esphome: EsphomeStatus;
}

export interface ConfigurationEntry {
  /** File name relative to the config dir, e.g. "kitchen.yaml". */
  name: string;
  /** `esphome: name:` ("" when the file could not be read). */
  deviceName: string;
  friendlyName: string;
  /** Platform key found at the top level (esp32, esp8266, rp2040, …) or "". */
  platform: string;
  /** Parse problem, shown on the row; such files can still be selected. */
  error: string;
  /**
   * Listed, not parsed yet (the server's first scan after a start): the other fields are empty;
   * the parsed entry follows in a `configurationsChanged` delta.
   */
  reading?: boolean;
}

export interface ImportResult {
  configuration: string;
  deviceName: string;
  /** true when an existing file was replaced (only with overwrite: true). */
  overwritten: boolean;
}

export interface Settings {
  /** argv prefix of the esphome command; [] = default (`esphome`, or --esphome/KILN_ESPHOME). */
  esphomeCommand: string[];
  configDir: string;
  remoteBuildsEnabled: boolean;
  includeLocalInPool: boolean;
  versionPolicy: VersionPolicy;
  notifications: boolean;
  /** Desktop app: start at login (hidden in the tray while the build-server role is on). */
  launchAtLogin: boolean;
}

export interface SettingsUpdateResult {
  settings: Settings;
  /** Some settings (config dir) only take effect after a restart of the backend. */
  restartRequired: boolean;
}

export interface FollowLogResult {
  /** The job at subscription time (without output). */
  job: Job;
  /** Retained history, each entry with its terminator; live lines continue at seq = lines.length. */
  lines: string[];
  /** Lines the backend dropped before these (trim notice already in `lines` when it applies). */
  truncated: boolean;
  /**
   * Index of `lines[0]` in the job's full log: lines before it exist but were left out (followLog
   * `tail`); `getLogRange` fetches them ("Load earlier lines"). 0 = the history is complete.
   */
  firstIndex: number;
}

/** A slice of a job's full log (`getLogRange`). */
export interface LogRange {
  /** Index of `lines[0]` in the job's log. */
  start: number;
  lines: string[];
  /** Lines in the job's log at the time of the call. */
  total: number;
}

/** The job queue's pause state: while paused no queued job starts (running ones go on). */
export interface QueuePause {
  paused: boolean;
}

// ---------------------------------------------------------------------------------------------
// Requests: method name → [params, result]. Params are plain JSON objects; every call is
// validated on the backend (zod) and a bad one fails with invalid_args and changes nothing.

export interface BackendMethods {
  /** Must be the first call on a connection. token: the per-launch token of `kiln serve`. */
  hello: [{ protocol: number; token?: string; client?: string }, HelloResult];

  getEnvironment: [Record<string, never>, Environment];

  // Jobs (firmware-jobs.md §15)
  getJobs: [{ status?: JobStatus; configuration?: string }, Job[]];
  /**
   * A window's job list: first page (no cursor) = every active job + the newest `limit`
   * (default 100) finished jobs; `cursor` (the previous page's nextCursor) = the next older ones.
   * jobLifecycle events carry the changes after that.
   */
  getJobsPage: [{ limit?: number; cursor?: string }, JobsPage];
  getJob: [{ jobId: string }, Job | null];
  compile: [{ configuration: string; forceLocal?: boolean }, Job];
  upload: [{ configuration: string; port?: string; bootloader?: boolean }, Job];
  /** Returns the chain's compile job; port defaults to "OTA". */
  /**
   * Returns the first job queued. With a library build of the current inputs (and no `rebuild`)
   * that is an upload of the stored firmware; otherwise the compile of a compile + upload chain.
   */
  install: [{ configuration: string; port?: string; forceLocal?: boolean; bootloader?: boolean; rebuild?: boolean }, Job];
  clean: [{ configuration: string }, Job];
  /** `esphome clean-all`: cancels every other active job first. */
  resetBuildEnv: [Record<string, never>, Job];
  cancel: [{ jobId: string }, { ok: true }];
  /** Re-submits a failed/cancelled job's operation (install keeps port + bootloader). */
  retry: [{ jobId: string; forceLocal?: boolean }, Job];
  /** "Build locally instead": cancel a remote install's compile, re-submit it with forceLocal. */
  buildLocally: [{ jobId: string }, Job];
  /** Removes terminal jobs: all, or only one status. */
  clearJobs: [{ status?: ClearableStatus }, { removed: number }];
  /**
   * Start following a job's log on this connection: history now, then `logBatch` events.
   * `tail`: a finished job's history is cut to its last `tail` lines (`firstIndex` says how many
   * were left out); a running job's retained history is always sent whole.
   */
  followLog: [{ jobId: string; tail?: number }, FollowLogResult];
  unfollowLog: [{ jobId: string }, { ok: true }];
  /** Lines [max(0, before - max), before) of the job's full log (its log file once finished). */
  getLogRange: [{ jobId: string; before: number; max: number }, LogRange];

  // Queue pause (persisted; also the tray's Pause queue / Resume queue)
  getQueuePause: [Record<string, never>, QueuePause];
  pauseQueue: [Record<string, never>, QueuePause];
  resumeQueue: [Record<string, never>, QueuePause];

  // Configurations
  listConfigurations: [Record<string, never>, ConfigurationEntry[]];
  /** Firmware status of every configuration (or one), from the firmware library. */
  getFirmwareStatus: [{ configuration?: string }, DeviceFirmwareStatus[]];
  /** The kept builds of one configuration, newest first. */
  listFirmwareBuilds: [{ configuration: string }, FirmwareBuild[]];
  /** "Flash this build": stages a kept build and queues its upload (no compile). */
  flashFirmwareBuild: [{ configuration: string; buildId: string; port?: string }, Job];
  setFirmwareBuildPinned: [{ buildId: string; pinned: boolean }, { ok: true }];
  /** The running batch, else the last one of this run of the backend (null: none yet). */
  getBatch: [Record<string, never>, BatchSummary | null];
  /** The devices startBatch would queue now (the counts on "Build all (N)" / "Update all (N)"). */
  previewBatch: [{ kind: BatchKind }, { configurations: string[]; esphomeVersion: string }];
  /**
   * "Build all" (kind build) / "Update all" (kind update): queues a job for every device that is
   * not up to date (or those of `configurations` that are not). `esphomeVersion`: the version the
   * window offered ("Build all with ESPHome X"); refused if the backend's differs now.
   * precondition_failed: a batch is running, or nothing to do.
   */
  startBatch: [{ kind: BatchKind; configurations?: string[]; esphomeVersion?: string }, BatchSummary];
  /** Cancels the batch's queued and running jobs (no other job). */
  stopBatch: [{ batchId: string }, BatchSummary];
  /** Retention of the firmware library, with the size it uses now. */
  getFirmwareRetention: [Record<string, never>, FirmwareRetention];
  /** Validated (1..50 builds, 64 MiB..100 GiB), saved, and applied to the library at once. */
  setFirmwareRetention: [{ keepPerDevice?: number; maxBytes?: number }, FirmwareRetention];
  /** Save a kept build's image to a file the user picks (desktop); a browser gets 'use-download-link'. */
  saveFirmwareAs: [{ buildId: string; kind: 'ota' | 'factory' }, SaveFirmwareResult];
  /** Content-first import (drop or file picker). name: leaf file name ending .yaml/.yml. */
  importYaml: [{ name: string; content: string; overwrite?: boolean }, ImportResult];

  // Settings
  getSettings: [Record<string, never>, Settings];
  updateSettings: [Partial<Settings>, SettingsUpdateResult];

  // Identity
  getIdentity: [Record<string, never>, Identity];

  // Sender side: build servers we send builds to
  listBuildServers: [Record<string, never>, BuildServerPairing[]];
  previewBuildServer: [{ host: string; port: number }, BuildServerPreview];
  /** Re-handshakes and refuses (precondition_failed) if the pin differs from expectedPin. */
  pairBuildServer: [
    { host: string; port: number; expectedPin: string; label?: string; introduceAs?: string; pairingKey?: string },
    PairRequestResult,
  ];
  getBuildServer: [{ pin: string }, BuildServerPairing | null];
  unpairBuildServer: [{ pin: string }, { ok: true }];
  setBuildServerEnabled: [{ pin: string; enabled: boolean }, BuildServerPairing];
  /** "Build servers on your network": unpaired build servers found over mDNS ([] and enabled: false when off). */
  listDiscoveredBuildServers: [Record<string, never>, DiscoveredBuildServers];

  // Build-server role: this machine compiles for paired senders
  getBuildServerRole: [Record<string, never>, BuildServerRoleState];
  setBuildServerRole: [{ enabled: boolean }, BuildServerRoleState];
  openPairingWindow: [Record<string, never>, PairingWindowState];
  extendPairingWindow: [Record<string, never>, PairingWindowState];
  closePairingWindow: [Record<string, never>, PairingWindowState];
  approvePairRequest: [{ dashboardId: string }, { ok: true }];
  rejectPairRequest: [{ dashboardId: string }, { ok: true }];
  removeSender: [{ dashboardId: string }, { ok: true }];

  // Managed ESPHome toolchains
  getToolchains: [Record<string, never>, ToolchainsState];
  /** Starts (or joins) an install; progress arrives as toolchainInstall events. No version = latest. */
  installToolchain: [{ version?: string }, ToolchainInstall];
  stopToolchainInstall: [{ id: string }, { ok: boolean }];
  getToolchainInstallLog: [{ id: string }, { lines: string[] }];
  /** Choosing the default is deliberate: the old one stays installed until removed. */
  setDefaultToolchain: [{ version: string }, ToolchainsState];
  removeToolchain: [{ version: string }, ToolchainsState];
  /** Offline or unreachable index: status "unknown" with the reason, never an error. */
  checkToolchainUpdate: [Record<string, never>, ToolchainUpdateCheck];
  setProvisionKeep: [{ keep: number }, ToolchainsState];
}

export type MethodName = keyof BackendMethods;
export type ParamsOf<M extends MethodName> = BackendMethods[M][0];
export type ResultOf<M extends MethodName> = BackendMethods[M][1];

/** The promise-returning API a client sees (hello is done by the client itself). */
export type BackendApi = {
  [M in Exclude<MethodName, 'hello'>]: (params: ParamsOf<M>) => Promise<ResultOf<M>>;
};

// ---------------------------------------------------------------------------------------------
// Events: backend → client, fire-and-forget, pushed to every connection after hello (logBatch
// only for jobs this connection follows).

export type JobLifecycleKind = 'queued' | 'started' | 'completed' | 'failed' | 'cancelled';

export interface ToastEvent {
  kind: 'info' | 'success' | 'error';
  title: string;
  body: string;
  jobId?: string;
}

export interface FrontendEvents {
  /** A job was queued/started/ended: the full job (no output). */
  jobLifecycle: { kind: JobLifecycleKind; job: Job };
  /** History changed without a lifecycle event (clear, prune, re-route): re-fetch the list. */
  jobsChanged: { reason: string };
  /** Coalesced to at most ~10 per second per job. */
  jobProgress: { jobId: string; progress: number };
  /** New lines of a followed job, batched every ~50 ms or 64 KiB. seq = line index since follow. */
  logBatch: { jobId: string; firstSeq: number; lines: string[] };
  /** Lines that were dropped for a slow client (fromSeq inclusive, toSeq exclusive). */
  logGap: { jobId: string; fromSeq: number; toSeq: number };
  /** Sender side: the set or state of pairings changed (re-fetch listBuildServers). */
  buildServersChanged: { pin: string; change: string };
  /** Sender side: the "Build servers on your network" list changed (the whole new list). */
  discoveredBuildServersChanged: DiscoveredBuildServers;
  /** Sender side: one pairing's connection changed. */
  buildServerConnection: { pin: string; connection: PeerConnectionState; lastError: string };
  /** Sender side: a build server's compile lane. */
  buildServerQueue: { pin: string; queue: QueueState };
  /** Sender side: outcome of a pending pair request (long-poll ended). */
  pairStatus: { pin: string; status: 'approved' | 'rejected'; reason: string };
  /** Build-server side: a new pairing request arrived. */
  pairRequest: PendingPairRequest;
  /** Build-server side: window opened/extended/closed. */
  pairingWindow: PairingWindowState;
  /** Build-server side: role state changed (senders, pending, listener): re-fetch. */
  buildServerRoleChanged: { reason: string };
  settingsChanged: Settings;
  /**
   * The configuration folder changed. With `changed`/`removed` (folder watch): merge these
   * entries into the list; without them (older servers): re-fetch listConfigurations.
   */
  configurationsChanged: { reason: string; changed?: ConfigurationEntry[]; removed?: string[] };
  /** In-app toast / notification (job finished, build server lost, …). */
  toast: ToastEvent;
  /** The queue was paused or resumed (by any client, the tray or at startup). */
  queuePaused: QueuePause;
  /** A toolchain install's progress (phase, fraction, message) and its end. */
  toolchainInstall: ToolchainInstall;
  /** Installed toolchains or the default changed (re-fetch getToolchains and the environment). */
  toolchainsChanged: { reason: string };
  /** Show this job: select it and open its log (e.g. an OS notification was clicked). */
  selectJob: { jobId: string };
  /** The fleet batch changed (a job of it moved, it ended, or a new one started). */
  batchChanged: { batch: BatchSummary };
}

export type EventName = keyof FrontendEvents;

// ---------------------------------------------------------------------------------------------
// Wire format (identical on both transports; JSON text over WebSocket)

export interface RpcRequest {
  t: 'req';
  id: number;
  method: string;
  params?: unknown;
}

export type RpcResponse =
  | { t: 'res'; id: number; ok: true; result: unknown }
  | { t: 'res'; id: number; ok: false; error: ApiErrorShape };

export interface RpcEvent {
  t: 'evt';
  event: string;
  data: unknown;
}

export type RpcMessage = RpcRequest | RpcResponse | RpcEvent;

/** Close code a WebSocket server uses when hello fails (bad token / protocol). */
export const RPC_CLOSE_UNAUTHORIZED = 4401;

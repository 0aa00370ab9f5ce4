// Part of the API contract (preload/contract.ts re-exports it): dependency-free types only.

/** Firmware library (issue 15, docs/notes/firmware-library.md). */
export const FIRMWARE_STATUS_VALUES = ['up-to-date', 'config-changed', 'esphome-changed', 'never-built'] as const;
export type FirmwareStatus = (typeof FIRMWARE_STATUS_VALUES)[number];

export interface FirmwareBuild {
  id: string;
  configuration: string;
  /** ISO time the compile completed. */
  builtAt: string;
  builtOn: 'local' | 'remote';
  /** "this computer" or the build server's label. */
  builtOnLabel: string;
  esphomeVersion: string;
  platform: string;
  board: string;
  digest: string;
  pinned: boolean;
  /** Bytes of every stored file. */
  size: number;
  /** Downloadable images (ota always; factory where the platform has one). */
  images: Array<{ kind: 'ota' | 'factory'; size: number; sha256: string; fileName: string }>;
}

export interface DeviceFirmwareStatus {
  configuration: string;
  status: FirmwareStatus;
  /** The build of the current inputs (up-to-date), else the newest; null when never built. */
  build: FirmwareBuild | null;
}

/**
 * Fleet batches (issue 15): "Build all" compiles every device that is not up to date (later
 * Installs are flashes); "Update all" installs every such device over OTA. One at a time.
 */
export const BATCH_KIND_VALUES = ['build', 'update'] as const;
export type BatchKind = (typeof BATCH_KIND_VALUES)[number];
/** running: jobs left; stopping: Stop asked, cancels under way; done / stopped: every job ended. */
export type BatchState = 'running' | 'stopping' | 'done' | 'stopped';
/** replaced: another job for the device superseded the batch's (a click on Install meanwhile). */
export type BatchItemState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'replaced';

export interface BatchItem {
  configuration: string;
  state: BatchItemState;
  /** The job to open for this device's log (the failing one when it failed, else the first). */
  jobId: string;
  /** The failure or cancel reason ('' otherwise). */
  error: string;
}

export interface BatchSummary {
  id: string;
  kind: BatchKind;
  /** The ESPHome version the batch compiles with ('' unknown). */
  esphomeVersion: string;
  state: BatchState;
  startedAt: string;
  endedAt: string | null;
  /** Devices in the batch. */
  total: number;
  /** Devices whose jobs all ended (completed, failed, cancelled or replaced). */
  done: number;
  failed: number;
  cancelled: number;
  /** Devices with a job running now. */
  running: number;
  /** Seconds left, estimated (see main/core/firmware/batch-eta.ts); null until there is a basis. */
  etaSeconds: number | null;
  items: BatchItem[];
}

/** Retention of the firmware library (user settings; Settings → Firmware library). */
export const FIRMWARE_KEEP_MIN = 1;
export const FIRMWARE_KEEP_MAX = 50;
export const FIRMWARE_MAX_BYTES_MIN = 64 * 1024 * 1024;
export const FIRMWARE_MAX_BYTES_MAX = 100 * 1024 * 1024 * 1024;

export interface FirmwareRetention {
  /** Builds kept per device (pinned builds not counted). */
  keepPerDevice: number;
  /** Total size limit of the library in bytes. */
  maxBytes: number;
  /** Bytes the library uses now. */
  usedBytes: number;
}

/**
 * "Save as…" of a kept build's image: the desktop app asks where (native dialog) and writes it;
 * a browser is told to use the download link instead.
 */
export type SaveFirmwareResult =
  | { outcome: 'saved'; path: string; bytes: number; sha256: string }
  | { outcome: 'cancelled' }
  | { outcome: 'use-download-link' };

// Chip verify before a serial flash (firmware-jobs.md §9.5, esphome-cli.md §5.2): run
// `esptool --port <port> chip-id` as a tracked, cancellable process, read the chip from
// `Detecting chip type... ESP32-C3`, and compare it with the platform StorageJSON recorded at the
// last compile. Only a definite mismatch stops the flash; anything inconclusive lets it go ahead.
import { runTracked, SpawnError, spawnReason } from './tracked-process';

export const DEFAULT_ESPTOOL: readonly string[] = Object.freeze(['esptool']);
/** esptool gives up on an unresponsive port on its own well before this; it only bounds a wedged one. */
export const CHIP_VERIFY_TIMEOUT_MS = 60_000;
const MAX_CAPTURE_CHARS = 64 * 1024;
const DETECT_MARKER = 'Detecting chip type';

export type ChipVerifyResult =
  /** The port's chip is what the configuration was compiled for. */
  | { kind: 'match'; detected: string }
  /** A different chip: the flash must not run. */
  | { kind: 'mismatch'; detected: string; message: string }
  /** esptool ran but reported no chip (no device answered, unsupported chip, timeout): warn, flash. */
  | { kind: 'undetected'; reason: string }
  /** esptool could not be started: warn, flash. */
  | { kind: 'unavailable'; reason: string }
  /** The signal was aborted (cancel or shutdown) while esptool ran. */
  | { kind: 'interrupted' };

export interface ChipVerifyOptions {
  /** argv prefix of esptool, default `['esptool']`. */
  esptool?: readonly string[];
  port: string;
  /** StorageJSON `esp_platform` of the configuration (e.g. `ESP32C3`). */
  expectedPlatform: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
  terminateGraceMs?: number;
  drainMs?: number;
  timeoutMs?: number;
}

/** Chip verify applies to serial device paths only (not OTA, hosts, IPs or COM ports). */
export function chipVerifyApplies(port: string): boolean {
  return port !== '' && port.toUpperCase() !== 'OTA' && port.startsWith('/dev');
}

/** `ESP32-C3` / `esp32_c3` / `ESP32C3` → `esp32c3`. */
export function normalizeChip(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

/**
 * The chip from esptool's output: the first `Detecting chip type` line with text after its last
 * `...`, lowercased without `-` (`Detecting chip type... ESP32-C3` → `esp32c3`); null if none.
 */
export function parseDetectedChip(output: string): string | null {
  for (const line of output.split(/\r\n|\r|\n/)) {
    if (!line.includes(DETECT_MARKER)) continue;
    const tail = line.slice(line.lastIndexOf('...') + 3).trim();
    const chip = tail.toLowerCase().replace(/-/g, '');
    if (chip !== '') return chip;
  }
  return null;
}

export function chipMismatchMessage(expectedPlatform: string, port: string, detected: string): string {
  return `Chip mismatch: config expects ${expectedPlatform.toLowerCase()} but ${port} has ${detected}. Wrong board selected?`;
}

export async function verifyChip(opts: ChipVerifyOptions): Promise<ChipVerifyResult> {
  const esptool = opts.esptool && opts.esptool.length > 0 ? opts.esptool : DEFAULT_ESPTOOL;
  if (opts.signal?.aborted) return { kind: 'interrupted' };
  let captured = '';
  let res;
  try {
    res = await runTracked([...esptool, '--port', opts.port, 'chip-id'], {
      env: opts.env,
      signal: opts.signal,
      terminateGraceMs: opts.terminateGraceMs,
      drainMs: opts.drainMs,
      timeoutMs: opts.timeoutMs ?? CHIP_VERIFY_TIMEOUT_MS,
      onChunk: (c) => {
        if (captured.length < MAX_CAPTURE_CHARS) captured += c;
      },
    });
  } catch (err) {
    if (err instanceof SpawnError) return { kind: 'unavailable', reason: `esptool ${spawnReason(err.code)}: '${esptool.join(' ')}'` };
    throw err;
  }
  if (opts.signal?.aborted) return { kind: 'interrupted' };
  if (res.timedOut) return { kind: 'undetected', reason: `esptool chip-id timed out after ${duration(opts.timeoutMs ?? CHIP_VERIFY_TIMEOUT_MS)}` };
  const detected = parseDetectedChip(captured);
  if (detected === null) {
    const how = res.exitCode === null ? `killed by ${res.signal ?? 'a signal'}` : `exit code ${res.exitCode}`;
    return { kind: 'undetected', reason: `esptool chip-id reported no chip type (${how})` };
  }
  if (normalizeChip(detected) === normalizeChip(opts.expectedPlatform)) return { kind: 'match', detected };
  return { kind: 'mismatch', detected, message: chipMismatchMessage(opts.expectedPlatform, opts.port, detected) };
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

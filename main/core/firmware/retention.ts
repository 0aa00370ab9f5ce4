// The firmware library's retention as user settings: keep the last N builds per device and a
// total size cap. Checked before anything is saved (a refusal names the field in plain words and
// changes nothing) and applied by the library at once on save.
import { FIRMWARE_KEEP_MAX, FIRMWARE_KEEP_MIN, FIRMWARE_MAX_BYTES_MAX, FIRMWARE_MAX_BYTES_MIN } from '../../../preload/contract/firmware';
import { ApiError } from '../errors';
import type { RetentionSettings } from './store';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

export function sizeText(bytes: number): string {
  if (bytes >= GIB) return `${+(bytes / GIB).toFixed(2)} GiB`;
  return `${+(bytes / MIB).toFixed(1)} MiB`;
}

/** The patch applied to `current`, or an ApiError invalid_args naming the field. */
export function checkRetention(current: RetentionSettings, patch: { keepPerDevice?: number; maxBytes?: number }): RetentionSettings {
  const next = { ...current };
  if (patch.keepPerDevice !== undefined) {
    const n = patch.keepPerDevice;
    if (!Number.isInteger(n) || n < FIRMWARE_KEEP_MIN || n > FIRMWARE_KEEP_MAX) {
      throw new ApiError('invalid_args', `Keep the last N builds per device: enter a whole number from ${FIRMWARE_KEEP_MIN} to ${FIRMWARE_KEEP_MAX}. Nothing was saved.`, { field: 'keepPerDevice' });
    }
    next.perDevice = n;
  }
  if (patch.maxBytes !== undefined) {
    const b = patch.maxBytes;
    if (!Number.isSafeInteger(b) || b < FIRMWARE_MAX_BYTES_MIN || b > FIRMWARE_MAX_BYTES_MAX) {
      throw new ApiError('invalid_args', `Total size limit: enter a size from ${sizeText(FIRMWARE_MAX_BYTES_MIN)} to ${sizeText(FIRMWARE_MAX_BYTES_MAX)}. Nothing was saved.`, { field: 'maxBytes' });
    }
    next.maxBytes = b;
  }
  return next;
}

/** A stored value kept only when valid (a hand-edited settings file cannot set 0 or 1 byte). */
export function validKeep(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= FIRMWARE_KEEP_MIN && v <= FIRMWARE_KEEP_MAX ? v : fallback;
}
export function validMaxBytes(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= FIRMWARE_MAX_BYTES_MIN && v <= FIRMWARE_MAX_BYTES_MAX ? v : fallback;
}

// The submitted `configuration_filename` must be a plain leaf YAML name (peer-link-protocol.md
// §8 step 5); the device workspace directory is derived from its stem.
import { createHash } from 'node:crypto';

const YAML_EXT = /\.(ya?ml)$/i;

/** §8 step 5: non-empty leaf, no `/` `\` NUL, `.yaml`/`.yml` (any case), stem not `""`/`.`/`..`. */
export function isSafeConfigurationFilename(name: unknown): name is string {
  if (typeof name !== 'string' || name.length === 0) return false;
  if (name.includes('/') || name.includes('\\') || name.includes('\0')) return false;
  const m = YAML_EXT.exec(name);
  if (!m) return false;
  const stem = name.slice(0, name.length - m[0].length);
  return stem !== '' && stem !== '.' && stem !== '..';
}

/** YAML stem of a safe configuration filename (`kitchen.yaml` → `kitchen`). */
export function yamlStem(name: string): string {
  return name.replace(YAML_EXT, '');
}

/**
 * A filesystem-safe directory name: characters outside `[A-Za-z0-9._-]` become `_`, and a leading
 * dot becomes `_` so a device can never shadow the workspace's own hidden entries (`.esphome`,
 * `.staging`). Capped at 100 characters.
 */
export function sanitizePathComponent(raw: string): string {
  let s = raw.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  s = s.replace(/^\./, '_');
  return s === '' ? '_' : s;
}

/** Device directory for a submitted configuration: the sanitized YAML stem. */
export function deviceDirName(configurationFilename: string): string {
  return sanitizePathComponent(yamlStem(configurationFilename));
}

/**
 * A sender's key on this build server: the first 32 hex characters of SHA-256 over its full
 * dashboard_id and the pin of its pinned static key. Every per-sender resource (workspace,
 * ESPHOME_DATA_DIR, FIFO, job ownership) is keyed on it, never on a prefix of the sender-chosen
 * dashboard_id (public in mDNS instance names): two senders can share any prefix, and a sender
 * re-paired with another key under the same id starts from a clean slate.
 */
export function senderKey(dashboardId: string, pin: string): string {
  return createHash('sha256').update(`${dashboardId}\0${pin}`).digest('hex').slice(0, 32);
}

/** True for a string `senderKey` can produce (used to recognise workspace directories). */
export function isSenderKey(name: string): boolean {
  return /^[0-9a-f]{32}$/.test(name);
}

// Where esphome keeps a configuration's StorageJSON sidecar and what Kiln reads from it
// (esphome-cli.md §4.1): `<data_dir>/storage/<yaml file name>.json`, data_dir = `/data` in add-on
// mode, else `$ESPHOME_DATA_DIR`, else `<yaml dir>/.esphome`. Written at codegen time, so it exists
// once a configuration has been compiled.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** esphome's truthiness for environment flags such as `ESPHOME_IS_HA_ADDON`. */
export function envTruthy(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no' && v !== 'off';
}

/** esphome's data_dir for a YAML (absolute path) under the environment esphome runs with. */
export function esphomeDataDir(yamlPath: string, env: Record<string, string | undefined>): string {
  if (envTruthy(env.ESPHOME_IS_HA_ADDON)) return '/data';
  if (env.ESPHOME_DATA_DIR) return resolve(env.ESPHOME_DATA_DIR);
  return join(dirname(yamlPath), '.esphome');
}

export function storageJsonPath(yamlPath: string, env: Record<string, string | undefined>): string {
  return join(esphomeDataDir(yamlPath, env), 'storage', `${basename(yamlPath)}.json`);
}

/**
 * The `esp_platform` recorded at the last compile (`ESP32C3`, `ESP8266`, …), or null when there is
 * no sidecar, it is unreadable, or it records no platform (nothing to verify against).
 */
export async function readEspPlatform(storagePath: string): Promise<string | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(storagePath, 'utf8'));
  } catch {
    return null;
  }
  const platform = (parsed as { esp_platform?: unknown } | null)?.esp_platform;
  return typeof platform === 'string' && platform.trim() !== '' ? platform.trim() : null;
}

// A device's firmware status from the library (issue 15): `up-to-date` (the library holds a
// build of the current inputs with the current ESPHome version), `esphome-changed` (the inputs
// were built, but with another ESPHome version), `config-changed` (the inputs changed since the
// newest build), `never-built`. Cheap for a fleet: digests come from the stat-keyed cache.
import { join } from 'node:path';
import type { ConfigDigester } from './digest';
import type { FirmwareLibrary, LibraryEntry } from './store';

export const FIRMWARE_STATUSES = ['up-to-date', 'config-changed', 'esphome-changed', 'never-built'] as const;
export type FirmwareStatus = (typeof FIRMWARE_STATUSES)[number];

export interface DeviceStatusResult {
  configuration: string;
  status: FirmwareStatus;
  /** The build matching the current inputs (up-to-date), else the newest build; null when never built. */
  build: LibraryEntry | null;
  /** Why the status could not be computed precisely (unreadable YAML): '' normally. */
  problem: string;
}

export async function deviceStatus(library: FirmwareLibrary, digester: ConfigDigester, configDir: string, configuration: string, esphomeVersion: string, entries?: LibraryEntry[]): Promise<DeviceStatusResult> {
  const builds = (entries ?? (await library.list())).filter((e) => e.device === configuration);
  if (builds.length === 0) return { configuration, status: 'never-built', build: null, problem: '' };
  const yaml = join(configDir, configuration);
  let full: string;
  let configOnly: string;
  try {
    [full, configOnly] = await Promise.all([digester.digest(yaml, esphomeVersion).then((d) => d.digest), digester.configOnly(yaml)]);
  } catch (err) {
    return { configuration, status: 'config-changed', build: builds[0] ?? null, problem: (err as Error).message };
  }
  const exact = esphomeVersion ? builds.find((e) => e.digest === full) : undefined;
  if (exact) return { configuration, status: 'up-to-date', build: exact, problem: '' };
  const sameInputs = builds.find((e) => e.config_digest === configOnly);
  if (sameInputs) return { configuration, status: 'esphome-changed', build: sameInputs, problem: '' };
  return { configuration, status: 'config-changed', build: builds[0] ?? null, problem: '' };
}

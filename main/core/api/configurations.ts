// The user's configurations: list the YAML files in the config dir, and import one from content
// (drag-and-drop or a file picker — content-first, electron.md §6). Imports are validated
// before anything touches the disk and never clobber a file unless overwrite was asked for.
import { readFileSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { ConfigurationEntry, ImportResult } from '../../../preload/contract';
import { ApiError } from '../errors';
import { CONFIG_NAME_RE, MAX_IMPORT_BYTES } from './schemas';
import { checkYamlBounds, MAX_ALIAS_COUNT } from './yaml-bounds';

/** Files in the config dir that are never device configurations. */
const NOT_DEVICES = new Set(['secrets.yaml', 'secrets.yml']);

export interface DeviceInfo {
  deviceName: string;
  friendlyName: string;
  platform: string;
}

const PLATFORM_KEYS = ['esp32', 'esp8266', 'rp2040', 'bk72xx', 'rtl87xx', 'ln882x', 'nrf52', 'host', 'libretiny'];

/**
 * Parses ESPHome YAML leniently: custom tags (!secret, !include, !lambda, …) resolve to their
 * plain value with a warning, which is fine for reading names. Throws on syntax errors.
 */
/** 1-based line and column of a character offset. */
function linePosOf(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset));
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, col: offset - nl };
}

export function parseDevice(text: string): DeviceInfo {
  try {
    checkYamlBounds(text);
  } catch (err) {
    throw new ApiError('invalid_args', `not accepted as YAML: ${(err as Error).message}`);
  }
  // logLevel 'error': a hostile file must not flood the server's stderr with yaml's warnings.
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false, logLevel: 'error' });
  } catch (err) {
    // The parser recursing past the stack (a shape the bounds did not foresee) is a refusal too.
    throw new ApiError('invalid_args', `not accepted as YAML: ${(err as Error).message}`);
  }
  const e = doc.errors[0];
  if (e !== undefined) {
    // prettyErrors is off (no source excerpt in the message), so the position comes from the offset.
    const pos = e.linePos?.[0] ?? linePosOf(text, e.pos[0]);
    throw new ApiError('invalid_args', `not valid YAML at line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0]}`, { line: pos.line, column: pos.col });
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml throws a ReferenceError for alias bombs ("Excessive alias count …").
    throw new ApiError('invalid_args', `not accepted as YAML: ${(err as Error).message}`);
  }
  if (!isRecord(root)) throw new ApiError('invalid_args', 'not an ESPHome configuration: the top level must be a mapping');
  const esphome = root.esphome;
  if (!isRecord(esphome) || typeof esphome.name !== 'string' || esphome.name.trim() === '') {
    throw new ApiError('invalid_args', 'not an ESPHome configuration: it has no "esphome: name:"');
  }
  const subs = isRecord(root.substitutions) ? root.substitutions : {};
  const expand = (s: string): string =>
    s.replace(/\$\{?([A-Za-z0-9_]+)\}?/g, (m, key: string) => (typeof subs[key] === 'string' || typeof subs[key] === 'number' ? String(subs[key]) : m));
  return {
    deviceName: expand(esphome.name.trim()),
    friendlyName: typeof esphome.friendly_name === 'string' ? expand(esphome.friendly_name.trim()) : '',
    platform: PLATFORM_KEYS.find((k) => k in root) ?? '',
  };
}

/**
 * The names a configuration's YAML declares, "" when unreadable: a remote build reads them once,
 * for its submit header and for the check of the build server's artifacts.
 */
export function declaredDeviceNames(configDir: string, configuration: string): { device_name: string; device_friendly_name: string } {
  try {
    const info = parseDevice(readFileSync(join(configDir, configuration), 'utf8'));
    return { device_name: info.deviceName, device_friendly_name: info.friendlyName };
  } catch {
    return { device_name: '', device_friendly_name: '' };
  }
}

export async function listConfigurations(configDir: string): Promise<ConfigurationEntry[]> {
  let names: string[];
  try {
    names = await readdir(configDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries: ConfigurationEntry[] = [];
  for (const name of names.sort((a, b) => a.localeCompare(b))) {
    if (!CONFIG_NAME_RE.test(name) || NOT_DEVICES.has(name.toLowerCase())) continue;
    const full = join(configDir, name);
    const entry: ConfigurationEntry = { name, deviceName: '', friendlyName: '', platform: '', error: '' };
    try {
      const st = await stat(full);
      if (!st.isFile()) continue;
      if (st.size > MAX_IMPORT_BYTES) throw new Error(`file is larger than ${MAX_IMPORT_BYTES / 1024} KiB`);
      Object.assign(entry, parseDevice(await readFile(full, 'utf8')));
    } catch (err) {
      entry.error = err instanceof Error ? err.message : String(err);
    }
    entries.push(entry);
  }
  return entries;
}

/** Validates and writes an imported YAML into the config dir. */
export async function importYaml(
  configDir: string,
  req: { name: string; content: string; overwrite?: boolean },
): Promise<ImportResult> {
  const name = req.name.trim();
  if (name.includes('/') || name.includes('\\') || name.includes('\0')) {
    throw new ApiError('invalid_args', `"${name}" must be a file name without folders`);
  }
  if (!/\.ya?ml$/i.test(name)) throw new ApiError('invalid_args', `"${name}" is not a .yaml or .yml file`);
  if (!CONFIG_NAME_RE.test(name)) throw new ApiError('invalid_args', `"${name}" is not a valid configuration file name`);
  if (NOT_DEVICES.has(name.toLowerCase())) throw new ApiError('invalid_args', `"${name}" is reserved for secrets`);
  const bytes = Buffer.byteLength(req.content, 'utf8');
  if (bytes > MAX_IMPORT_BYTES) throw new ApiError('invalid_args', `"${name}" is larger than ${MAX_IMPORT_BYTES / 1024} KiB (${bytes} bytes); ESPHome configurations are a few KiB`);
  const info = parseDevice(req.content);

  await mkdir(configDir, { recursive: true });
  const dest = join(configDir, name);
  const tmp = join(configDir, `.${name}.import-${process.pid}-${Math.random().toString(16).slice(2)}`);
  await writeFile(tmp, req.content, { mode: 0o644 });
  try {
    if (req.overwrite) {
      let existed = true;
      await stat(dest).catch(() => (existed = false));
      await rename(tmp, dest);
      return { configuration: name, deviceName: info.deviceName, overwritten: existed };
    }
    // link() fails with EEXIST instead of replacing: no check-then-write race.
    try {
      await link(tmp, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ApiError('precondition_failed', `A configuration named "${name}" already exists`, {
          reason: 'exists',
          configuration: name,
        });
      }
      throw err;
    }
    return { configuration: name, deviceName: info.deviceName, overwritten: false };
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

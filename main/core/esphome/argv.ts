// How Kiln invokes the esphome CLI (esphome-cli.md §6.2, firmware-jobs.md §6 steps 5–6): the argv
// shape, the forced environment, and the path/port validation that keeps a job inside its config
// directory and keeps a port from being read as a flag.
import { isAbsolute, resolve, sep } from 'node:path';

/** Variables every esphome run gets on top of the inherited environment (§6.2). */
export const FORCED_ENV: Readonly<Record<string, string>> = Object.freeze({
  PLATFORMIO_FORCE_ANSI: 'true',
  FORCE_COLOR: '1',
  CLICOLOR_FORCE: '1',
  PYTHONUNBUFFERED: '1',
  PYTHONUTF8: '1',
  PYTHONIOENCODING: 'utf-8',
});

export type EsphomeCommand =
  | { command: 'compile'; yamlPath: string }
  | { command: 'upload'; yamlPath: string; port?: string; bootloader?: boolean }
  | { command: 'run'; yamlPath: string; port?: string }
  | { command: 'clean'; yamlPath: string }
  | { command: 'clean-all'; configDir: string }
  | { command: 'rename'; yamlPath: string; newName: string }
  | { command: 'bundle'; yamlPath: string; outPath: string };

export interface ArgvExtras {
  /** `--mdns-address-cache …` / `--dns-address-cache …`, placed before the subcommand. */
  cacheArgs?: readonly string[];
}

/**
 * The arguments after the esphome command prefix:
 * `--dashboard [cache args] <cmd> <abs yaml> [options]`. Global flags must precede the subcommand.
 */
export function esphomeArgs(cmd: EsphomeCommand, extras: ArgvExtras = {}): string[] {
  const head = ['--dashboard', ...(extras.cacheArgs ?? [])];
  switch (cmd.command) {
    case 'compile':
      return [...head, 'compile', cmd.yamlPath];
    case 'upload': {
      const out = [...head, 'upload', cmd.yamlPath];
      if (cmd.port) out.push('--device', validatePort(cmd.port));
      if (cmd.bootloader) out.push('--bootloader');
      return out;
    }
    case 'run': {
      const out = [...head, 'run', cmd.yamlPath, '--no-logs'];
      if (cmd.port) out.push('--device', validatePort(cmd.port));
      return out;
    }
    case 'clean':
      return [...head, 'clean', cmd.yamlPath];
    case 'clean-all':
      return [...head, 'clean-all', cmd.configDir];
    case 'rename':
      return [...head, 'rename', cmd.yamlPath, cmd.newName];
    case 'bundle':
      return [...head, 'bundle', cmd.yamlPath, '-o', cmd.outPath];
  }
}

/** Full argv: the configured esphome prefix (e.g. `['python3', '-m', 'esphome']`) + `esphomeArgs`. */
export function esphomeArgv(esphome: readonly string[], cmd: EsphomeCommand, extras: ArgvExtras = {}): string[] {
  if (esphome.length === 0) throw new Error('esphome command is empty');
  return [...esphome, ...esphomeArgs(cmd, extras)];
}

/**
 * Inherited env + the forced variables + per-job extras. An extra whose value is `undefined`
 * removes the variable (receivers drop `ESPHOME_IS_HA_ADDON`).
 */
export function esphomeEnv(
  base: NodeJS.ProcessEnv = process.env,
  extra: Record<string, string | undefined> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  Object.assign(env, FORCED_ENV);
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export class ConfigPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigPathError';
  }
}

/**
 * Absolute path of a configuration inside the config dir. Refuses empty names, NUL bytes,
 * absolute paths and anything that resolves outside the config dir (`../x.yaml`, `a/../../x`).
 */
export function resolveConfigPath(configDir: string, configuration: string): string {
  if (typeof configuration !== 'string' || configuration.trim() === '') throw new ConfigPathError('configuration is required');
  if (configuration.includes('\0')) throw new ConfigPathError('configuration contains a NUL byte');
  if (isAbsolute(configuration) || /^[A-Za-z]:[\\/]/.test(configuration)) {
    throw new ConfigPathError(`configuration must be relative to the config directory: ${configuration}`);
  }
  const root = resolve(configDir);
  const abs = resolve(root, configuration);
  if (abs === root || !abs.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new ConfigPathError(`configuration is outside the config directory: ${configuration}`);
  }
  return abs;
}

export class PortError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortError';
  }
}

// OTA, serial paths (/dev/ttyUSB0, COM3), IPv4/IPv6 (optionally bracketed) and host names.
const PORT_RE = /^[A-Za-z0-9_.:/\\[\]%@+-]+$/;

/** Validates an upload target; a leading `-` would be parsed as a flag by esphome's argparse. */
export function validatePort(port: string): string {
  if (typeof port !== 'string' || port === '') throw new PortError('port is empty');
  if (port.length > 255) throw new PortError('port is too long');
  if (port.startsWith('-')) throw new PortError(`invalid port: ${port}`);
  if (!PORT_RE.test(port)) throw new PortError(`invalid port: ${port}`);
  return port;
}

/** Serial targets: a path (`/dev/...`) or a Windows COM port. */
export function isSerialPort(port: string): boolean {
  return port.startsWith('/') || /^COM\d+$/i.test(port);
}

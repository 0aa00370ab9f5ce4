// The configurable esphome command: parsing a user-supplied command string into an argv prefix,
// choosing between flag / env / setting, and finding the executable so a missing one fails with
// an actionable message instead of a bare ENOENT.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export const DEFAULT_ESPHOME: readonly string[] = Object.freeze(['esphome']);

/** How a user can point Kiln at esphome; quoted in every "not found" message. */
export const ESPHOME_SETTING_HINT =
  'set the esphome command (Settings → esphome command, `kiln build --esphome CMD`, or the KILN_ESPHOME environment variable)';

/**
 * `"python3 -m esphome"` → `['python3', '-m', 'esphome']`. An existing file path is taken whole
 * (it may contain spaces); otherwise the string is split on whitespace, honouring simple
 * single/double quotes for arguments that contain spaces.
 */
export function parseEsphomeCommand(spec: string): string[] {
  const trimmed = spec.trim();
  if (trimmed === '') return [];
  if (isExistingFile(trimmed)) return [trimmed];
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let has = false;
  for (const ch of trimmed) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new Error(`unterminated quote in esphome command: ${spec}`);
  if (has || cur) out.push(cur);
  return out;
}

/**
 * Flag beats env beats the user's setting beats the managed default toolchain beats `esphome`
 * on the PATH. Empty strings count as unset.
 */
export function resolveEsphomeCommand(sources: { flag?: string; env?: string; setting?: string | readonly string[]; managed?: readonly string[] | null }): string[] {
  for (const s of [sources.flag, sources.env]) {
    if (s !== undefined && s.trim() !== '') return parseEsphomeCommand(s);
  }
  const setting = sources.setting;
  // Array.isArray narrows a readonly array to any[]; the declared type says it holds strings.
  if (Array.isArray(setting) && setting.length > 0) return [...(setting as readonly string[])];
  if (typeof setting === 'string' && setting.trim() !== '') return parseEsphomeCommand(setting);
  if (sources.managed && sources.managed.length > 0) return [...sources.managed];
  return [...DEFAULT_ESPHOME];
}

/**
 * Where `cmd` would be executed from: a path (contains a separator) is checked as is, a bare name
 * is searched on PATH (with PATHEXT on Windows). Returns null when nothing executable is found.
 */
export function findExecutable(cmd: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string | null {
  if (cmd === '') return null;
  const isWin = process.platform === 'win32';
  const exts = isWin ? (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean) : [''];
  const candidatesFor = (base: string): string[] => (isWin ? [base, ...exts.map((e) => base + e)] : [base]);
  if (isAbsolute(cmd) || cmd.includes('/') || (isWin && cmd.includes('\\'))) {
    return candidatesFor(resolve(cwd, cmd)).find(isExecutableFile) ?? null;
  }
  for (const dir of (env.PATH ?? env.Path ?? '').split(delimiter)) {
    if (!dir) continue;
    const hit = candidatesFor(join(resolve(cwd, dir), cmd)).find(isExecutableFile);
    if (hit) return hit;
  }
  return null;
}

/** The message a job fails with when the esphome executable cannot be started. */
export function esphomeNotFoundMessage(esphome: readonly string[], reason = 'not found'): string {
  const shown = esphome.join(' ') || '(empty)';
  return `esphome command ${reason}: '${shown}'. Install ESPHome (Settings → Toolchains → Install ESPHome, or \`kiln toolchain install\`) or ${ESPHOME_SETTING_HINT}.`;
}

function isExistingFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    if (process.platform === 'win32') return true;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// The esphome command the job engine runs when Kiln manages toolchains: a small launcher script
// Kiln writes (and rewrites when the chosen esphome changes). Why a script and not the argv
// itself: the engine's argv is fixed when it is created, yet (1) installing ESPHome from the
// window must take effect without a restart, and (2) a build server must run one build in the
// toolchain of the sender's version (peer-link §9.5) — the per-build environment says which:
// KILN_TOOLCHAIN_PYTHON set → that toolchain's `python -m esphome`; unset → the chosen command.
// `exec` replaces the shell, so the process (and its group, which Stop kills) is esphome itself.
// POSIX only; on Windows the chosen argv is used directly and provisioning is off.
import { join } from 'node:path';
import { writeFileAtomicPrivate } from '../private-fs';
import { chmod } from 'node:fs/promises';

export const TOOLCHAIN_PYTHON_ENV = 'KILN_TOOLCHAIN_PYTHON';

export function launcherSupported(platform: NodeJS.Platform = process.platform): boolean {
  return platform !== 'win32';
}

/** POSIX single-quoting: every byte literal. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function launcherScript(base: readonly string[]): string {
  const argv = base.map(shQuote).join(' ');
  const shown = base.join(' ').replace(/[^\x20-\x7e]/g, '?');
  return [
    '#!/bin/sh',
    '# Written by Kiln (main/core/toolchains/launcher.ts); rewritten when the esphome command changes.',
    `if [ -n "\${${TOOLCHAIN_PYTHON_ENV}:-}" ]; then exec "$${TOOLCHAIN_PYTHON_ENV}" -m esphome "$@"; fi`,
    base[0] === undefined
      ? `echo ${shQuote('ERROR no esphome command is set: install ESPHome (Settings → Toolchains) or set the esphome command.')} >&2; exit 127`
      : `command -v ${shQuote(base[0])} >/dev/null 2>&1 || { echo ${shQuote(`ERROR esphome command not found: '${shown}'. Install ESPHome (Settings → Toolchains → Install ESPHome, or \`kiln toolchain install\`) or set the esphome command.`)} >&2; exit 127; }`,
    `exec ${argv} "$@"`,
    '',
  ].join('\n');
}

/** Writes `<dir>/esphome-launcher` for `base`; returns the engine's argv. */
export async function writeLauncher(dir: string, base: readonly string[]): Promise<string[]> {
  const file = join(dir, 'esphome-launcher');
  await writeFileAtomicPrivate(file, launcherScript(base));
  await chmod(file, 0o700);
  return [file];
}

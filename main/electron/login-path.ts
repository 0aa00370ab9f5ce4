// The PATH a GUI launch should have. An app started from the Dock, Finder, a desktop launcher or
// the login session gets a minimal PATH (macOS launchd: /usr/bin:/bin:/usr/sbin:/sbin), so an
// esphome installed with Homebrew or pipx is not found. At start the shell asks the user's login
// shell for its PATH once — bounded in time, since a slow or interactive rc file must never stop
// Kiln from starting — and also adds the usual install places. Managed toolchains (provided by
// the toolchain manager through `managedDirs`) come first, so a managed esphome wins.
// Plain Node (no electron import): tested with real shells and real directories.
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { runBounded } from './bounded-run';

/** How long the login shell may take (rc files of heavy shell setups take ~0.5–1.5 s). */
export const LOGIN_SHELL_TIMEOUT_MS = 3_000;

export interface GuiPathOptions {
  env: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
  /** The login shell (default $SHELL, else /bin/zsh on macOS and /bin/sh elsewhere). */
  shell?: string;
  timeoutMs?: number;
  /** Directories of managed toolchains, put first when they exist (e.g. the managed esphome). */
  managedDirs?: readonly string[];
}

export interface GuiPath {
  /** The PATH to use (managed dirs, login-shell PATH, current PATH, usual places; no duplicates). */
  path: string;
  /** The login shell answered in time. */
  fromShell: boolean;
  /** Why the login shell's PATH is not used ('' when it is). */
  shellError: string;
}

const BEGIN = '__KILN_PATH_BEGIN__';
const END = '__KILN_PATH_END__';

/** The usual install places of esphome outside a login shell's PATH (pipx, Homebrew, /usr/local). */
export function usualDirs(home: string, platform: NodeJS.Platform): string[] {
  if (platform === 'win32') return [];
  return [join(home, '.local', 'bin'), ...(platform === 'darwin' ? ['/opt/homebrew/bin'] : []), '/usr/local/bin'];
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Asks `shell -ilc` for PATH (via `env`, which prints it colon-joined in fish too). */
export async function loginShellPath(shell: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ path: string | null; error: string }> {
  try {
    // env: oh-my-zsh would otherwise offer to update
    const r = await runBounded(shell, ['-ilc', `echo ${BEGIN}; command env; echo ${END}`], { env: { ...env, DISABLE_AUTO_UPDATE: 'true' }, timeoutMs });
    if (r.timedOut) return { path: null, error: `the login shell took longer than ${timeoutMs} ms` };
    const out = String(r.stdout ?? '');
    const start = out.lastIndexOf(BEGIN);
    const end = out.lastIndexOf(END);
    if (start < 0 || end < start) return { path: null, error: r.failed ? `the login shell failed: ${r.message}` : 'no PATH in the login shell output' };
    const line = out
      .slice(start + BEGIN.length, end)
      .split('\n')
      .find((l) => l.startsWith('PATH='));
    if (!line) return { path: null, error: 'the login shell has no PATH' };
    return { path: line.slice('PATH='.length).trim(), error: '' };
  } catch (err) {
    return { path: null, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Resolves the PATH for this GUI launch. Never throws; the login shell gets at most `timeoutMs`. */
export async function resolveGuiPath(o: GuiPathOptions): Promise<GuiPath> {
  const platform = o.platform ?? process.platform;
  const home = o.home ?? homedir();
  const current = o.env.PATH ?? o.env.Path ?? '';
  let shellPath: string | null = null;
  let shellError = '';
  if (platform === 'win32') {
    shellError = 'not used on Windows (GUI apps get the user PATH there)';
  } else {
    const shell = o.shell ?? o.env.SHELL ?? (platform === 'darwin' ? '/bin/zsh' : '/bin/sh');
    if (!isAbsolute(shell)) shellError = `SHELL is not an absolute path: ${shell}`;
    else ({ path: shellPath, error: shellError } = await loginShellPath(shell, o.env, o.timeoutMs ?? LOGIN_SHELL_TIMEOUT_MS));
  }
  const parts = [
    ...(o.managedDirs ?? []).filter((d) => isAbsolute(d) && isDir(d)),
    ...(shellPath ?? '').split(delimiter),
    ...current.split(delimiter),
    ...usualDirs(home, platform).filter(isDir),
  ];
  const seen = new Set<string>();
  const path = parts.filter((p) => p !== '' && !seen.has(p) && seen.add(p)).join(delimiter);
  return { path, fromShell: shellPath !== null, shellError };
}

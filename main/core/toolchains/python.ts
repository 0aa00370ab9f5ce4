// Finding a Python that can create an ESPHome toolchain: one with `venv` + `ensurepip` and a
// version the requested ESPHome release installs on. Candidates, in order: the user's choice,
// python3.13…python3.11 / python3 / python on the PATH, every pyenv version, `py -3.x` on Windows.
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '../esphome/command';
import { runTracked, SpawnError } from '../esphome/tracked-process';
import { parsePythonVersion, ToolchainError } from './version';

export interface PythonInfo {
  /** argv prefix that runs this interpreter (`['/usr/bin/python3.12']`, `['py', '-3.12']`). */
  argv: string[];
  version: string;
  /** Where it was found (shown in messages). */
  source: string;
}

export interface FindPythonOptions {
  /** A Python given by the user (`--python PATH`): the only candidate when set. */
  explicit?: string;
  /** Oldest acceptable [major, minor]. */
  min: [number, number];
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** What the message says the Python is for, e.g. "ESPHome 2026.10.0". */
  purpose?: string;
}

const PROBE = "import sys, venv, ensurepip; print('KILN-PY %d.%d.%d' % sys.version_info[:3])";
const NAMES = ['python3.13', 'python3.12', 'python3.11', 'python3', 'python'];

/** Every candidate argv, most preferred first, deduplicated by the file it runs. */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): Array<{ argv: string[]; source: string }> {
  const out: Array<{ argv: string[]; source: string }> = [];
  const seen = new Set<string>();
  const add = (argv: string[], source: string): void => {
    let id = argv.join('\0');
    try {
      if (argv.length === 1 && argv[0] !== undefined) id = realpathSync(argv[0]);
    } catch {
      /* keep the argv as its identity */
    }
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ argv, source });
  };
  for (const name of NAMES) {
    const hit = findExecutable(name, env);
    // pyenv's shims answer for every version but fail for one that is not selected: the pyenv
    // versions below are probed directly instead.
    if (hit && !hit.includes(`${join('.pyenv', 'shims')}`)) add([hit], 'PATH');
  }
  const pyenvRoot = env.PYENV_ROOT || join(env.HOME || homedir(), '.pyenv');
  const versionsDir = join(pyenvRoot, 'versions');
  if (existsSync(versionsDir)) {
    const versions = readdirSync(versionsDir)
      .filter((v) => /^3\.\d+/.test(v))
      .sort((a, b) => cmpPy(parsePythonVersion(b), parsePythonVersion(a)));
    for (const v of versions) {
      const exe = platform === 'win32' ? join(versionsDir, v, 'python.exe') : join(versionsDir, v, 'bin', 'python3');
      if (existsSync(exe)) add([exe], `pyenv ${v}`);
    }
  }
  if (platform === 'win32') {
    for (const v of ['-3.13', '-3.12', '-3.11', '-3']) add(['py', v], `py ${v}`);
  }
  return out;
}

/** Runs the probe: the version, or why this interpreter cannot be used. */
export async function probePython(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ version: string } | { error: string }> {
  const chunks: string[] = [];
  try {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined && k !== 'PYTHONHOME' && k !== 'PYTHONPATH') clean[k] = v;
    const res = await runTracked([...argv, '-c', PROBE], { env: clean, timeoutMs: 15_000, terminateGraceMs: 500, drainMs: 500, onChunk: (c) => chunks.push(c) });
    const text = chunks.join('');
    const m = /KILN-PY (\d+\.\d+\.\d+)/.exec(text);
    if (res.exitCode === 0 && m?.[1] !== undefined) return { version: m[1] };
    if (/No module named '?(venv|ensurepip)/.test(text)) return { error: 'has no venv/ensurepip module' };
    return { error: `does not run (${text.trim().split('\n').pop()?.slice(0, 200) || `exit ${res.exitCode}`})` };
  } catch (err) {
    return { error: err instanceof SpawnError ? 'was not found' : (err as Error).message };
  }
}

/** The first candidate that works and is new enough; a ToolchainError saying what to install otherwise. */
export async function findPython(opts: FindPythonOptions): Promise<PythonInfo> {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const need = `${opts.min[0]}.${opts.min[1]}`;
  const purpose = opts.purpose ?? 'ESPHome';
  if (opts.explicit !== undefined) {
    const exe = findExecutable(opts.explicit, env) ?? opts.explicit;
    const r = await probePython([exe], env);
    if ('error' in r) throw new ToolchainError(`The Python ${opts.explicit} ${r.error}. ${purpose} needs Python ${need} or newer with venv and ensurepip.`, 'no_python');
    if (!atLeast(r.version, opts.min)) {
      throw new ToolchainError(`Python ${r.version} (${opts.explicit}) is too old for ${purpose}: it needs Python ${need} or newer.`, 'python_too_old');
    }
    return { argv: [exe], version: r.version, source: '--python' };
  }
  const rejected: string[] = [];
  for (const c of pythonCandidates(env, platform)) {
    const r = await probePython(c.argv, env);
    if ('error' in r) {
      rejected.push(`${c.argv.join(' ')} ${r.error}`);
      continue;
    }
    if (!atLeast(r.version, opts.min)) {
      rejected.push(`${c.argv.join(' ')} is Python ${r.version} (too old)`);
      continue;
    }
    return { argv: c.argv, version: r.version, source: c.source };
  }
  const seen = rejected.length > 0 ? ` Found: ${rejected.slice(0, 6).join('; ')}.` : ' No Python was found.';
  throw new ToolchainError(`${purpose} needs Python ${need} or newer with venv and ensurepip.${seen} ${installAdvice(platform, need)}`, 'no_python');
}

/** What to install, in this OS's words. */
export function installAdvice(platform: NodeJS.Platform, need: string): string {
  switch (platform) {
    case 'win32':
      return `Install Python ${need} or newer from python.org (tick "Add python.exe to PATH" and the "py launcher"), or run: winget install Python.Python.${need}`;
    case 'darwin':
      return `Install it with: brew install python@${need} (or the installer from python.org), or give one with --python PATH.`;
    default:
      return `Install it with your package manager, e.g. on Debian/Ubuntu: sudo apt install python${need} python${need}-venv (or python3 python3-venv); or give one with --python PATH.`;
  }
}

function atLeast(version: string, min: [number, number]): boolean {
  const v = parsePythonVersion(version);
  return v !== null && (v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]));
}

function cmpPy(a: [number, number, number] | null, b: [number, number, number] | null): number {
  if (!a || !b) return a ? 1 : b ? -1 : 0;
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

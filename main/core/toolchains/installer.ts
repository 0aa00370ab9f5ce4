// Installing one ESPHome release as a toolchain, atomically: a venv is built in
// `<root>/.tmp-<version>-<pid>-<rand>`, esphome is pip-installed into it, `esphome version` must
// print exactly the requested version, then the folder is renamed to `<root>/<version>`. Any
// failure or Stop kills pip's process group and removes the temp folder: nothing half-installed
// is ever listed. One lock per version makes two installs of one version (in this process or in
// another Kiln process) install it once.
import { readdirSync } from 'node:fs';
import { rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { esphomeEnv } from '../esphome/argv';
import { runTracked, SpawnError } from '../esphome/tracked-process';
import { parseVersionOutput } from '../esphome/version';
import { mkdirPrivate, writeFileAtomicPrivate } from '../private-fs';
import { acquireLock } from './lock';
import { venvPython } from './paths';
import { PipProgressParser, type InstallProgress } from './pip-progress';
import { findPython } from './python';
import { META_FILE, type Toolchain, type ToolchainMeta, type ToolchainStore } from './store';
import { checkVersion, isEsphomeVersion, minPythonFor, ToolchainError } from './version';

export interface InstallOptions {
  /** Release to install; omitted = the newest pip can find. */
  version?: string;
  /** Who asked: the user (kept until removed) or a build server provisioning a sender's version. */
  origin?: 'user' | 'provision';
  /** A Python chosen by the user (`--python PATH`). */
  python?: string;
  /** pip pass-through for offline wheelhouses and private mirrors. */
  findLinks?: string[];
  indexUrl?: string;
  noIndex?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: InstallProgress) => void;
  /** Every line of output (venv, pip, verify), for the full log. */
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Timeouts (ms): pip (default 15 min, upstream's), verify (default 60 s). */
  pipTimeoutMs?: number;
  verifyTimeoutMs?: number;
}

export interface InstallResult {
  toolchain: Toolchain;
  /** It was there already (or another install finished it while we waited). */
  alreadyInstalled: boolean;
}

const TAIL_LINES = 25;

export async function installToolchain(store: ToolchainStore, opts: InstallOptions = {}): Promise<InstallResult> {
  const version = opts.version === undefined ? null : checkVersion(opts.version);
  const line = opts.onLine ?? (() => undefined);
  const parser = new PipProgressParser(opts.onProgress ?? (() => undefined));
  const existing = version ? store.get(version) : null;
  if (existing) return { toolchain: existing, alreadyInstalled: true };

  const release = await acquireLock(store.lockFile(version ?? 'latest'), {
    signal: opts.signal,
    onWait: (owner) => line(`Another install of ESPHome ${version ?? '(latest)'} is running (${owner}); waiting for it…`),
  }).catch((err: unknown) => {
    throw opts.signal?.aborted ? cancelled(version) : err;
  });
  try {
    const again = version ? store.get(version) : null;
    if (again) {
      line(`ESPHome ${version} was installed by the other install.`);
      return { toolchain: again, alreadyInstalled: true };
    }
    await sweepLeftovers(store.root);
    return await buildToolchain(store, version, opts, parser, line);
  } finally {
    await release();
  }
}

async function buildToolchain(
  store: ToolchainStore,
  version: string | null,
  opts: InstallOptions,
  parser: PipProgressParser,
  line: (l: string) => void,
): Promise<InstallResult> {
  const label = version ?? '(latest)';
  parser.step('python', 0.01, 'looking for Python');
  const python = await findPython({ explicit: opts.python, min: minPythonFor(version), env: opts.env, purpose: `ESPHome ${version ?? ''}`.trim() });
  line(`Using Python ${python.version} (${python.argv.join(' ')}, ${python.source})`);
  const tmp = join(store.root, `.tmp-${version ?? 'latest'}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const tail: string[] = [];
  const onChunk = (chunk: string): void => {
    const text = chunk.replace(/\r?\n$|\r$/, '');
    tail.push(text);
    if (tail.length > TAIL_LINES) tail.shift();
    line(text);
    parser.line(text);
  };
  const env = esphomeEnv(opts.env ?? process.env, { PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', PYTHONHOME: undefined, PYTHONPATH: undefined, VIRTUAL_ENV: undefined });
  const run = async (argv: string[], what: string, timeoutMs: number): Promise<void> => {
    let res;
    try {
      res = await runTracked(argv, { env, signal: opts.signal, timeoutMs, terminateGraceMs: 2000, drainMs: 500, onChunk });
    } catch (err) {
      throw new ToolchainError(`Could not ${what}: ${err instanceof SpawnError ? err.message : (err as Error).message}`, 'install_failed');
    }
    if (opts.signal?.aborted) throw cancelled(version);
    if (res.timedOut) throw new ToolchainError(`Could not ${what}: it took longer than ${Math.round(timeoutMs / 1000)} s`, 'install_failed');
    if (res.exitCode !== 0) throw failure(what, res.exitCode, tail);
  };
  try {
    await mkdirPrivate(store.root);
    parser.step('venv', 0.03, 'creating the virtual environment');
    await run([...python.argv, '-m', 'venv', tmp], 'create the virtual environment', 120_000);
    const py = venvPython(tmp);
    const pipArgs = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--no-color', '--progress-bar', 'off'];
    for (const f of opts.findLinks ?? []) pipArgs.push('--find-links', f);
    if (opts.indexUrl) pipArgs.push('--index-url', opts.indexUrl);
    if (opts.noIndex) pipArgs.push('--no-index');
    pipArgs.push(version ? `esphome==${version}` : 'esphome');
    parser.step('resolving', 0.05, `resolving esphome ${label}`);
    await run([py, ...pipArgs], `install ESPHome ${label} with pip`, opts.pipTimeoutMs ?? 900_000);
    parser.step('verifying', 0.95, 'checking `esphome version`');
    const out: string[] = [];
    const verify = await runTracked([py, '-m', 'esphome', 'version'], { env, signal: opts.signal, timeoutMs: opts.verifyTimeoutMs ?? 60_000, terminateGraceMs: 1000, drainMs: 500, onChunk: (c) => out.push(c) }).catch((err: Error) => {
      throw new ToolchainError(`The installed esphome does not start: ${err.message}`, 'install_failed');
    });
    if (opts.signal?.aborted) throw cancelled(version);
    const text = out.join('');
    for (const l of text.split(/\r?\n/)) if (l) line(l);
    const got = parseVersionOutput(text);
    if (verify.exitCode !== 0 || !got) throw new ToolchainError(`The installed esphome does not run (\`esphome version\` exit ${verify.exitCode}): ${text.trim().slice(-400)}`, 'install_failed');
    if (version && got !== version) throw new ToolchainError(`pip installed ESPHome ${got}, not the requested ${version}`, 'install_failed');
    if (!isEsphomeVersion(got)) throw new ToolchainError(`The installed esphome reports "${String(got).slice(0, 40)}", which is not a release version`, 'install_failed');
    const final = join(store.root, got);
    const meta: ToolchainMeta = { version: got, pythonVersion: python.version, python: python.argv.join(' '), installedAt: new Date().toISOString(), lastUsedAt: new Date().toISOString(), origin: opts.origin ?? 'user' };
    await writeFileAtomicPrivate(join(tmp, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    const present = store.get(got);
    if (present) {
      // An unpinned install found a release that is already here.
      await rm(tmp, { recursive: true, force: true });
      parser.step('done', 1, `ESPHome ${got} was already installed`);
      return { toolchain: present, alreadyInstalled: true };
    }
    await rename(tmp, final);
    parser.step('done', 1, `ESPHome ${got} installed`);
    line(`ESPHome ${got} installed in ${final}`);
    const t = store.get(got);
    if (!t) throw new ToolchainError(`ESPHome ${got} was installed but cannot be read back from ${final}`, 'install_failed');
    return { toolchain: t, alreadyInstalled: false };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (opts.signal?.aborted) throw cancelled(version);
    // Tools often hide ENOSPC behind "exit status 1" (ensurepip does): look at the disk itself.
    const free = await freeBytes(store.root);
    if (err instanceof ToolchainError && err.code === 'install_failed' && free !== null && free < LOW_DISK_BYTES) {
      throw new ToolchainError(`Could not install ESPHome ${label}: the disk is full (${Math.round(free / 1024 / 1024)} MB free in ${store.root}; a toolchain needs about 300 MB). Free some space and try again. Nothing was left behind.`, 'disk_full');
    }
    throw err;
  }
}

/** Below this much free space after a failed install, the disk is the reason. */
const LOW_DISK_BYTES = 64 * 1024 * 1024;

async function freeBytes(dir: string): Promise<number | null> {
  try {
    const st = await statfs(dir);
    return Number(st.bavail) * Number(st.bsize);
  } catch {
    return null;
  }
}

function cancelled(version: string | null): ToolchainError {
  return new ToolchainError(`Install of ESPHome ${version ?? '(latest)'} stopped; nothing was left behind`, 'cancelled');
}

function failure(what: string, exitCode: number | null, tail: string[]): ToolchainError {
  const text = tail.join('\n');
  if (/No space left on device|ENOSPC|Errno 28/i.test(text)) {
    return new ToolchainError(`Could not ${what}: the disk is full (free some space and try again). Nothing was left behind.`, 'disk_full');
  }
  const notFound = /No matching distribution found for (\S+)|Could not find a version that satisfies the requirement (\S+)/.exec(text);
  if (notFound) return new ToolchainError(`Could not ${what}: pip found no ${notFound[1] ?? notFound[2]} (is the version right, and is the package index reachable?)`, 'install_failed');
  const last = tail.filter((l) => /error/i.test(l)).slice(-3).join(' | ') || tail.slice(-3).join(' | ');
  return new ToolchainError(`Could not ${what} (exit ${exitCode ?? 'signal'}): ${last.slice(0, 600)}`, 'install_failed');
}

/** Temp folders of installs whose process is gone (a crash or power loss mid-install). */
async function sweepLeftovers(root: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\.tmp-(?:remove-)?.+?-(\d+)-[a-z0-9]+$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive || pid === process.pid) {
      if (pid === process.pid) continue; // ours: an install running right now in this process
      await rm(join(root, name), { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

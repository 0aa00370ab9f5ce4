#!/usr/bin/env node
// Creates (or reuses) the pinned Python virtual environments the "real things" tests need: the real
// `esphome` CLI and upstream's `esphome-device-builder` (pins: tools/python-pins.json). They live
// under $KILN_VENV_DIR or the git-ignored `.venvs/`, one folder per environment, each stamped with
// the pins it was built from so a changed pin rebuilds it and an unchanged one is reused.
//
// Writes `<venv dir>/status.json` ({ok, reason, python, envs, seconds}) which the tests read
// (test/real/envs.ts): a machine where set-up cannot run gets `ok: false` and a plain reason, and
// the tests report NOT RUN with it — never skipped silently, never counted as passed.
//
//   node tools/python-envs.mjs            set up (or reuse), print timings, exit 0 if ready, 3 if not
//   node tools/python-envs.mjs --check    only report whether the environments are ready
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const PINS_FILE = join(root, 'tools', 'python-pins.json');

export function venvDir(env = process.env) {
  return resolve(env.KILN_VENV_DIR || join(root, '.venvs'));
}

export function readPins() {
  return JSON.parse(readFileSync(PINS_FILE, 'utf8'));
}

function versionTuple(text) {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function atLeast(v, min) {
  for (let i = 0; i < 3; i += 1) {
    if ((v[i] ?? 0) !== (min[i] ?? 0)) return (v[i] ?? 0) > (min[i] ?? 0);
  }
  return true;
}

/** Runs `python -c` to learn its real version and whether `venv` works; null when unusable. */
function probePython(cmd, env) {
  const r = spawnSync(cmd[0], [...cmd.slice(1), '-c', 'import sys, venv, ensurepip; print("%d.%d.%d" % sys.version_info[:3]); print(sys.executable)'], {
    encoding: 'utf8', env, timeout: 30_000,
  });
  if (r.status !== 0) return null;
  const [version, executable] = r.stdout.trim().split('\n');
  return { version, executable };
}

/** Finds a Python >= pins.python.min: $KILN_PYTHON, python3.13/python3.12 on PATH, then pyenv versions. */
export function findPython(pins, env = process.env) {
  const min = versionTuple(pins.python.min);
  const tried = [];
  const candidates = [];
  if (env.KILN_PYTHON) candidates.push({ label: `$KILN_PYTHON (${env.KILN_PYTHON})`, cmd: [env.KILN_PYTHON], env });
  for (const v of pins.python.pyenv ?? []) {
    candidates.push({ label: `pyenv ${v}`, cmd: ['pyenv', 'exec', 'python'], env: { ...env, PYENV_VERSION: v } });
  }
  candidates.push({ label: 'python3.13', cmd: ['python3.13'], env });
  candidates.push({ label: 'python3.12', cmd: ['python3.12'], env });
  candidates.push({ label: 'python3', cmd: ['python3'], env });
  for (const c of candidates) {
    const found = probePython(c.cmd, c.env);
    if (!found) { tried.push(`${c.label}: not usable`); continue; }
    const v = versionTuple(found.version);
    if (v && atLeast(v, min)) return { ...found, label: c.label };
    tried.push(`${c.label}: ${found.version} < ${pins.python.min}`);
  }
  return { error: `no Python >= ${pins.python.min} with venv found (${tried.join('; ')})` };
}

function stampOf(pins, name, python) {
  return { packages: pins.envs[name].packages, python: python.version.split('.').slice(0, 2).join('.') };
}

function readJson(file) {
  try { return JSON.parse(readFileSync(file, 'utf8')); } catch { return null; }
}

/** Creates or reuses one environment; returns {dir, bin, python, reused, seconds, freeze}. */
function ensureEnv(pins, name, python, base, log) {
  const dir = join(base, name);
  const stampFile = join(dir, 'kiln-pins.json');
  const bin = join(dir, 'bin', pins.envs[name].bin);
  const want = stampOf(pins, name, python);
  const have = readJson(stampFile);
  const started = Date.now();
  if (have && JSON.stringify(have) === JSON.stringify(want) && existsSync(bin)) {
    const installed = readJson(join(dir, 'kiln-install.json'));
    return { dir, bin, python: join(dir, 'bin', 'python'), reused: true, seconds: 0, installSeconds: installed?.seconds ?? null, installedAt: installed?.at ?? null };
  }
  log(`creating ${dir} (${want.packages.join(' ')}) with ${python.label} ${python.version}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  execFileSync(python.executable, ['-m', 'venv', dir], { stdio: 'inherit' });
  const pip = join(dir, 'bin', 'pip');
  // pip's output is kept and shown only when it fails (a machine's pip.conf may warn per package).
  const pipRun = spawnSync(pip, ['install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', '-q', ...want.packages], {
    encoding: 'utf8', env: { ...process.env, PIP_NO_INPUT: '1' }, maxBuffer: 64 * 1024 * 1024,
  });
  if (pipRun.status !== 0) {
    const tail = `${pipRun.stdout ?? ''}${pipRun.stderr ?? ''}`.split('\n').filter((l) => l && !l.startsWith('WARNING: Location')).slice(-20).join('\n');
    throw new Error(`pip install ${want.packages.join(' ')} exited ${pipRun.status ?? pipRun.signal}\n${tail}`);
  }
  const freeze = execFileSync(pip, ['freeze', '--disable-pip-version-check'], { encoding: 'utf8' });
  writeFileSync(join(dir, 'kiln-freeze.txt'), freeze);
  // The stamp goes last: a crash mid-install leaves no stamp, so the next run rebuilds.
  const seconds = (Date.now() - started) / 1000;
  writeFileSync(join(dir, 'kiln-install.json'), `${JSON.stringify({ seconds, at: new Date().toISOString() })}\n`);
  writeFileSync(stampFile, `${JSON.stringify(want, null, 2)}\n`);
  return { dir, bin, python: join(dir, 'bin', 'python'), reused: false, seconds, installSeconds: seconds, installedAt: new Date().toISOString() };
}

/**
 * Upstream runs the `esphome` script next to its own interpreter (helpers/sibling_cli.py
 * `find_esphome_cmd`), with no setting to change it. This environment lets upstream run with Kiln's
 * simulator instead: a pip-less venv whose site-packages points (a .pth file) at the device-builder
 * environment's, and whose `bin/esphome` is the simulator. Nothing is downloaded.
 */
function ensureSimShadow(base, deviceBuilder) {
  const dir = join(base, 'device-builder-sim');
  const sim = join(root, 'tools', 'esphome-sim', 'esphome');
  const stampFile = join(dir, 'kiln-pins.json');
  const want = { shadows: deviceBuilder.dir, esphome: sim };
  const have = readJson(stampFile);
  if (!(have && JSON.stringify(have) === JSON.stringify(want) && existsSync(join(dir, 'bin', 'esphome')))) {
    rmSync(dir, { recursive: true, force: true });
    const basePython = execFileSync(deviceBuilder.python, ['-c', 'import sys; print(sys._base_executable)'], { encoding: 'utf8' }).trim();
    execFileSync(basePython, ['-m', 'venv', '--without-pip', dir]);
    const sitePackages = execFileSync(deviceBuilder.python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
    const own = execFileSync(join(dir, 'bin', 'python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
    writeFileSync(join(own, 'kiln-device-builder.pth'), `${sitePackages}\n`);
    symlinkSync(sim, join(dir, 'bin', 'esphome'));
    writeFileSync(stampFile, `${JSON.stringify(want, null, 2)}\n`);
  }
  return { dir, bin: join(dir, 'bin', 'esphome'), python: join(dir, 'bin', 'python'), reused: true, seconds: 0, derived: true };
}

function writeStatus(base, status) {
  mkdirSync(base, { recursive: true });
  const file = join(base, 'status.json');
  writeFileSync(`${file}.tmp`, `${JSON.stringify(status, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function setup({ env = process.env, log = (s) => console.log(`python-envs: ${s}`) } = {}) {
  const started = Date.now();
  const base = venvDir(env);
  const pins = readPins();
  const python = findPython(pins, env);
  if (python.error) {
    const status = { ok: false, reason: python.error, pins, seconds: (Date.now() - started) / 1000 };
    writeStatus(base, status);
    return status;
  }
  const envs = {};
  try {
    for (const name of Object.keys(pins.envs)) envs[name] = ensureEnv(pins, name, python, base, log);
    envs['device-builder-sim'] = ensureSimShadow(base, envs['device-builder']);
  } catch (err) {
    console.error(err.message);
    const status = { ok: false, reason: `set-up failed: ${err.message.split('\n')[0]}`, pins, seconds: (Date.now() - started) / 1000 };
    writeStatus(base, status);
    return status;
  }
  const status = {
    ok: true, reason: '', pins, python: { version: python.version, executable: python.executable, found: python.label },
    envs, seconds: (Date.now() - started) / 1000,
  };
  writeStatus(base, status);
  return status;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const checkOnly = process.argv.includes('--check');
  const status = checkOnly ? (readJson(join(venvDir(), 'status.json')) ?? { ok: false, reason: 'set-up never ran (node tools/python-envs.mjs)' }) : setup();
  if (status.ok) {
    for (const [name, e] of Object.entries(status.envs)) {
      const how = e.derived ? 'derived from device-builder (no download)'
        : e.reused ? `reused${e.installSeconds != null ? ` (installed in ${e.installSeconds.toFixed(1)}s at ${e.installedAt})` : ''}`
          : `installed in ${e.seconds.toFixed(1)}s`;
      console.log(`python-envs: ${name}: ${how} (${e.dir})`);
    }
    console.log(`python-envs: ready in ${status.seconds.toFixed(1)}s (Python ${status.python.version}, ${status.pins.envs.esphome.packages.join(', ')}; ${status.pins.envs['device-builder'].packages[0]})`);
    process.exit(0);
  }
  console.log(`python-envs: NOT READY: ${status.reason}`);
  process.exit(3);
}

// Small pieces: version allowlist, pip output → phases, resolution order, toolchains folder per
// platform, update check (a real local HTTP server; an unreachable one), the launcher (real sh),
// Python discovery against real interpreters (pyenv 3.11 is too old for 2026.x).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pyenvPython } from '../../../../test/support/esphome-wheelhouse';
import { resolveEsphomeCommand } from '../../esphome/command';
import { launcherScript, writeLauncher } from '../launcher';
import { toolchainsRoot } from '../paths';
import { PipProgressParser, type InstallProgress } from '../pip-progress';
import { findPython, installAdvice } from '../python';
import { checkForUpdate } from '../update-check';
import { checkVersion, compareVersions, isEsphomeVersion, minFromRequiresPython } from '../version';
import { must } from '../../../../test/support/must';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-tc-units-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('version allowlist', () => {
  it('accepts releases and a/b/rc pre-releases only', () => {
    for (const v of ['2026.10.0', '2026.11.0b2', '2025.12.7', '1.20.4', '2026.1.0rc1']) expect(isEsphomeVersion(v), v).toBe(true);
    for (const v of ['', '1.0; rm -rf /', '../x', '2026.10.0.dev1', '2026.10.0+local', '>=1', 'v2026.1.0', ' 2026.1.0', '2026.1.0\n', '-r x', 'x'.repeat(40), 'latest']) {
      expect(isEsphomeVersion(v), JSON.stringify(v)).toBe(false);
      expect(() => checkVersion(v)).toThrow(/is not an ESPHome release version/);
    }
    expect(() => checkVersion(5)).toThrow(/not an ESPHome release version/);
  });
  it('orders like PyPI', () => {
    const sorted = ['2026.10.0', '2026.9.1', '2026.10.0b1', '2026.6', '2026.6.0rc2', '2025.12.7'].sort(compareVersions);
    expect(sorted).toEqual(['2025.12.7', '2026.6.0rc2', '2026.6', '2026.9.1', '2026.10.0b1', '2026.10.0']);
    expect(compareVersions('2026.6', '2026.6.0')).toBe(0);
    expect(minFromRequiresPython('>=3.12')).toEqual([3, 12]);
    expect(minFromRequiresPython(null)).toBeNull();
  });
});

describe('pip output → progress', () => {
  it('phases, counts and a fraction that never goes down', () => {
    const seen: InstallProgress[] = [];
    const p = new PipProgressParser((x) => seen.push(x));
    for (const l of [
      'Collecting esphome==2026.10.0',
      '  Downloading esphome-2026.10.0-py3-none-any.whl (5.1 MB)',
      'Collecting platformio==6.1.18 (from esphome==2026.10.0)',
      '\x1b[0mCollecting click>=8',
      '  Using cached click-8.1.7-py3-none-any.whl (97 kB)',
      'Processing /opt/wheels/pyyaml-6.0.whl',
      'Installing collected packages: click, pyyaml, platformio, esphome',
      'Successfully installed click-8.1.7 esphome-2026.10.0',
    ])
      p.line(l);
    expect(seen.map((s) => s.phase)).toEqual(['resolving', 'downloading', 'downloading', 'downloading', 'downloading', 'downloading', 'installing', 'installing']);
    expect(must(seen[4]).message).toBe('downloading 2 of 3 (click-8.1.7-py3-none-any.whl)');
    expect(must(seen[6]).message).toBe('installing 4 packages');
    for (let i = 1; i < seen.length; i++) expect(must(seen[i]).fraction).toBeGreaterThanOrEqual(must(seen[i - 1]).fraction);
  });
});

describe('which esphome runs', () => {
  it('explicit flag > env > the user\'s setting > the managed default > esphome on the PATH', () => {
    const managed = ['/tc/2026.10.0/bin/python', '-m', 'esphome'];
    expect(resolveEsphomeCommand({ flag: 'a', env: 'b', setting: ['c'], managed })).toEqual(['a']);
    expect(resolveEsphomeCommand({ env: 'b', setting: ['c'], managed })).toEqual(['b']);
    expect(resolveEsphomeCommand({ setting: ['c'], managed })).toEqual(['c']);
    expect(resolveEsphomeCommand({ setting: [], managed })).toEqual(managed);
    expect(resolveEsphomeCommand({ flag: ' ', setting: [], managed: null })).toEqual(['esphome']);
  });
  it('the toolchains folder per platform; KILN_TOOLCHAINS overrides', () => {
    expect(toolchainsRoot({ platform: 'linux', env: {}, home: '/home/u' })).toBe('/home/u/.local/share/kiln/toolchains');
    expect(toolchainsRoot({ platform: 'linux', env: { XDG_DATA_HOME: '/x' }, home: '/home/u' })).toBe('/x/kiln/toolchains');
    expect(toolchainsRoot({ platform: 'darwin', env: {}, home: '/Users/u' })).toBe('/Users/u/Library/Application Support/Kiln/toolchains');
    expect(toolchainsRoot({ platform: 'win32', env: { LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, home: 'C:\\Users\\u' })).toMatch(/AppData.Local.Kiln.toolchains$/);
    expect(toolchainsRoot({ platform: 'linux', env: { KILN_TOOLCHAINS: '/tmp/tc' }, home: '/home/u' })).toBe('/tmp/tc');
  });
  it('the launcher runs the chosen command, or the toolchain a build names; quotes survive', async () => {
    const dir = join(tmp, 'launch');
    mkdirSync(dir);
    const fake = join(dir, "fake esphome 'q'");
    writeFileSync(fake, '#!/bin/sh\necho "base:$*"\n');
    chmodSync(fake, 0o755);
    const fakePy = join(dir, 'py');
    writeFileSync(fakePy, '#!/bin/sh\necho "toolchain:$*"\n');
    chmodSync(fakePy, 0o755);
    const launcher = must((await writeLauncher(dir, [fake, '--x']))[0]);
    expect(execFileSync(launcher, ['compile', 'a b.yaml'], { encoding: 'utf8', env: { PATH: process.env.PATH } })).toBe('base:--x compile a b.yaml\n');
    expect(execFileSync(launcher, ['compile'], { encoding: 'utf8', env: { PATH: process.env.PATH, KILN_TOOLCHAIN_PYTHON: fakePy } })).toBe('toolchain:-m esphome compile\n');
    await writeLauncher(dir, ['kiln-no-such-esphome']);
    let err = '';
    try {
      execFileSync(launcher, ['version'], { encoding: 'utf8', stdio: 'pipe', env: { PATH: process.env.PATH } });
    } catch (e) {
      err = String((e as { stderr: string }).stderr);
      expect((e as { status: number }).status).toBe(127);
    }
    expect(err).toMatch(/esphome command not found: 'kiln-no-such-esphome'\. Install ESPHome/);
    expect(launcherScript([])).toMatch(/no esphome command is set/);
  });
});

describe('update check', () => {
  it('reads the newest release from a PyPI-style JSON API', async () => {
    const server = createServer((_req, res) => res.end(JSON.stringify({ info: { version: '2026.11.1' } })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/pypi/esphome/json`;
    try {
      expect(await checkForUpdate('2026.10.0', { url })).toMatchObject({ status: 'ok', latest: '2026.11.1', newer: true });
      expect(await checkForUpdate('2026.11.1', { url })).toMatchObject({ status: 'ok', newer: false });
    } finally {
      server.close();
    }
  });
  it('offline, refused or garbage → "could not check", never an error', async () => {
    const closed = await checkForUpdate('2026.10.0', { url: 'http://127.0.0.1:1/pypi/esphome/json', timeoutMs: 3000 });
    expect(closed).toMatchObject({ status: 'unknown', current: '2026.10.0' });
    expect((closed as { reason: string }).reason).toMatch(/^could not check: /);
    const nxdomain = await checkForUpdate(null, { url: 'http://kiln-no-such-host.invalid/json', timeoutMs: 3000 });
    expect(nxdomain.status).toBe('unknown');
    const server = createServer((_req, res) => res.end('{"info":{"version":"1.0; rm -rf /"}}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const bad = await checkForUpdate(null, { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` });
      expect(bad).toMatchObject({ status: 'unknown', reason: 'could not check: the package index gave no usable version' });
    } finally {
      server.close();
    }
  });
});

describe.skipIf(!pyenvPython('3.11') || !pyenvPython('3.12'))('Python discovery (real interpreters)', () => {
  it('skips a too-old Python on the PATH and finds a pyenv one new enough', async () => {
    const bin = join(tmp, 'pathbin');
    mkdirSync(bin);
    // python3 on this PATH is 3.11 (too old for ESPHome 2026.x).
    execFileSync('ln', ['-s', pyenvPython('3.11')!, join(bin, 'python3')]);
    const p = await findPython({ min: [3, 12], env: { PATH: bin, HOME: process.env.HOME } });
    expect(p.version).toMatch(/^3\.1[23]\./);
    expect(p.source).toMatch(/^pyenv /);
  });
  it('nothing suitable → says what was found and what to install on this OS', async () => {
    const bin = join(tmp, 'oldonly');
    mkdirSync(bin);
    execFileSync('ln', ['-s', pyenvPython('3.11')!, join(bin, 'python3')]);
    const err = await findPython({ min: [3, 12], env: { PATH: bin, PYENV_ROOT: join(tmp, 'no-pyenv'), HOME: tmp }, purpose: 'ESPHome 2026.10.0' }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/ESPHome 2026\.10\.0 needs Python 3\.12 or newer with venv and ensurepip\. Found: .*python3 is Python 3\.11\.\d+ \(too old\)\. Install it with your package manager, e\.g\. on Debian\/Ubuntu: sudo apt install python3\.12 python3\.12-venv/);
    expect(installAdvice('win32', '3.12')).toMatch(/winget install Python\.Python\.3\.12/);
    expect(installAdvice('darwin', '3.12')).toMatch(/brew install python@3\.12/);
  });
  it('an explicit Python that is too old is refused', async () => {
    const err = await findPython({ explicit: pyenvPython('3.11')!, min: [3, 12], purpose: 'ESPHome 2026.10.0' }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/Python 3\.11\.\d+ .* is too old for ESPHome 2026\.10\.0: it needs Python 3\.12 or newer/);
    const missing = await findPython({ explicit: join(tmp, 'nope'), min: [3, 12] }).catch((e: Error) => e);
    expect((missing as Error).message).toMatch(/was not found/);
  });
});

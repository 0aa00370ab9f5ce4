// Packaging and launch tooling: electron-builder config (ids, targets, files, fuses gating),
// the Electron binary finder (never requires the package), `npm start` without a binary, and the
// archive listing pack:check does with @electron/asar.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Configuration } from 'electron-builder';
import { findElectron } from '../../../tools/electron-bin.mjs';
import { APP_ID } from '../constants';

const ROOT = resolve(__dirname, '..', '..', '..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-tooling-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

async function loadConfig(env: Record<string, string | undefined>): Promise<Configuration> {
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  vi.resetModules();
  return (await import('../../../electron.config')).default;
}

describe('electron.config.ts', () => {
  it('has the app id the shell uses as AppUserModelId, product name, targets and icons', async () => {
    const c = await loadConfig({ KILN_ELECTRON_DIST: undefined, KILN_FUSES: undefined });
    expect(c.appId).toBe(APP_ID);
    expect(c.productName).toBe('Kiln');
    expect(c.asar).toBe(true);
    expect(c.linux?.target).toEqual(['AppImage', 'deb']);
    expect(c.mac?.target).toEqual(['dmg']);
    expect(c.win?.target).toEqual(['nsis']);
    expect(c.linux?.icon).toBe('assets/icons');
    expect(c.mac?.icon).toBe('assets/icon.icns');
    expect(c.win?.icon).toBe('assets/icon.ico');
    expect(c.files).toEqual(expect.arrayContaining(['out/main/**', 'out/preload/**', 'out/renderer/**', 'package.json', '!**/*.map']));
  });

  it('flips the security fuses for real builds, not with a stub dist, inspect only for the e2e flavour', async () => {
    const real = await loadConfig({ KILN_ELECTRON_DIST: undefined, KILN_FUSES: undefined, KILN_E2E_INSPECT: undefined });
    expect(real.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
    const stub = await loadConfig({ KILN_ELECTRON_DIST: '/tmp/stub', KILN_FUSES: undefined });
    expect(stub.electronFuses).toBeNull();
    expect(stub.electronDist).toBe('/tmp/stub');
    const forced = await loadConfig({ KILN_ELECTRON_DIST: '/tmp/stub', KILN_FUSES: '1', KILN_E2E_INSPECT: '1' });
    expect(forced.electronFuses?.enableNodeCliInspectArguments).toBe(true);
    expect(forced.electronFuses?.runAsNode).toBe(false);
  });
});

describe('packaging metadata and associations (issue 17 defects 2–4, 11)', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    homepage?: string;
    author?: { name?: string; email?: string };
    license?: string;
    desktopName?: string;
    scripts: Record<string, string>;
  };

  it('package.json has what the deb target requires (homepage, author with email, license) and desktopName', () => {
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.author?.name).toBeTruthy();
    expect(pkg.author?.email).toMatch(/^[^@\s]+@[^@\s]+$/);
    expect(pkg.license).toBeTruthy();
    expect(pkg.desktopName).toBe(`${APP_ID}.desktop`);
  });

  it('`npm run dist` builds first (a fresh checkout has no out/, an old one a stale out/)', () => {
    expect(pkg.scripts.dist).toMatch(/^npm run build && electron-builder --config electron.config.ts /);
  });

  it('deb.depends extends electron-builder\'s own defaults (read from its source), never replaces them', async () => {
    const src = readFileSync(join(ROOT, 'node_modules', 'app-builder-lib', 'out', 'targets', 'FpmTarget.js'), 'utf8');
    const m = /case "deb":\s*return (\[[^\]]*\])/.exec(src);
    expect(m).not.toBeNull();
    const defaults = JSON.parse(m![1]!) as string[];
    expect(defaults).toEqual(expect.arrayContaining(['libgtk-3-0', 'libxtst6', 'libatspi2.0-0', 'libuuid1']));
    const c = await loadConfig({});
    expect(c.deb?.depends).toEqual(expect.arrayContaining(defaults));
  });

  it('YAML "Open with": Linux lists the existing media types (no new type), macOS ranks Kiln Alternate, Windows registers none', async () => {
    const c = await loadConfig({});
    expect(c.linux?.mimeTypes).toEqual(expect.arrayContaining(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']));
    expect(c.linux?.syncDesktopName).toBe(true);
    expect(c.fileAssociations).toBeUndefined(); // top level would reach NSIS (default handler) and define mime types
    expect(c.linux?.fileAssociations).toBeUndefined();
    expect(c.win?.fileAssociations).toBeUndefined();
    expect(c.mac?.fileAssociations).toEqual([expect.objectContaining({ ext: ['yaml', 'yml'], rank: 'Alternate' })]);
  });

  it('the desktop renderer is minified like the web build', async () => {
    const mod = (await import('../../../electron.vite.config')).default as unknown as (env: { command: string; mode: string }) => Promise<{ renderer?: { build?: { minify?: unknown } } }>;
    const cfg = await mod({ command: 'build', mode: 'production' });
    expect(cfg.renderer?.build?.minify).toBe(true);
  });
});

describe('Electron binary detection', () => {
  it('says why there is no binary (package missing, no path.txt, dist missing) without requiring the electron package', () => {
    // A project folder of the test's own: the result must not depend on this machine's install.
    const project = join(dir, 'project');
    expect(findElectron({}, project)).toEqual({ bin: null, reason: 'the electron npm package is not installed' });
    const pkg = join(project, 'node_modules', 'electron');
    mkdirSync(pkg, { recursive: true });
    expect(findElectron({}, project).reason).toMatch(/path\.txt is missing/);
    writeFileSync(join(pkg, 'path.txt'), 'electron');
    expect(findElectron({}, project)).toEqual({ bin: null, reason: 'node_modules/electron/dist/electron does not exist' });
    mkdirSync(join(pkg, 'dist'));
    writeFileSync(join(pkg, 'dist', 'electron'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(pkg, 'dist', 'electron'), 0o755);
    expect(findElectron({}, project)).toEqual({ bin: join(pkg, 'dist', 'electron'), reason: 'node_modules/electron/dist' });
    findElectron({});
    expect(require.cache[require.resolve('electron')]).toBeUndefined();
  });

  it('honours KILN_ELECTRON_BIN and ELECTRON_OVERRIDE_DIST_PATH when they hold an executable', () => {
    const dist = join(dir, 'dist');
    mkdirSync(dist, { recursive: true });
    const bin = join(dist, 'electron');
    writeFileSync(bin, '#!/bin/sh\nexit 0\n');
    chmodSync(bin, 0o755);
    expect(findElectron({ KILN_ELECTRON_BIN: bin })).toEqual({ bin, reason: 'KILN_ELECTRON_BIN' });
    expect(findElectron({ ELECTRON_OVERRIDE_DIST_PATH: dist })).toEqual({ bin, reason: 'ELECTRON_OVERRIDE_DIST_PATH' });
    expect(findElectron({ KILN_ELECTRON_BIN: join(dist, 'missing') }).bin).toBeNull();
    writeFileSync(join(dir, 'not-exec'), 'x');
    expect(findElectron({ KILN_ELECTRON_BIN: join(dir, 'not-exec') }).bin).toBeNull();
  });

  it('`npm start` without a binary says so plainly, points at npm run serve and exits non-zero', () => {
    // KILN_ELECTRON_BIN naming a missing file is "no binary" on any machine, with or without Electron.
    const env = { PATH: process.env.PATH, KILN_ELECTRON_BIN: join(dir, 'no-such-electron') };
    const res = spawnSync(process.execPath, [join(ROOT, 'tools', 'start-desktop.mjs')], { cwd: ROOT, encoding: 'utf8', env });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('no Electron binary is available on this machine');
    expect(res.stderr).toContain('npm run serve');
  });

  it('`npm start` with a binary launches it on the project (stub binary records its argv)', () => {
    const out = join(dir, 'argv.txt');
    const bin = join(dir, 'fake-electron.sh');
    writeFileSync(bin, `#!/bin/sh\necho "$@" > ${out}\nexit 0\n`);
    chmodSync(bin, 0o755);
    mkdirSync(join(dir, 'marker'), { recursive: true });
    const res = spawnSync(process.execPath, [join(ROOT, 'tools', 'start-desktop.mjs'), 'kitchen.yaml'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, KILN_ELECTRON_BIN: bin, KILN_SKIP_BUILD: '1' },
    });
    expect(res.status).toBe(0);
    expect(res.stdout).toContain(`starting ${bin}`);
    expect(spawnSync('cat', [out], { encoding: 'utf8' }).stdout.trim()).toBe(`${ROOT} kitchen.yaml`);
  });
});

describe('pack:check reads the archive with @electron/asar', () => {
  it('lists what was packed and reads a packed file back', async () => {
    const src = join(dir, 'app');
    mkdirSync(join(src, 'out', 'main'), { recursive: true });
    writeFileSync(join(src, 'package.json'), '{"main":"out/main/index.js"}');
    writeFileSync(join(src, 'out', 'main', 'index.js'), 'console.log(1)');
    const asarFile = join(dir, 'app.asar');
    const asar = await import('@electron/asar');
    await asar.createPackage(src, asarFile);
    // @ts-expect-error plain JS tool without types
    const { listAsar, readAsarFile } = await import('../../../tools/pack-check.mjs');
    const entries = (await listAsar(asarFile)) as string[];
    expect(entries.sort()).toEqual(['/out/', '/out/main/', '/out/main/index.js', '/package.json']);
    expect(((await readAsarFile(asarFile, '/package.json')) as Buffer).toString()).toBe('{"main":"out/main/index.js"}');
    expect(await readAsarFile(asarFile, '/out/main')).toBeNull();
    expect(await readAsarFile(asarFile, '/missing.js')).toBeNull();
  });
});

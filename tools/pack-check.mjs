#!/usr/bin/env node
// `npm run pack:check`: offline packaging smoke test (electron.md §9). No Electron binary can be
// downloaded here, so electron-builder is pointed at a STUB unpacked Electron distribution
// generated in a temp folder at run time (never committed): `--dir` then copies it, renames the
// binary and writes resources/app.asar — the real packaging step — and exits 0. The result does
// not run; this checks what goes INTO the app:
//   - out/main, out/preload (one .cjs), out/renderer (index.html) and package.json are packed;
//   - no test files, test folders, fake electron, source maps or TypeScript sources are;
//   - the packed package.json points at the packed main entry.
// Builds first (`npx electron-vite build`) when out/ is missing or --build is given.
// Options: --build (always rebuild), --keep (keep the temp dir and print its path).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const log = (msg) => console.log(`[pack:check] ${msg}`);
const failures = [];
const check = (ok, what) => {
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

function run(cmd, argv, env = {}) {
  log(`$ ${cmd} ${argv.join(' ')}`);
  const res = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (res.status !== 0) {
    console.error(`[pack:check] FAILED: ${cmd} ${argv.join(' ')} exited with ${res.status ?? res.signal}`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------
// The archive is read with @electron/asar (the library electron-builder packs with), not a reader
// of our own. It declares Node >= 22 but loads and reads archives on Node 20 (tooling.test.ts
// checks that on every run).

/** Every entry of the archive, '/'-rooted, folders with a trailing '/'. */
export async function listAsar(asarFile) {
  const asar = await import('@electron/asar');
  return asar.listPackage(asarFile, { isPack: false }).map((p) => {
    const entry = p.replaceAll('\\', '/');
    return asar.statFile(asarFile, entry.slice(1), false)?.files ? `${entry}/` : entry;
  });
}

/** One packed file's bytes, or null when it is missing, a folder or unpacked. */
export async function readAsarFile(asarFile, path) {
  const asar = await import('@electron/asar');
  try {
    const st = asar.statFile(asarFile, path.replace(/^\//, ''), false);
    if (!st || 'files' in st || st.unpacked) return null;
    return asar.extractFile(asarFile, path.replace(/^\//, ''));
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const expected = ['out/main/index.js', 'out/preload/index.cjs'];
  if (existsSync(join(root, 'renderer/index.html'))) expected.push('out/renderer/index.html');
  const mustBuild = args.has('--build') || !expected.every((p) => existsSync(join(root, p)));
  if (mustBuild) run('npx', ['electron-vite', 'build']);
  else log('using the existing out/ (pass --build to rebuild)');
  if (!existsSync(join(root, 'out/renderer/index.html'))) {
    log('WARNING: out/renderer/index.html is missing — the renderer has not been built (renderer/index.html absent?)');
  }

  const tmp = mkdtempSync(join(tmpdir(), 'kiln-pack-check-'));
  try {
    // A stub "unpacked Electron distribution": electron-builder only needs the executable to be
    // present (it copies the folder and renames `electron` to the product's executable name).
    const dist = join(tmp, 'electron-dist');
    mkdirSync(join(dist, 'resources'), { recursive: true });
    writeFileSync(join(dist, 'electron'), '#!/bin/sh\necho "stub Electron distribution (kiln pack:check): not runnable" >&2\nexit 1\n');
    chmodSync(join(dist, 'electron'), 0o755);
    writeFileSync(join(dist, 'version'), '45.5.0');
    writeFileSync(join(dist, 'LICENSE'), 'stub');
    const output = join(tmp, 'release');
    run(
      'npx',
      ['electron-builder', '--config', 'electron.config.ts', '--linux', '--x64', '--dir', '--publish', 'never', `-c.directories.output=${output}`],
      { KILN_ELECTRON_DIST: dist, KILN_FUSES: '0', ELECTRON_BUILDER_OFFLINE: '1', CSC_IDENTITY_AUTO_DISCOVERY: 'false' },
    );

    const unpacked = join(output, 'linux-unpacked');
    const asarFile = join(unpacked, 'resources', 'app.asar');
    console.log('\n[pack:check] checks:');
    check(existsSync(asarFile), `release/linux-unpacked/resources/app.asar exists`);
    if (!existsSync(asarFile)) throw new Error('no app.asar produced');
    check(existsSync(join(unpacked, 'kiln')), 'the Electron executable was renamed to "kiln" (linux.executableName)');
    const entries = await listAsar(asarFile);
    const files = entries.filter((e) => !e.endsWith('/'));
    log(`app.asar: ${statSync(asarFile).size} bytes, ${files.length} files`);
    const appFiles = files.filter((f) => !f.startsWith('/node_modules/'));
    console.log(`  app files (excluding node_modules):\n${appFiles.map((f) => `    ${f}`).join('\n')}`);

    check(files.includes('/package.json'), 'package.json is packed');
    check(files.includes('/out/main/index.js'), 'out/main/index.js (main bundle) is packed');
    check(files.some((f) => f.startsWith('/out/main/tray/') && f.endsWith('.png')), 'tray icons are packed (out/main/tray/*.png)');
    check(files.includes('/out/main/sha256-worker.cjs'), 'the hashing worker is packed next to the main bundle (out/main/sha256-worker.cjs)');
    check(files.includes('/out/preload/index.cjs'), 'out/preload/index.cjs (sandboxed preload, one CJS file) is packed');
    check(files.filter((f) => f.startsWith('/out/preload/')).length === 1, 'the preload is exactly one file');
    check(files.includes('/out/renderer/index.html'), 'out/renderer/index.html (renderer) is packed');
    check(files.some((f) => f.startsWith('/out/renderer/') && f.endsWith('.js')), 'renderer JavaScript is packed');
    const tests = files.filter((f) => /\.(test|spec)\.[cm]?[jt]sx?$/.test(f) || /\/(test|tests|__tests__|e2e)\//.test(f) || /fake-electron/.test(f));
    check(tests.length === 0, `no test files or test folders${tests.length ? `: ${tests.slice(0, 5).join(', ')}` : ''}`);
    const maps = files.filter((f) => f.endsWith('.map'));
    check(maps.length === 0, `no source maps${maps.length ? `: ${maps.slice(0, 5).join(', ')}` : ''}`);
    const sources = appFiles.filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.d.ts'));
    check(sources.length === 0, `no TypeScript sources${sources.length ? `: ${sources.slice(0, 5).join(', ')}` : ''}`);
    check(!files.some((f) => f.startsWith('/out/node/')), 'the plain-Node CLI bundle (out/node) is not packed');
    check(!files.some((f) => f.startsWith('/node_modules/electron/')), 'the electron npm package is not packed');
    const pkg = JSON.parse((await readAsarFile(asarFile, '/package.json'))?.toString('utf8') ?? '{}');
    check(pkg.main === 'out/main/index.js' && files.includes(`/${pkg.main}`), `packed package.json "main" (${pkg.main}) is inside the archive`);
    const mainJs = (await readAsarFile(asarFile, '/out/main/index.js'))?.toString('utf8') ?? '';
    const bare = [...mainJs.matchAll(/^import\s[^'"]*?from\s*["']([^"'.][^"']*)["']|\bimport\(\s*["']([^"'.][^"']*)["']\s*\)/gm)]
      .map((m) => m[1] ?? m[2])
      .filter((spec) => !spec.startsWith('node:') && spec !== 'electron');
    const pkgsNeeded = [...new Set(bare.map((spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0])))];
    const missing = pkgsNeeded.filter((name) => !files.includes(`/node_modules/${name}/package.json`));
    check(missing.length === 0, `every package the main bundle imports is packed (${pkgsNeeded.join(', ') || 'none'})${missing.length ? ` — missing: ${missing.join(', ')}` : ''}`);
    const excluded = ['react', 'react-dom', 'zustand'].filter((name) => files.includes(`/node_modules/${name}/package.json`));
    check(excluded.length === 0, `renderer-only libraries are not packed (bundled into out/renderer)${excluded.length ? `: ${excluded.join(', ')}` : ''}`);
    const preload = (await readAsarFile(asarFile, '/out/preload/index.cjs'))?.toString('utf8') ?? '';
    check(/require\(["']electron["']\)/.test(preload) && !/^\s*import\s/m.test(preload), 'the preload is CommonJS (require("electron"), no ESM import)');
    check(!/ipcRenderer\s*[,}]/.test(preload.match(/exposeInMainWorld\([^;]*\)/s)?.[0] ?? ''), 'the preload does not expose ipcRenderer');

    console.log('');
    if (failures.length) {
      console.error(`[pack:check] FAILED ${failures.length} check(s): ${failures.join('; ')}`);
      process.exitCode = 1;
    } else {
      log(`PASSED in ${((Date.now() - started) / 1000).toFixed(1)} s (stub Electron dist; the packed app is not runnable here)`);
    }
  } finally {
    if (args.has('--keep')) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`[pack:check] FAILED: ${err.stack ?? err}`);
    process.exit(1);
  });
}

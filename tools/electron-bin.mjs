// Finds a runnable Electron binary WITHOUT requiring the `electron` package (its index.js tries
// to download one from GitHub when none is installed, which fails on these machines).
// Order: KILN_ELECTRON_BIN (an executable), ELECTRON_OVERRIDE_DIST_PATH (+ path.txt name, the hook
// electron/index.js itself honours), node_modules/electron/path.txt + dist/.
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function executable(p) {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `pkgRoot` is the project whose node_modules/electron is looked at (tests point it at a folder
 * of their own, so they do not depend on whether this machine has a binary).
 * @returns {{ bin: string | null, reason: string }}
 */
export function findElectron(env = process.env, pkgRoot = root) {
  if (env.KILN_ELECTRON_BIN) {
    return executable(env.KILN_ELECTRON_BIN)
      ? { bin: env.KILN_ELECTRON_BIN, reason: 'KILN_ELECTRON_BIN' }
      : { bin: null, reason: `KILN_ELECTRON_BIN=${env.KILN_ELECTRON_BIN} is not an executable file` };
  }
  const pkgDir = join(pkgRoot, 'node_modules', 'electron');
  const pathTxt = join(pkgDir, 'path.txt');
  const name = existsSync(pathTxt) ? readFileSync(pathTxt, 'utf8').trim() : '';
  if (env.ELECTRON_OVERRIDE_DIST_PATH) {
    const p = join(env.ELECTRON_OVERRIDE_DIST_PATH, name || 'electron');
    return executable(p) ? { bin: p, reason: 'ELECTRON_OVERRIDE_DIST_PATH' } : { bin: null, reason: `ELECTRON_OVERRIDE_DIST_PATH has no executable ${p}` };
  }
  if (!existsSync(pkgDir)) return { bin: null, reason: 'the electron npm package is not installed' };
  if (!name) return { bin: null, reason: 'node_modules/electron/path.txt is missing: the electron package ships no binary and none was downloaded (no GitHub access here)' };
  const p = join(pkgDir, 'dist', name);
  return executable(p) ? { bin: p, reason: 'node_modules/electron/dist' } : { bin: null, reason: `node_modules/electron/dist/${name} does not exist` };
}

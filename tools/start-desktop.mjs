#!/usr/bin/env node
// `npm start`: run the desktop app when an Electron binary exists; otherwise say so plainly and
// point at the browser mode (`npm run serve`), which runs the same backend and UI in plain Node.
// Builds out/ first when it is missing (or with --build; KILN_SKIP_BUILD=1 never builds).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findElectron } from './electron-bin.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { bin, reason } = findElectron();
if (!bin) {
  console.error(
    [
      'kiln: no Electron binary is available on this machine, so the desktop app cannot start.',
      `      (${reason})`,
      '      Use the browser mode instead — same backend, same UI:',
      '        npm run serve',
      '      To run the desktop app, install Electron 45.5.0 where GitHub is reachable',
      '      (npx install-electron), or set ELECTRON_OVERRIDE_DIST_PATH / KILN_ELECTRON_BIN.',
    ].join('\n'),
  );
  process.exit(1);
}
const built = ['out/main/index.js', 'out/preload/index.cjs', 'out/renderer/index.html'].every((p) => existsSync(join(root, p)));
if ((!built || process.argv.includes('--build')) && process.env.KILN_SKIP_BUILD !== '1') {
  const res = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
}
console.log(`kiln: starting ${bin} (${reason})`);
const child = spawn(bin, [root, ...process.argv.slice(2).filter((a) => a !== '--build')], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

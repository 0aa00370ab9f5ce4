#!/usr/bin/env node
// Bundles the plain-Node entry points (the `kiln` CLI: build, receiver, serve, pair) into
// out/node/ with esbuild. Runs from `npm ci` (via `prepare`) so `npx kiln` works on a fresh clone.
// npm packages stay external: they are installed next to it.
import { build } from 'esbuild';
import { copyFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
await build({
  absWorkingDir: root,
  entryPoints: { kiln: 'main/headless/cli/kiln.ts' },
  outdir: 'out/node',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
// The hashing worker offthread-sha256.ts loads from next to the bundle (a plain file, not eval'd).
copyFileSync(resolve(root, 'main/core/peer-link/sha256-worker.cjs'), resolve(root, 'out/node/sha256-worker.cjs'));
// So does the process spawner (process-spawner.ts forks it; without it processes start directly).
copyFileSync(resolve(root, 'main/core/esphome/process-spawner.cjs'), resolve(root, 'out/node/process-spawner.cjs'));
console.log(`built out/node/kiln.mjs in ${Date.now() - started} ms`);

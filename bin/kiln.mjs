#!/usr/bin/env node
// `kiln` command. Uses the bundle built by `npm ci` (prepare → tools/build-node.mjs); falls back
// to running the TypeScript sources through tsx when no bundle exists (or KILN_FROM_SOURCE=1).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bundled = resolve(root, 'out/node/kiln.mjs');
if (existsSync(bundled) && process.env.KILN_FROM_SOURCE !== '1') {
  await import(pathToFileURL(bundled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(resolve(root, 'main/headless/cli/kiln.ts')).href);
}

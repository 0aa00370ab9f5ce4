#!/usr/bin/env node
// Layering lint: nothing reachable from main/core, main/headless or renderer may import
// `electron` (no Electron binary exists on build/CI machines, and the headless server must run
// in plain Node). Follows relative imports transitively, so an indirect import is caught too.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GUARDED = ['main/core', 'main/headless', 'renderer/src', 'preload/contract.ts'];
const SOURCE = /\.(m?[jt]sx?|cjs)$/;
const IMPORT_RE = /(?:^|[^\w$.])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w$.])import\s*['"]([^'"]+)['"]|(?:^|[^\w$.])(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/gm;

export function importsOf(file) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out = [];
  for (const m of text.matchAll(IMPORT_RE)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function resolveRelative(from, spec) {
  const base = resolve(dirname(from), spec);
  const candidates = [base, `${base}.ts`, `${base}.tsx`, `${base}.mjs`, `${base}.js`, join(base, 'index.ts'), join(base, 'index.tsx')];
  if (/\.js$/.test(base)) candidates.push(base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx'));
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

function walk(dir, acc = []) {
  if (!existsSync(dir)) return acc;
  if (statSync(dir).isFile()) {
    if (SOURCE.test(dir)) acc.push(dir);
    return acc;
  }
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    walk(join(dir, name), acc);
  }
  return acc;
}

export function findElectronImports(entries = GUARDED.map((g) => join(root, g))) {
  const violations = [];
  const seen = new Set();
  const stack = entries.flatMap((e) => walk(e)).map((f) => ({ file: f, chain: [f] }));
  while (stack.length) {
    const { file, chain } = stack.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec === 'electron' || spec.startsWith('electron/')) {
        violations.push(chain.map((f) => relative(root, f)).join(' -> ') + ` imports '${spec}'`);
      } else if (spec.startsWith('.')) {
        const target = resolveRelative(file, spec);
        if (target) stack.push({ file: target, chain: [...chain, target] });
      }
    }
  }
  return { violations, scanned: seen.size };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { violations, scanned } = findElectronImports();
  if (violations.length) {
    console.error('Layering violation: these paths reach `electron`, which must stay in main/electron:');
    for (const v of violations) console.error(`  ${v}`);
    process.exit(1);
  }
  console.log(`layers ok: ${scanned} files reachable from ${GUARDED.join(', ')} never import electron`);
}

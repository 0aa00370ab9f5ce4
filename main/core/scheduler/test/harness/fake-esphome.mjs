#!/usr/bin/env node
// A tiny stand-in for the esphome CLI used by the remote-runner tests: only `bundle`, `upload`
// and a trivial `compile`, steered by directives in the YAML itself so each test controls its own case:
//   # fake-bundle: fail | sleep
//   # fake-upload-exit: <n>
//   # fake-upload-sleep-ms: <n>
//   # fake-compile-sleep-ms: <n>
// `upload` refuses to run unless the remote artifacts were staged where esphome looks for them
// (<config dir>/.esphome/storage/<yaml>.json → firmware_bin_path), so a passing install test
// proves the staging happened.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const args = process.argv.slice(2).filter((a) => a !== '--dashboard');
const [cmd, yaml] = args;
const directive = (name) => {
  if (!yaml || !existsSync(yaml)) return undefined;
  const m = new RegExp(`^#\\s*${name}:\\s*(\\S+)`, 'm').exec(readFileSync(yaml, 'utf8'));
  return m ? m[1] : undefined;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (process.env.FAKE_ESPHOME_PIDFILE) writeFileSync(process.env.FAKE_ESPHOME_PIDFILE, `${process.pid}\n`);

if (cmd === 'bundle') {
  const out = args[args.indexOf('-o') + 1];
  if (!existsSync(yaml)) {
    console.log(`ERROR Bundle file not found: ${yaml}`);
    process.exit(1);
  }
  const mode = directive('fake-bundle');
  if (mode === 'fail') {
    console.log('INFO Reading configuration ' + yaml + '...');
    console.log("ERROR Error while reading config: Invalid YAML syntax: fake-bundle says no");
    process.exit(1);
  }
  if (mode === 'sleep') await sleep(30_000);
  mkdirSync(dirname(out), { recursive: true });
  // Not a real tar: the scripted servers only hash it. Deterministic for the "exact bytes" check.
  writeFileSync(out, gzipSync(Buffer.from(`bundle of ${basename(yaml)}\n${readFileSync(yaml, 'utf8')}`), { level: 1, mtime: 0 }));
  console.log(`INFO Bundle created: ${out} (1 files, 0.1 KB)`);
  process.exit(0);
}

if (cmd === 'upload') {
  const storage = join(dirname(yaml), '.esphome', 'storage', `${basename(yaml)}.json`);
  if (!existsSync(storage)) {
    console.log(`ERROR No firmware staged: ${storage} missing`);
    process.exit(2);
  }
  const fw = JSON.parse(readFileSync(storage, 'utf8')).firmware_bin_path;
  if (!fw || !existsSync(fw)) {
    console.log(`ERROR firmware image missing: ${fw}`);
    process.exit(2);
  }
  const device = args.includes('--device') ? args[args.indexOf('--device') + 1] : '(auto)';
  console.log(`INFO Uploading ${fw} (${readFileSync(fw).length} bytes) to ${device}`);
  const sleepMs = Number(directive('fake-upload-sleep-ms') ?? 0);
  for (const pct of [10, 50, 100]) {
    process.stderr.write(`\rUploading: [${'='.repeat(pct / 10)}${' '.repeat(10 - pct / 10)}] ${pct}% `);
    if (sleepMs) await sleep(sleepMs / 3);
  }
  process.stderr.write('Done...\n');
  const exit = Number(directive('fake-upload-exit') ?? 0);
  if (exit !== 0) {
    console.log('ERROR Upload failed (fake)');
    process.exit(exit);
  }
  console.log('INFO Successfully uploaded program.');
  process.exit(0);
}

if (cmd === 'compile') {
  const sleepMs = Number(directive('fake-compile-sleep-ms') ?? 0);
  console.log(`INFO Reading configuration ${yaml}...`);
  console.log('Compiling .pioenvs/local/src/main.cpp.o (locally)');
  if (sleepMs) await sleep(sleepMs);
  console.log('INFO Successfully compiled program.');
  process.exit(0);
}

console.log(`fake esphome: unsupported command ${cmd}`);
process.exit(64);

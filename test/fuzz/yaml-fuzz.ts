// Fuzzer for YAML import (importYaml: name + content checks, size and nesting bounds, the YAML
// parse and the ESPHome shape check, the write). Inputs are mutations of the real example
// configurations plus structural hostiles (aliases, nesting, tags, control bytes, huge scalars).
// A crash is anything but a clean ApiError refusal or a success: another exception type, a
// refusal that left a file behind, or one import holding the event loop over the time bound.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '../../main/core/errors';
import { importYaml } from '../../main/core/api/configurations';
import { Rng } from './prng';
import { nastyString } from './values';

export interface YamlFuzzOptions {
  seed: number;
  count: number;
  configDir: string;
  /** Examples to mutate (default: tools/esphome-sim/examples). */
  corpusDir: string;
  /** One import longer than this counts as a failure (ms). */
  maxMs?: number;
  log?: (line: string) => void;
}

export interface YamlFuzzStats {
  seed: number;
  inputs: number;
  accepted: number;
  refused: number;
  crashes: number;
  slow: number;
  maxMs: number;
  /** Input index of the slowest import. */
  maxAt: number;
  totalMs: number;
  firstFailure: string | null;
  reasons: Record<string, number>;
}

const TOKENS = ['[', ']', '{', '}', '&a ', '*a', '!secret x', '!include ../../x', '!lambda |-', '|', '>', '- ', ': ', '? ', '---\n', '...\n', '%YAML 1.2\n', '<<: *a\n', '"', "'", '#', '\t', '\n', '\r\n', '\0', '\x1b[2J', '\ufeff', '${name}', '!!python/object:os.system', '!!binary', '@', '`'];

function mutate(r: Rng, base: string): string {
  let s = base;
  for (let m = 1 + r.int(6); m > 0; m--) {
    const at = r.int(s.length + 1);
    switch (r.int(7)) {
      case 0:
        s = s.slice(0, at) + r.pick(TOKENS) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + r.int(20));
        break;
      case 2:
        s = s.slice(0, at) + nastyString(r) + s.slice(at);
        break;
      case 3:
        s = s.slice(0, at); // truncated
        break;
      case 4: {
        const from = r.int(s.length + 1);
        s = s.slice(0, at) + s.slice(from, from + r.int(200)) + s.slice(at);
        break;
      }
      case 5:
        s = s.slice(0, at) + String.fromCharCode(r.int(0x20)) + s.slice(at);
        break;
      default:
        s = s.slice(0, at) + r.pick(TOKENS).repeat(1 + r.int(r.bool(0.1) ? 5000 : 40)) + s.slice(at);
    }
  }
  return s;
}

function hostile(r: Rng): string {
  const head = 'esphome:\n  name: fuzz\n';
  switch (r.int(8)) {
    case 0: {
      let s = head + 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n';
      const levels = 2 + r.int(12);
      for (let l = 1; l < levels; l++) s += `a${l}: &a${l} [${Array(2 + r.int(9)).fill(`*a${l - 1}`).join(', ')}]\n`;
      return s;
    }
    case 1:
      return head + 'x: ' + r.pick(['[', '{', '{a: ', '- [']).repeat(1 + r.int(200_000));
    case 2:
      return head + Array.from({ length: 1 + r.int(3000) }, (_, i) => ' '.repeat(i % 400) + 'k:').join('\n');
    case 3:
      return head + 'a: &a ' + nastyString(r) + '\nl: [' + Array(1 + r.int(20_000)).fill('*a').join(',') + ']\n';
    case 4:
      return head + 's: "' + r.bytes(1 + r.int(600_000)).toString('latin1') + '"\n';
    case 5:
      return head + Array.from({ length: 1 + r.int(30_000) }, (_, i) => `k${i}: ${r.int(9)}`).join('\n');
    case 6:
      return r.bytes(r.int(4096)).toString(r.pick(['utf8', 'latin1']));
    default:
      return head + 'substitutions:\n' + Array.from({ length: 1 + r.int(200) }, (_, i) => `  v${i}: \${v${i + 1}}`).join('\n') + '\nesphome:\n  name: ${v0}\n';
  }
}

const NAMES = ['fuzz.yaml', 'fuzz.yml', 'FUZZ.YAML', 'secrets.yaml', '../fuzz.yaml', 'a/b.yaml', '.fuzz.yaml', 'fuzz.txt', '', ' ', 'x'.repeat(300) + '.yaml', 'f\0.yaml', 'kitchen-plug.yaml'];

function loadCorpus(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n) && n !== 'secrets.yaml')
    .map((n) => readFileSync(join(dir, n), 'utf8'));
}

/** Input #i of a seed, for replaying one failure. */
export function yamlInput(seed: number, i: number, corpusDir: string): { name: string; content: string } {
  return generate(new Rng(seed).fork(i), loadCorpus(corpusDir));
}

function generate(r: Rng, corpus: string[]): { name: string; content: string } {
  const content = r.bool(0.8) ? mutate(r, r.pick(corpus)) : hostile(r);
  const name = r.bool(0.85) ? 'fuzz.yaml' : r.pick(NAMES);
  return { name, content };
}

export async function fuzzYaml(o: YamlFuzzOptions): Promise<YamlFuzzStats> {
  const corpus = loadCorpus(o.corpusDir);
  const root = new Rng(o.seed);
  // "Cannot block the loop for seconds": a 512 KiB file of plain keys parses in ~0.5–0.9 s on a
  // loaded 2-core machine, so the bound is 2 s.
  const maxMs = o.maxMs ?? 2000;
  const s: YamlFuzzStats = { seed: o.seed, inputs: 0, accepted: 0, refused: 0, crashes: 0, slow: 0, maxMs: 0, maxAt: -1, totalMs: 0, firstFailure: null, reasons: {} };
  const listing = () => readdirSync(o.configDir).sort().join('\n');
  let before = listing();
  for (let i = 0; i < o.count; i++) {
    const { name, content } = generate(root.fork(i), corpus);
    const t = performance.now();
    try {
      await importYaml(o.configDir, { name, content, overwrite: true });
      s.accepted++;
      before = listing();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_args') {
        s.refused++;
        const key = err.message.replace(/"[^"]*"/g, '"…"').replace(/\(.*\)/g, '(…)').replace(/\d+/g, 'N').slice(0, 60);
        s.reasons[key] = (s.reasons[key] ?? 0) + 1;
        const now = listing();
        if (now !== before) {
          s.crashes++;
          s.firstFailure ??= `input ${i}: refused but the config dir changed`;
          before = now;
        }
      } else {
        s.crashes++;
        s.firstFailure ??= `input ${i} (seed ${o.seed}): ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`;
      }
    }
    const ms = performance.now() - t;
    s.totalMs += ms;
    if (ms > s.maxMs) {
      s.maxMs = ms;
      s.maxAt = i;
    }
    if (ms > maxMs) {
      s.slow++;
      s.firstFailure ??= `input ${i} (seed ${o.seed}): took ${ms.toFixed(0)} ms`;
    }
    s.inputs++;
    if (o.log && i > 0 && i % 10_000 === 0) o.log(`[fuzz:yaml] seed ${o.seed}: ${i}/${o.count}`);
  }
  return s;
}

// Issue 11 defect 1 (YAML half): an imported YAML cannot block the event loop for seconds or
// crash the process. Before the bounds, 512 KiB of `[[[[…` held the loop for ~3 s before it
// ended in a stack overflow, and an alias bomb escaped as a raw ReferenceError.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../errors';
import { importYaml } from '../configurations';
import { MAX_FLOW_DEPTH, MAX_YAML_BYTES } from '../yaml-bounds';
import { cleanupDirs, MINIMAL_YAML, tempConfigDir } from './helpers';

afterEach(() => cleanupDirs());

const HEAD = 'esphome:\n  name: hostile\n';
/** Fills up to the size limit (minus a margin) with `unit`. */
const fill = (prefix: string, unit: string, suffix = '') => prefix + unit.repeat(Math.floor((MAX_YAML_BYTES - prefix.length - suffix.length - 16) / unit.length)) + suffix;

const aliasBomb = () => {
  let s = HEAD + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < 10; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    s += `${cur}: &${cur} [${Array(9).fill('*' + prev).join(',')}]\n`;
  }
  return s;
};

const HOSTILE: Array<[string, () => string, RegExp]> = [
  ['an alias bomb (billion laughs)', aliasBomb, /alias/i],
  ['60,000 aliases of one anchor', () => HEAD + 'a: &a x\nl: [' + Array(60_000).fill('*a').join(', ') + ']\n', /alias/i],
  ['2,000 aliases on separate lines', () => HEAD + 'a: &a x\n' + Array.from({ length: 2000 }, (_, i) => `k${i}: *a`).join('\n') + '\n', /more than 1000 aliases/],
  ['512 KiB of unclosed flow sequences', () => fill(HEAD + 'x: ', '['), /levels deep/],
  ['deep balanced flow nesting', () => HEAD + 'x: ' + '['.repeat(200_000) + ']'.repeat(200_000), /levels deep/],
  ['deep flow mappings', () => fill(HEAD + 'x: ', '{a: '), /levels deep|collections on one line/],
  // Found by the long YAML fuzz run (seed 20261205, input 828): a RangeError before the fix.
  ['2,500 compact implicit maps on one line (": : : …")', () => HEAD + 'esp32:\n  board: x\n' + ': '.repeat(2500) + '\n', /more than 64 collections on one line/],
  ['3,000 nested "- " on one line', () => HEAD + 'x:\n' + '- '.repeat(3000) + 'v\n', /more than 64 collections on one line/],
  ['one byte over the limit', () => HEAD + '#' + 'x'.repeat(MAX_YAML_BYTES), /larger than 512 KiB/],
  ['a 500 KiB flow list of 250,000 items', () => fill(HEAD + 'x: [', '1,', ']'), /more than 10000 lines and list items/],
  ['15,000 keys', () => HEAD + Array.from({ length: 15_000 }, (_, i) => `k${i}: v`).join('\n'), /more than 10000 lines/],
];

async function timedImport(content: string): Promise<{ err: unknown; ms: number; maxLagMs: number }> {
  const dir = tempConfigDir();
  // Event-loop lag seen by a timer while the import runs: the loop is what every other job,
  // log stream and client shares.
  let maxLagMs = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - last - 5);
    last = now;
  }, 5);
  const t0 = performance.now();
  let err: unknown = null;
  try {
    await importYaml(dir, { name: 'hostile.yaml', content });
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 10));
  clearInterval(ticker);
  expect(readdirSync(dir).filter((n) => n.endsWith('.yaml'))).toEqual([]);
  return { err, ms, maxLagMs };
}

describe('hostile YAML import is refused quickly with a clear error (issue 11 defect 1)', () => {
  for (const [what, make, msg] of HOSTILE) {
    it(what, async () => {
      const { err, ms, maxLagMs } = await timedImport(make());
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('invalid_args');
      expect((err as Error).message).toMatch(msg);
      console.log(`[yaml-hostile] ${what}: refused in ${ms.toFixed(0)} ms, max event-loop lag ${maxLagMs.toFixed(0)} ms`);
      // The bound: well under a second even on a loaded 2-core machine (before: ~3 s).
      expect(ms).toBeLessThan(1000);
    });
  }

  it(`still accepts real files with flow lists and a lambda with nested braces (depth ≤ ${MAX_FLOW_DEPTH})`, async () => {
    const dir = tempConfigDir();
    const lambda = '    lambda: |-\n' + Array.from({ length: 20 }, (_, i) => '      ' + '{'.repeat(i + 1) + ' x; ' + '}'.repeat(i + 1)).join('\n') + '\n';
    const content = MINIMAL_YAML('real') + 'sensor:\n  - platform: template\n    filters: [{ multiply: 2 }, [1, 2, [3]]]\n' + lambda;
    const r = await importYaml(dir, { name: 'real.yaml', content });
    expect(r.deviceName).toBe('real');
  });
});

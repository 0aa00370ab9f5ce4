import { cp, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBundle } from '../bundle';
import { BundleCache, bundleCacheKey, bundleMembers } from '../bundle-cache';

const SIM = [process.execPath, resolve(import.meta.dirname, '../../../../tools/esphome-sim/esphome')];
const EXAMPLES = resolve(import.meta.dirname, '../../../../tools/esphome-sim/examples');
const env = { ...process.env, ESPHOME_SIM_SPEED: '0' } as Record<string, string>;
const VERSION = '2026.1.0';

let dir: string;
let yaml: string;

/** Builds a real bundle with the simulator; sources are back-dated so they predate the build. */
async function bundleNow(): Promise<{ bytes: Buffer; output: string; startedAt: number }> {
  const startedAt = Date.now();
  let output = '';
  const bytes = await buildBundle(SIM, yaml, join(dir, 'out', 'b.tar.gz'), { env, onOutput: (t) => (output = t) });
  return { bytes, output, startedAt };
}

async function backdate(...files: string[]): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  for (const f of files) await utimes(f, past, past);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-bundle-cache-'));
  await cp(EXAMPLES, join(dir, 'cfg'), { recursive: true });
  yaml = join(dir, 'cfg', 'living-room.yaml');
  await backdate(yaml, join(dir, 'cfg', 'common', 'wifi.yaml'), join(dir, 'cfg', 'secrets.yaml'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bundle cache', () => {
  it('serves the same bytes while every source file is unchanged, and forgets them when one changes', async () => {
    const cache = new BundleCache();
    const key = bundleCacheKey(SIM, VERSION, yaml, env)!;
    const built = await bundleNow();
    const members = await bundleMembers(built.bytes);
    expect(members[0]).toBe('manifest.json');
    expect(members).toEqual(expect.arrayContaining(['living-room.yaml', 'common/wifi.yaml', 'secrets.yaml']));

    expect(await cache.put(key, yaml, built.bytes, built.output, built.startedAt)).toBe(true);
    expect((await cache.get(key))?.equals(built.bytes)).toBe(true);

    // An included file (not the main YAML) changes: the cached bundle is stale.
    const include = join(dir, 'cfg', 'common', 'wifi.yaml');
    await writeFile(include, (await readFile(include, 'utf8')) + '\n# edited\n');
    expect(await cache.get(key)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('a secrets change invalidates too (the bundle carries the filtered secrets)', async () => {
    const cache = new BundleCache();
    const key = bundleCacheKey(SIM, VERSION, yaml, env)!;
    const built = await bundleNow();
    await cache.put(key, yaml, built.bytes, built.output, built.startedAt);
    await writeFile(join(dir, 'cfg', 'secrets.yaml'), 'wifi_ssid: "x"\nwifi_password: "y"\n');
    expect(await cache.get(key)).toBeUndefined();
  });

  it('does not vouch for a bundle the CLI warned about, or whose source changed while it ran', async () => {
    const cache = new BundleCache();
    const key = bundleCacheKey(SIM, VERSION, yaml, env)!;
    const built = await bundleNow();
    expect(await cache.put(key, yaml, built.bytes, `${built.output}WARNING Bundle: skipping file outside config directory: /etc/x\n`, built.startedAt)).toBe(false);
    expect(await cache.get(key)).toBeUndefined();

    await writeFile(yaml, (await readFile(yaml, 'utf8')) + '\n# written during the build\n'); // mtime = now
    expect(await cache.put(key, yaml, built.bytes, built.output, built.startedAt)).toBe(false);
  });

  it('keys on the esphome command and the data-dir environment; expires by age; keeps at most N entries', async () => {
    let now = 1_000_000;
    const cache = new BundleCache({ ttlMs: 10_000, maxEntries: 2, now: () => now });
    const built = await bundleNow();
    const a = bundleCacheKey(SIM, VERSION, yaml, env)!;
    expect(bundleCacheKey(['esphome'], VERSION, yaml, env)).not.toBe(a);
    expect(bundleCacheKey(SIM, VERSION, yaml, { ...env, ESPHOME_DATA_DIR: '/elsewhere' })).not.toBe(a);

    await cache.put(a, yaml, built.bytes, built.output, built.startedAt);
    now += 10_001;
    expect(await cache.get(a)).toBeUndefined();

    for (const k of ['k1', 'k2', 'k3']) await cache.put(k, yaml, built.bytes, built.output, built.startedAt);
    expect(cache.size).toBe(2);
    expect(await cache.get('k1')).toBeUndefined();
    expect(await cache.get('k3')).toBeDefined();
  });

  it('the esphome version is in the key; an unknown version caches nothing', () => {
    expect(bundleCacheKey(SIM, '2026.2.0', yaml, env)).not.toBe(bundleCacheKey(SIM, VERSION, yaml, env));
    expect(bundleCacheKey(SIM, '', yaml, env)).toBeNull();
  });

  // Every file esphome bundle puts in the archive is an input: the main YAML, a package, a plain
  // !include, an `esphome: includes:` source file, secrets.yaml. Changing any one of them must
  // make the cached bundle stale.
  it.each([
    ['the main YAML', 'living-room.yaml'],
    ['a package (packages: !include)', 'common/wifi.yaml'],
    ['a plain !include', 'common/extra-sensor.yaml'],
    ['an esphome includes: file', 'my_component.h'],
    ['secrets.yaml', 'secrets.yaml'],
  ])('changing %s invalidates the cached bundle', async (_what, rel) => {
    const cfg = join(dir, 'cfg');
    await writeFile(join(cfg, 'common', 'extra-sensor.yaml'), '- platform: uptime\n  name: "Extra uptime"\n');
    await writeFile(join(cfg, 'my_component.h'), '#pragma once\n// bench include\n');
    const base = await readFile(yaml, 'utf8');
    await writeFile(
      yaml,
      base
        .replace('  comment: Simulator demo', '  includes:\n    - my_component.h\n  comment: Simulator demo')
        .replace('sensor:\n', 'sensor:\n  - !include common/extra-sensor.yaml\n'),
    );
    await backdate(yaml, join(cfg, 'common', 'extra-sensor.yaml'), join(cfg, 'my_component.h'));
    const cache = new BundleCache();
    const key = bundleCacheKey(SIM, VERSION, yaml, env)!;
    const built = await bundleNow();
    const members = await bundleMembers(built.bytes);
    expect(members).toEqual(expect.arrayContaining(['living-room.yaml', 'common/wifi.yaml', 'common/extra-sensor.yaml', 'my_component.h', 'secrets.yaml']));
    expect(await cache.put(key, yaml, built.bytes, built.output, built.startedAt)).toBe(true);
    expect(await cache.get(key)).toBeDefined();
    const file = join(cfg, ...rel.split('/'));
    await writeFile(file, `${await readFile(file, 'utf8')}\n# changed\n`);
    expect(await cache.get(key)).toBeUndefined();
  });
});

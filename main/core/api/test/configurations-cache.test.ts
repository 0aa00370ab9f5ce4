// Incremental configuration sync (issue 18 §3): one parse per file version, a watched folder
// pushes one delta per change, and a reconnect with nothing changed reads no file at all.
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { ConfigurationsCache, type ConfigurationsDelta } from '../configurations-cache';
import { cleanupDirs, MINIMAL_YAML, tempConfigDir } from './helpers';
import { must } from '../../../../test/support/must';

const caches: ConfigurationsCache[] = [];
afterEach(() => {
  for (const c of caches.splice(0)) c.close();
  cleanupDirs();
});

function fleet(n: number): Record<string, string> {
  const files: Record<string, string> = { 'secrets.yaml': 'wifi: x\n' };
  for (let i = 0; i < n; i++) files[`dev-${String(i).padStart(3, '0')}.yaml`] = MINIMAL_YAML(`dev-${i}`);
  return files;
}

function cache(dir: string, opts: ConstructorParameters<typeof ConfigurationsCache>[1] = {}): ConfigurationsCache {
  const c = new ConfigurationsCache(dir, opts);
  caches.push(c);
  return c;
}

describe('ConfigurationsCache', () => {
  it('reads each file once; a reconnect with nothing changed reads nothing', async () => {
    const dir = tempConfigDir(fleet(50));
    const c = cache(dir, { rescanMs: 0 });
    const first = await c.list();
    expect(first).toHaveLength(50);
    expect(first[0]).toMatchObject({ name: 'dev-000.yaml', deviceName: 'dev-0' });
    expect(c.stats.reads).toBe(50);
    for (let i = 0; i < 5; i++) expect(await c.list()).toEqual(first);
    expect(c.stats.reads).toBe(50);
  });

  it('a changed file is one read and one event carrying that entry', async () => {
    const dir = tempConfigDir(fleet(20));
    const events: ConfigurationsDelta[] = [];
    const c = cache(dir, { rescanMs: 0, debounceMs: 20, onChange: (d) => events.push(d) });
    await c.list();
    const before = c.stats.reads;
    writeFileSync(join(dir, 'dev-007.yaml'), MINIMAL_YAML('renamed-seven'));
    await waitUntil(() => events.length > 0, { what: 'a configurationsChanged delta' });
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({ changed: [expect.objectContaining({ name: 'dev-007.yaml', deviceName: 'renamed-seven' })], removed: [] });
    expect(c.stats.reads - before).toBe(1);
    const list = await c.list();
    expect(list.find((e) => e.name === 'dev-007.yaml')?.deviceName).toBe('renamed-seven');
    expect(c.stats.reads - before).toBe(1);
  });

  it('reports added and removed files', async () => {
    const dir = tempConfigDir(fleet(3));
    const events: ConfigurationsDelta[] = [];
    const c = cache(dir, { rescanMs: 0, debounceMs: 20, onChange: (d) => events.push(d) });
    await c.list();
    rmSync(join(dir, 'dev-001.yaml'));
    writeFileSync(join(dir, 'new.yaml'), MINIMAL_YAML('newbie'));
    await waitUntil(() => {
      const all = { changed: events.flatMap((e) => e.changed.map((x) => x.name)), removed: events.flatMap((e) => e.removed) };
      return all.changed.includes('new.yaml') && all.removed.includes('dev-001.yaml');
    });
    expect((await c.list()).map((e) => e.name)).toEqual(['dev-000.yaml', 'dev-002.yaml', 'new.yaml']);
  });

  it('without a watch, the periodic stat rescan finds changes and re-reads only those', async () => {
    const dir = tempConfigDir(fleet(30));
    const events: ConfigurationsDelta[] = [];
    const c = cache(dir, { watch: false, rescanMs: 30, onChange: (d) => events.push(d) });
    await c.list();
    expect(c.stats.reads).toBe(30);
    const f = join(dir, 'dev-010.yaml');
    writeFileSync(f, MINIMAL_YAML('ten-b'));
    const later = new Date(Date.now() + 5_000);
    utimesSync(f, later, later);
    await waitUntil(() => events.length > 0, { what: 'the fallback rescan' });
    expect(must(events[0]).changed.map((e) => e.deviceName)).toEqual(['ten-b']);
    expect(c.stats.reads).toBe(31);
  });

  it('a broken file is listed with its error and parsed again once fixed', async () => {
    const dir = tempConfigDir({ 'a.yaml': 'esphome: [\n' });
    const c = cache(dir, { rescanMs: 0, debounceMs: 20 });
    expect(must((await c.list())[0]).error).toMatch(/not valid YAML/);
    writeFileSync(join(dir, 'a.yaml'), MINIMAL_YAML('fixed-now'));
    await waitUntil(async () => must((await c.list())[0]).deviceName === 'fixed-now');
    expect(must((await c.list())[0]).error).toBe('');
  });
});

import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  clampCleanupTtlSeconds,
  deviceWorkspace,
  senderEsphomeDataDir,
  sweepWorkspaces,
  touchWorkspace,
  WorkspaceSweeper,
} from '../workspace';

let root: string;
const HOUR = 3_600_000;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-ws-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function sender(name: string, ageMs: number): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, 'kitchen'), { recursive: true });
  await writeFile(join(dir, 'kitchen', 'kitchen.yaml'), 'x');
  const t = new Date(Date.now() - ageMs);
  await utimes(dir, t, t);
  return dir;
}

describe('workspace layout', () => {
  it('per-sender workspace and data dir under <dataDir>/remote_builds', () => {
    const key = '0123456789abcdef0123456789abcdef';
    expect(deviceWorkspace('/d', key, 'Living Room.yaml')).toBe(`/d/remote_builds/${key}/Living_Room`);
    expect(senderEsphomeDataDir('/d', key)).toBe(`/d/remote_builds/${key}/.esphome`);
  });

  it('clamps the TTL to 1 h .. 30 days, default 24 h', () => {
    expect(clampCleanupTtlSeconds(undefined)).toBe(86_400);
    expect(clampCleanupTtlSeconds(Number.NaN)).toBe(86_400);
    expect(clampCleanupTtlSeconds(10)).toBe(3_600);
    expect(clampCleanupTtlSeconds(99_999_999)).toBe(2_592_000);
    expect(clampCleanupTtlSeconds(7_200)).toBe(7_200);
  });
});

describe('sweepWorkspaces', () => {
  it('removes sender workspaces idle longer than the TTL, keeps fresh and busy ones', async () => {
    const old = await sender('oldoldol', 30 * HOUR);
    await sender('freshfre', 1 * HOUR);
    await sender('busybusy', 30 * HOUR);
    const removed = await sweepWorkspaces(root, { ttlMs: 24 * HOUR, isBusy: (d) => d === 'busybusy' });
    expect(removed).toEqual([old]);
    expect((await readdir(root)).sort()).toEqual(['busybusy', 'freshfre']);
  });

  it('touching a workspace keeps it alive', async () => {
    const dir = await sender('touchedx', 30 * HOUR);
    await touchWorkspace(dir);
    expect(await sweepWorkspaces(root, { ttlMs: 24 * HOUR })).toEqual([]);
  });

  it('clears stale staging leftovers but not fresh ones', async () => {
    await mkdir(join(root, '.staging', 'bundle-old'), { recursive: true });
    await mkdir(join(root, '.staging', 'bundle-new'), { recursive: true });
    const t = new Date(Date.now() - 2 * HOUR);
    await utimes(join(root, '.staging', 'bundle-old'), t, t);
    await sweepWorkspaces(root, { ttlMs: 24 * HOUR });
    expect(await readdir(join(root, '.staging'))).toEqual(['bundle-new']);
  });

  it('a missing root is fine', async () => {
    expect(await sweepWorkspaces(join(root, 'nope'), { ttlMs: HOUR })).toEqual([]);
  });
});

describe('WorkspaceSweeper', () => {
  it('uses the clamped TTL and reports what it removed', async () => {
    await sender('twohours', 2 * HOUR);
    const seen: string[][] = [];
    const sweeper = new WorkspaceSweeper({ root, ttlSeconds: 60, onSwept: (r) => seen.push(r) });
    expect(sweeper.ttlSeconds).toBe(3_600);
    const removed = await sweeper.sweepNow();
    expect(removed).toEqual([join(root, 'twohours')]);
    expect(seen).toEqual([removed]);
  });
});

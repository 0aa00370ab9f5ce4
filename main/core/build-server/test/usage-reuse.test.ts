// The workspace quota check reuses a recent measurement of remote_builds/ (the walk visits every
// build-tree file) only while it leaves a clear margin: real files, real SenderLimits.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SenderLimits, USAGE_REUSE_MS } from '../sender-limits';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function rootWith(idleBytes: number): Promise<{ root: string; idle: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-usage-'));
  dirs.push(root);
  const idle = join(root, 'a'.repeat(32));
  await mkdir(join(idle, 'dev'), { recursive: true });
  await writeFile(join(idle, 'dev', 'blob'), randomBytes(idleBytes));
  const t = new Date(Date.now() - 7_200_000);
  await utimes(idle, t, t);
  return { root, idle };
}

describe('workspace usage reuse', () => {
  it('within the margin a recent measurement decides; past the margin the tree is walked again', async () => {
    const { root, idle } = await rootWith(300_000);
    const limits = new SenderLimits({ root, workspaceQuotaBytes: 1_000_000, log: () => undefined, isBusy: () => false });
    const me = 'b'.repeat(32);
    const t0 = Date.now();
    expect(await limits.makeRoom(me, 100_000, t0)).toBeUndefined(); // walked: 300 kB + 100 kB
    // Bytes written behind the measurement's back are not seen while the margin holds (a walk
    // would find 950 + 100 kB and sweep the idle workspace)…
    await writeFile(join(root, 'c'.repeat(32)), randomBytes(650_000));
    expect(await limits.makeRoom(me, 100_000, t0 + 10)).toBeUndefined(); // 300 + 200 kB ≤ 900 kB
    expect(existsSync(idle)).toBe(true);
    // …a bundle that would cross 90 % of the quota (300 + 200 + 450 kB) walks again: 950 kB real,
    // the idle workspace is swept, and the quota is still too full.
    expect(await limits.makeRoom(me, 450_000, t0 + 20)).toMatch(/workspace quota .* is full/);
    expect(existsSync(idle)).toBe(false);
  });

  it('a measurement older than the reuse window is never reused', async () => {
    const { root, idle } = await rootWith(300_000);
    const limits = new SenderLimits({ root, workspaceQuotaBytes: 1_000_000, log: () => undefined, isBusy: () => false });
    const me = 'b'.repeat(32);
    const t0 = Date.now();
    expect(await limits.makeRoom(me, 100_000, t0)).toBeUndefined();
    await writeFile(join(root, 'c'.repeat(32)), randomBytes(650_000));
    expect(await limits.makeRoom(me, 100_000, t0 + USAGE_REUSE_MS)).toBeUndefined();
    expect(existsSync(idle)).toBe(false); // walked: 950 + 100 kB → the idle workspace went
  });
});

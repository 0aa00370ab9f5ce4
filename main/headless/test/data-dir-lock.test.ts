// Issue 11 defect 5: one process per data dir, shown with real processes. With `kiln serve` on a
// config dir, a `kiln build --data-dir <config>/.kiln`, a second `kiln serve` and a `kiln
// receiver` on the same dir each exit non-zero at once naming the holder (before: the build
// re-ran the serve's RUNNING job as a "crash"). A lock left by a SIGKILLed holder is taken over.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireDataDirLock, DataDirLockedError, LOCK_FILE_NAME } from '../../core/data-dir-lock';
import { MINIMAL_YAML } from '../../core/api/test/helpers';
import { SIM_CMD, spawnKiln, type KilnChild } from '../../../test/e2e-remote/helpers';
import { waitUntil } from '../../../test/support/wait-until';

const children: KilnChild[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exit;
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-lock-'));
  dirs.push(dir);
  const config = join(dir, 'config');
  mkdirSync(config);
  writeFileSync(join(config, 'porch.yaml'), MINIMAL_YAML('porch'));
  writeFileSync(join(config, 'secrets.yaml'), 'wifi: x\n');
  return config;
}

function kiln(args: string[]): KilnChild {
  const c = spawnKiln(args, { ESPHOME_SIM_SPEED: '0' });
  children.push(c);
  return c;
}

async function serveOn(config: string): Promise<KilnChild> {
  const c = kiln(['serve', '--config-dir', config, '--port', '0', '--no-mdns', '--no-peer-link', '--esphome', SIM_CMD]);
  await waitUntil(() => c.out.some((l) => l.startsWith('KILN_SERVE_URL=')) || c.proc.exitCode !== null, { timeoutMs: 60_000, what: () => `kiln serve ready:\n${c.text()}` });
  expect(c.proc.exitCode, c.text()).toBeNull();
  return c;
}

describe('one process per data dir (issue 11 defect 5)', () => {
  it('kiln build, a second kiln serve and kiln receiver on a served data dir exit non-zero at once naming the holder', async () => {
    const config = configDir();
    const serve = await serveOn(config);
    const dataDir = join(config, '.kiln');
    expect(statSync(join(dataDir, LOCK_FILE_NAME)).mode & 0o777).toBe(0o600);

    const others: Array<[string, KilnChild]> = [
      ['kiln build', kiln(['build', join(config, 'porch.yaml'), '--data-dir', dataDir, '--esphome', SIM_CMD])],
      ['kiln serve', kiln(['serve', '--config-dir', config, '--port', '0', '--no-mdns', '--no-peer-link', '--esphome', SIM_CMD])],
      ['kiln receiver', kiln(['receiver', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--no-mdns', '--esphome', SIM_CMD])],
    ];
    for (const [what, c] of others) {
      const t0 = Date.now();
      const { code } = await c.exit;
      console.log(`[data-dir-lock] ${what}: exit ${code} after ${Date.now() - t0} ms: ${c.err.join(' | ')}`);
      expect(code, `${what}:\n${c.text()}`).not.toBe(0);
      expect(c.err.join('\n')).toContain(`in use by kiln serve (pid ${serve.proc.pid} on ${hostname()}`);
      expect(c.text()).not.toMatch(/compile .* started|KILN_SERVE_URL=|KILN_RECEIVER_READY/);
    }
    // The holder is unaffected and its jobs.json never saw a job from the others.
    expect(serve.proc.exitCode).toBeNull();
    const jobs = JSON.parse(readFileSync(join(dataDir, 'jobs.json'), 'utf8')) as { jobs: unknown[] };
    expect(jobs.jobs).toEqual([]);
  }, 120_000);

  it('a lock left by a SIGKILLed kiln serve is taken over by the next process', async () => {
    const config = configDir();
    const first = await serveOn(config);
    first.proc.kill('SIGKILL');
    await first.exit;
    const lock = JSON.parse(readFileSync(join(config, '.kiln', LOCK_FILE_NAME), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(first.proc.pid); // stale, still on disk
    const build = kiln(['build', join(config, 'porch.yaml'), '--data-dir', join(config, '.kiln'), '--esphome', SIM_CMD]);
    const { code } = await build.exit;
    expect(code, build.text()).toBe(0);
    const second = await serveOn(config);
    expect(JSON.parse(readFileSync(join(config, '.kiln', LOCK_FILE_NAME), 'utf8'))).toMatchObject({ pid: second.proc.pid, command: 'kiln serve' });
    second.proc.kill('SIGTERM');
    expect((await second.exit).code).toBe(0);
    // A clean exit removes the lock.
    expect(() => statSync(join(config, '.kiln', LOCK_FILE_NAME))).toThrow();
  }, 120_000);
});

describe('data-dir-lock module', () => {
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'kiln-lock-unit-'));
    dirs.push(d);
    return d;
  };

  it('a reused pid (same pid, different start time) does not hold the lock', () => {
    const d = dir();
    // pid 1 exists on every Linux box but did not start at tick "1".
    writeFileSync(join(d, LOCK_FILE_NAME), JSON.stringify({ pid: 1, host: hostname(), command: 'kiln serve', since: 'then', procStart: '1' }));
    const l = acquireDataDirLock(d, 'test');
    expect(l.holder.pid).toBe(process.pid);
    l.release();
  });

  it('a live holder is named; an unreadable fresh lock is "being locked"; an old torn one is taken over', () => {
    const d = dir();
    writeFileSync(join(d, LOCK_FILE_NAME), JSON.stringify({ pid: 1, host: hostname(), command: 'kiln receiver', since: 'x' }));
    expect(() => acquireDataDirLock(d, 'test')).toThrow(DataDirLockedError);
    expect(() => acquireDataDirLock(d, 'test')).toThrow(/in use by kiln receiver \(pid 1 /);
    writeFileSync(join(d, LOCK_FILE_NAME), '{"pid": 12');
    expect(() => acquireDataDirLock(d, 'test')).toThrow(/being locked/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(d, LOCK_FILE_NAME), old, old);
    const l = acquireDataDirLock(d, 'test');
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE_NAME), 'utf8')).pid).toBe(process.pid);
    l.release();
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { liveGroupMembers, processDead } from '../../jobs/test/helpers';
import { runTracked, SpawnError } from '../tracked-process';
import { waitUntil } from '../../../../test/support/wait-until';

const FAKE = resolve(__dirname, '../../jobs/test/fixtures/fake-esphome.mjs');
const node = process.execPath;
const dirs: string[] = [];
const pids: number[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-tp-'));
  dirs.push(d);
  return d;
}
function yaml(dir: string, mode: string): string {
  const p = join(dir, `${mode}.yaml`);
  writeFileSync(p, `# fake: ${mode}\nesphome:\n  name: dev\n`);
  return p;
}

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('runTracked', () => {
  it('merges stderr into stdout in write order, keeping terminators', async () => {
    // A shell writes with plain write(2) calls, so the order on the merged pipe is the call order.
    const script = `i=0; while [ $i -lt 300 ]; do if [ $((i % 2)) -eq 1 ]; then echo "line $i"; else echo "line $i" >&2; fi; i=$((i+1)); done; printf 'bar 50%%\\r' >&2; printf end`;
    const chunks: string[] = [];
    const res = await runTracked(['/bin/sh', '-c', script], { onChunk: (c) => chunks.push(c) });
    expect(res.exitCode).toBe(0);
    expect(chunks.slice(0, 300)).toEqual(Array.from({ length: 300 }, (_, i) => `line ${i}\n`));
    expect(chunks.slice(300)).toEqual(['bar 50%\r', 'end']);
  });

  it('gives the child a closed stdin and its own process group', async () => {
    const d = tmp();
    const chunks: string[] = [];
    let pid = 0;
    const res = await runTracked([FAKE, '--dashboard', 'compile', yaml(d, 'stdin')], { onChunk: (c) => chunks.push(c), onSpawn: (p) => (pid = p) });
    expect(res.exitCode).toBe(0);
    expect(chunks).toContain('stdin eof after 0 bytes\n');

    const code = `process.stdout.write(String(require('child_process').execFileSync('ps',['-o','pgid=','-p',String(process.pid)])).trim()+'\\n')`;
    const out: string[] = [];
    const r2 = await runTracked([node, '-e', code], { onChunk: (c) => out.push(c), onSpawn: (p) => (pid = p) });
    expect(r2.exitCode).toBe(0);
    expect(out[0]).toBe(`${pid}\n`); // the child leads its own group
  });

  it('kills the whole group with SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const d = tmp();
    const pidfile = join(d, 'gc.pid');
    const ac = new AbortController();
    let pid = 0;
    const chunks: string[] = [];
    const p = runTracked([FAKE, '--dashboard', 'compile', yaml(d, 'ignore-term')], {
      env: { ...process.env, FAKE_PIDFILE: pidfile },
      signal: ac.signal,
      terminateGraceMs: 300,
      drainMs: 200,
      onSpawn: (x) => pids.push((pid = x)),
      onChunk: (c) => chunks.push(c),
    });
    await waitUntil(() => chunks.includes('running\n') && existsSync(pidfile), { timeoutMs: 5000, what: 'the child running' });
    const gc = Number(readFileSync(pidfile, 'utf8'));
    const t0 = Date.now();
    ac.abort();
    const res = await p;
    expect(res.terminated).toBe(true);
    expect(res.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await waitUntil(() => processDead(gc) && liveGroupMembers(pid).length === 0, { timeoutMs: 2000, what: 'the group gone' });
    expect(chunks).toContain('child ignoring SIGTERM\n');
  });

  it('stops waiting for EOF shortly after the child exits while a grandchild holds the pipe, and ends the stray group', async () => {
    const d = tmp();
    const pidfile = join(d, 'gc.pid');
    let pid = 0;
    const t0 = Date.now();
    const res = await runTracked([FAKE, '--dashboard', 'compile', yaml(d, 'grandchild-exit')], {
      env: { ...process.env, FAKE_PIDFILE: pidfile },
      drainMs: 300,
      terminateGraceMs: 300,
      onSpawn: (x) => pids.push((pid = x)),
    });
    const took = Date.now() - t0;
    expect(res.exitCode).toBe(0);
    expect(took).toBeLessThan(3000);
    const gc = Number(readFileSync(pidfile, 'utf8'));
    await waitUntil(() => processDead(gc) && liveGroupMembers(pid).length === 0, { timeoutMs: 2000, what: 'the group gone' });
  });

  it('terminates right after spawn when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const res = await runTracked([node, '-e', 'setTimeout(()=>{}, 30000)'], { signal: ac.signal, terminateGraceMs: 500 });
    expect(res.signal).toBe('SIGTERM');
    expect(res.terminated).toBe(true);
  });

  it('times out', async () => {
    const res = await runTracked([node, '-e', 'setTimeout(()=>{}, 30000)'], { timeoutMs: 100, terminateGraceMs: 500 });
    expect(res.timedOut).toBe(true);
    expect(res.signal).toBe('SIGTERM');
  });

  it('rejects with SpawnError for a missing or non-executable command', async () => {
    await expect(runTracked(['kiln-no-such-esphome-xyz', 'x'])).rejects.toMatchObject({ name: 'SpawnError', code: 'ENOENT' });
    const d = tmp();
    const f = join(d, 'not-exec');
    writeFileSync(f, '#!/bin/sh\necho hi\n');
    chmodSync(f, 0o644);
    const err = await runTracked([f]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnError);
    expect((err as SpawnError).code).toBe('EACCES');
  });

  it('passes arguments verbatim (no shell interpretation)', async () => {
    const weird = ['$HOME', '`id`', "a'b\"c", 'x; echo pwned', '*'];
    const out: string[] = [];
    await runTracked([node, '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...weird], { onChunk: (c) => out.push(c) });
    expect(JSON.parse(out.join(''))).toEqual(weird);
    expect(execFileSync('true').length).toBe(0);
  });
});

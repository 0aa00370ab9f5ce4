// runTracked through the process spawner (process-spawner.ts/.cjs), with real processes: the
// process is a child of the spawner (not of this process), output arrives complete and in order,
// exit codes and signals come back, cancel kills the group, a dead spawner falls back to a direct
// spawn, and nothing is left behind when the process that owns the spawner dies.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { liveGroupMembers, processDead } from '../../jobs/test/helpers';
import { ProcessSpawner, spawnerSupported } from '../process-spawner';
import { runTracked, SpawnError } from '../tracked-process';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const node = process.execPath;
const dirs: string[] = [];
const groups: number[] = [];
const spawners: ProcessSpawner[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-spawner-'));
  dirs.push(d);
  return d;
}
function newSpawner(opts: ConstructorParameters<typeof ProcessSpawner>[0] = {}): ProcessSpawner {
  const s = new ProcessSpawner(opts);
  spawners.push(s);
  return s;
}
/** The parent pid of a running process (Linux /proc). */
function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

afterEach(() => {
  for (const pid of groups.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  for (const s of spawners.splice(0)) s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(process.platform === 'win32')('runTracked through the process spawner', () => {
  it('the process is the spawner’s child in its own group; stderr merged in order; exit code', async () => {
    const sp = newSpawner();
    const chunks: string[] = [];
    const script = 'echo out1; echo err1 >&2; printf "partial"; echo " line" >&2; cat /proc/$$/stat; exit 3';
    const res = await runTracked(['/bin/sh', '-c', script], {
      spawner: sp,
      onChunk: (c) => chunks.push(c),
      onSpawn: (pid) => groups.push(pid),
    });
    expect(res.exitCode).toBe(3);
    expect(res.signal).toBeNull();
    expect(chunks.slice(0, 3)).toEqual(['out1\n', 'err1\n', 'partial line\n']);
    // /proc/<pid>/stat of the shell itself: pid (comm) state ppid pgrp session …
    const stat = must(chunks[3]).trim();
    const [, ppidField, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(ppidField)).toBe(sp.pid);
    expect(Number(pgrp)).toBe(res.pid); // own process group (detached)
    expect(sp.pid).not.toBe(process.pid);
  });

  it('output written at once, by many processes at once, arrives complete', async () => {
    const sp = newSpawner();
    const lines = 2000;
    const runs = await Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        const out: string[] = [];
        // A shell writes its first line microseconds after the start: before this process holds the
        // pipe (the spawner must not read any of it).
        const res = await runTracked(['/bin/sh', '-c', `i=0; while [ $i -lt ${lines} ]; do echo ${k}:$i; i=$((i+1)); done`], {
          spawner: sp,
          onChunk: (c) => out.push(c),
        });
        return { res, out };
      }),
    );
    runs.forEach(({ res, out }, k) => {
      expect(res.exitCode).toBe(0);
      expect(out.length).toBe(lines);
      expect(out[0]).toBe(`${k}:0\n`);
      expect(out[lines - 1]).toBe(`${k}:${lines - 1}\n`);
    });
  });

  it('stdin is closed and a killing signal is reported', async () => {
    const sp = newSpawner();
    const out: string[] = [];
    const r1 = await runTracked(['/bin/sh', '-c', 'cat; echo "eof $?"'], { spawner: sp, onChunk: (c) => out.push(c) });
    expect(out).toEqual(['eof 0\n']);
    expect(r1.exitCode).toBe(0);
    const r2 = await runTracked(['/bin/sh', '-c', 'kill -KILL $$'], { spawner: sp });
    expect(r2).toMatchObject({ exitCode: null, signal: 'SIGKILL', terminated: false });
  });

  it('cancel kills the whole group (a grandchild too) within the grace period', async () => {
    const sp = newSpawner();
    const d = tmp();
    const gcFile = join(d, 'gc.pid');
    const ac = new AbortController();
    let pid = 0;
    const script = `sleep 30 & echo $! > ${gcFile}; trap '' TERM; echo ready; wait`;
    const p = runTracked(['/bin/sh', '-c', script], {
      spawner: sp,
      signal: ac.signal,
      terminateGraceMs: 300,
      onSpawn: (x) => {
        pid = x;
        groups.push(x);
      },
      onChunk: (c) => {
        if (c === 'ready\n') ac.abort();
      },
    });
    const res = await p;
    expect(res.terminated).toBe(true);
    const grandchild = Number(readFileSync(gcFile, 'utf8'));
    await waitUntil(() => processDead(grandchild) && liveGroupMembers(pid).length === 0, { what: 'the group gone' });
  });

  it('an abort that lands before the spawner reported the start still terminates the process', async () => {
    const sp = newSpawner();
    const ac = new AbortController();
    let pid = 0;
    const p = runTracked([node, '-e', 'setTimeout(()=>{}, 30000)'], {
      spawner: sp,
      signal: ac.signal,
      terminateGraceMs: 300,
      onSpawn: (x) => {
        pid = x;
        groups.push(x);
      },
    });
    ac.abort();
    const res = await p;
    expect(res.terminated).toBe(true);
    expect(res.signal).toBe('SIGTERM');
    expect(processDead(pid)).toBe(true);
  });

  it('start failures keep their codes and messages (missing, not executable, bad cwd)', async () => {
    const sp = newSpawner();
    await expect(runTracked(['kiln-no-such-tool-xyz'], { spawner: sp })).rejects.toMatchObject({ name: 'SpawnError', code: 'ENOENT', message: "command not found: 'kiln-no-such-tool-xyz'" });
    const f = join(tmp(), 'noexec');
    writeFileSync(f, '#!/bin/sh\necho hi\n');
    chmodSync(f, 0o644);
    await expect(runTracked([f], { spawner: sp })).rejects.toMatchObject({ code: 'EACCES', message: `command is not executable: '${f}'` });
    // The spawner's own spawn fails (cwd missing): same error as a direct spawn gives.
    const viaSpawner = await runTracked([node, '-e', '1'], { spawner: sp, cwd: join(tmp(), 'gone') }).catch((e: unknown) => e);
    const direct = await runTracked([node, '-e', '1'], { spawner: null, cwd: join(tmp(), 'gone') }).catch((e: unknown) => e);
    expect(viaSpawner).toBeInstanceOf(SpawnError);
    expect(viaSpawner).toMatchObject({ code: (direct as SpawnError).code, message: (direct as SpawnError).message });
  });

  it('the spawner dying under a running process: the group is stopped, the run fails plainly; the next run restarts it', async () => {
    const sp = newSpawner({ graceMs: 300 });
    let pid = 0;
    const p = runTracked([node, '-e', 'console.log("up"); setTimeout(()=>{}, 30000)'], {
      spawner: sp,
      terminateGraceMs: 300,
      onSpawn: (x) => {
        pid = x;
        groups.push(x);
      },
      onChunk: () => sp.stop(),
    });
    await expect(p).rejects.toThrow("the process runner stopped unexpectedly; '" + node + "' was stopped");
    await waitUntil(() => processDead(pid), { what: 'the orphaned process stopped' });
    const first = must(pid);
    const out: string[] = [];
    const res = await runTracked(['/bin/sh', '-c', 'echo again'], { spawner: sp, onChunk: (c) => out.push(c), onSpawn: (x) => (pid = x) });
    expect(res.exitCode).toBe(0);
    expect(out).toEqual(['again\n']);
    expect(pid).not.toBe(first);
    expect(sp.pid).toBeDefined();
  });

  it('spawner gone for good (no restarts left) or its file missing: runs spawn directly, unchanged', async () => {
    const sp = newSpawner({ maxStarts: 1 });
    await runTracked(['/bin/true'], { spawner: sp });
    const spawnerPid = must(sp.pid);
    sp.stop();
    await waitUntil(() => processDead(spawnerPid) && sp.pid === undefined, { what: 'the spawner gone' });
    for (const s of [sp, newSpawner({ scriptPath: join(tmp(), 'missing.cjs') })]) {
      let ppid = 0;
      const out: string[] = [];
      const res = await runTracked(['/bin/sh', '-c', 'echo a; echo b >&2; sleep 0.2; exit 4'], {
        spawner: s,
        onChunk: (c) => out.push(c),
        onSpawn: (x) => (ppid = ppidOf(x)),
      });
      expect(res.exitCode).toBe(4);
      expect(out).toEqual(['a\n', 'b\n']);
      expect(ppid).toBe(process.pid);
      expect(s.pid).toBeUndefined();
    }
  });

  it('a spawner that dies on a request, or never says ready: the run starts directly', async () => {
    const d = tmp();
    const dies = join(d, 'dies.cjs');
    writeFileSync(dies, "process.on('message', () => process.exit(7)); process.send({ t: 'ready' });\n");
    const mute = join(d, 'mute.cjs');
    writeFileSync(mute, 'setInterval(() => {}, 1000);\n');
    const muteSpawner = newSpawner({ scriptPath: mute, readyTimeoutMs: 300 });
    // The mute one twice: the first is killed at its deadline, the second start meets the same.
    for (const sp of [newSpawner({ scriptPath: dies }), muteSpawner, muteSpawner]) {
      let ppid = 0;
      const out: string[] = [];
      const res = await runTracked(['/bin/sh', '-c', 'echo direct; sleep 0.2'], { spawner: sp, onChunk: (c) => out.push(c), onSpawn: (x) => (ppid = ppidOf(x)) });
      expect(res.exitCode).toBe(0);
      expect(out).toEqual(['direct\n']);
      expect(ppid).toBe(process.pid);
    }
    expect(muteSpawner.pid).toBeUndefined(); // killed, not left waiting
  });

  it('warmUp starts the spawner at once without waiting for it; the next run goes through it; disabled, it starts nothing', async () => {
    const sp = newSpawner();
    expect(sp.pid).toBeUndefined();
    sp.warmUp();
    const spawnerPid = must(sp.pid);
    sp.warmUp(); // already started: the same spawner
    expect(sp.pid).toBe(spawnerPid);
    let ppid = 0;
    const res = await runTracked(['/bin/sh', '-c', 'sleep 0.1'], { spawner: sp, onSpawn: (x) => (ppid = ppidOf(x)) });
    expect(res.exitCode).toBe(0);
    expect(ppid).toBe(spawnerPid);
    const off = newSpawner({ enabled: false });
    off.warmUp();
    expect(off.pid).toBeUndefined();
  });

  it('inside Electron (process.versions.electron) there is no spawner: runs spawn directly', async () => {
    expect(spawnerSupported({ ...process.versions, electron: '45.5.0' })).toBe(false);
    expect(spawnerSupported(process.versions)).toBe(true);
    const sp = newSpawner({ enabled: false });
    let ppid = 0;
    const res = await runTracked(['/bin/sh', '-c', 'sleep 0.1'], { spawner: sp, onSpawn: (x) => (ppid = ppidOf(x)) });
    expect(res.exitCode).toBe(0);
    expect(ppid).toBe(process.pid);
    expect(sp.pid).toBeUndefined();
  });

  it('when its owner dies (kill -9), the spawner stops the groups it started and exits', async () => {
    const d = tmp();
    const info = join(d, 'info.json');
    const mod = resolve(__dirname, '../tracked-process.ts');
    const code = `
      import { runTracked } from ${JSON.stringify(mod)};
      import { sharedProcessSpawner } from ${JSON.stringify(resolve(__dirname, '../process-spawner.ts'))};
      import { writeFileSync } from 'node:fs';
      void runTracked(['/bin/sh', '-c', 'trap "" TERM; sleep 60 & wait'], {
        onSpawn: (pid) => setTimeout(() => writeFileSync(${JSON.stringify(info)}, JSON.stringify({ pid, spawner: sharedProcessSpawner().pid })), 100),
      });`;
    const owner = spawn(node, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'inherit'], cwd: resolve(__dirname, '../../../..') });
    try {
      const { pid, spawner } = await waitUntil(() => JSON.parse(readFileSync(info, 'utf8')) as { pid: number; spawner: number }, { timeoutMs: 20_000, what: 'the owner started a process' });
      groups.push(pid);
      expect(liveGroupMembers(pid).length).toBeGreaterThan(0);
      owner.kill('SIGKILL');
      // The shell ignores SIGTERM: only the SIGKILL after the spawner's grace period (3 s) ends it.
      await waitUntil(() => liveGroupMembers(pid).length === 0 && processDead(spawner), { timeoutMs: 15_000, what: 'group and spawner gone' });
    } finally {
      owner.kill('SIGKILL');
    }
  }, 40_000);
});

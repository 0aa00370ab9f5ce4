// Process start vs the event loop (issue 18 §2): how long the sender's event loop stops while a
// process is started, in a process grown to ~250 MB RSS (a heap of small objects + Buffers, like
// a sender with a big job store and transfers in flight).
// - raw: `child_process.spawn('/bin/sh', ['-c', 'exec /bin/true'])` timed around the call
//   (libuv on Linux forks, and waits until the child has exec'd: both in the call).
// - direct / spawner: `runTracked(['/bin/true'])` with the spawn in this process vs through the
//   process spawner (process-spawner.ts). Per spawn: the longest gap between two turns of a
//   busy loop that keeps touching memory (setImmediate, writes to random pages — a loop that
//   only slept would not meet the page faults a fork leaves behind), from the call until the
//   run resolved (the worker variant: the raw spawn made on a worker_thread); plus perf_hooks monitorEventLoopDelay (1 ms resolution) over the whole phase,
//   and a baseline with no spawn (what the machine's load alone does to those gaps).
// - the main thread's own CPU time per run (/proc schedstat), which the machine's load does not
//   inflate: the fork's page-table copy is CPU work of the calling thread.
// Runs in a process of its own (bench/run.ts) so the heap it grows stays there.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { runInNewContext } from 'node:vm';
import { ProcessSpawner } from '../main/core/esphome/process-spawner';
import { runTracked } from '../main/core/esphome/tracked-process';
import { percentile, type BenchContext, type BenchResult } from './lib/report';

const TARGET_RSS_MB = 250;
/** Per-spawn loop stall the issue asks to trim: the direct spawn measured p50 14.6 ms. */
const TARGET_STALL_P50_MS = 2;

interface Ballast {
  objects: Array<{ id: number; name: string; tags: number[] }>;
  buffers: Buffer[];
  scratch: Buffer;
}

function grow(): Ballast {
  const objects: Ballast['objects'] = [];
  const buffers: Buffer[] = [];
  const scratch = Buffer.alloc(32 << 20, 1);
  for (let i = 0; i < 400_000; i++) objects.push({ id: i, name: `device-${i}`, tags: [i, i + 1] });
  while (process.memoryUsage().rss < TARGET_RSS_MB * 1e6 && buffers.length < 400) buffers.push(Buffer.alloc(1 << 20, buffers.length & 0xff));
  return { objects, buffers, scratch };
}

/** A loop that keeps running and touching memory; records the longest gap between its turns. */
class BusyLoop {
  maxGap = 0;
  private last = performance.now();
  private running = true;
  constructor(private readonly ballast: Ballast) {
    setImmediate(this.turn);
  }
  reset(): void {
    this.maxGap = 0;
    this.last = performance.now();
  }
  stop(): void {
    this.running = false;
  }
  private readonly turn = (): void => {
    const now = performance.now();
    this.maxGap = Math.max(this.maxGap, now - this.last);
    this.last = now;
    const { scratch, objects } = this.ballast;
    for (let k = 0; k < 16; k++) {
      const at = (Math.random() * scratch.length) | 0;
      scratch.writeUInt8(scratch.readUInt8(at) ^ 1, at);
    }
    const o = objects[(Math.random() * objects.length) | 0];
    if (o) o.id++;
    if (this.running) setImmediate(this.turn);
  };
}

/** CPU time of this process's main thread so far (Linux /proc schedstat, ns). */
function mainThreadCpuNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function phase(n: number, loop: BusyLoop, once: () => Promise<number>): Promise<{ stall: number[]; sync: number[]; eldP50: number; eldP99: number; eldMax: number }> {
  const stall: number[] = [];
  const sync: number[] = [];
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  for (let i = 0; i < n; i++) {
    await pause(15);
    loop.reset();
    sync.push(await once());
    stall.push(loop.maxGap);
  }
  eld.disable();
  return { stall, sync, eldP50: eld.percentile(50) / 1e6, eldP99: eld.percentile(99) / 1e6, eldMax: eld.max / 1e6 };
}

type Phase = Awaited<ReturnType<typeof phase>>;

/** runTracked of /bin/true; returns the time the call itself took (the synchronous part). */
async function tracked(spawner: ProcessSpawner | null): Promise<number> {
  const t0 = performance.now();
  const p = runTracked(['/bin/true'], { spawner, drainMs: 1000 });
  const sync = performance.now() - t0;
  const res = await p;
  if (res.exitCode !== 0) throw new Error(`/bin/true exited ${res.exitCode ?? res.signal}`);
  return sync;
}

/**
 * Design (a), measured and not taken: the same raw spawn from a worker thread. The fork still
 * copies the whole process's page tables (holding its mmap lock) and leaves every page
 * copy-on-write, so the main thread's loop still stalls on its own page faults.
 */
function inWorker(): { spawn: () => Promise<number>; stop: () => Promise<number> } {
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { spawn } = require('node:child_process');
     parentPort.on('message', (id) => {
       const c = spawn('/bin/sh', ['-c', 'exec /bin/true'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
       c.stdout.resume();
       c.on('close', () => parentPort.postMessage(id));
     });`,
    { eval: true },
  );
  const waiting = new Map<number, () => void>();
  let next = 0;
  w.on('message', (id: number) => waiting.get(id)?.());
  return {
    spawn: () =>
      new Promise<number>((resolve) => {
        const id = next++;
        const t0 = performance.now();
        waiting.set(id, () => resolve(sync));
        w.postMessage(id);
        const sync = performance.now() - t0;
      }),
    stop: () => w.terminate(),
  };
}

function raw(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn('/bin/sh', ['-c', 'exec /bin/true'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    const sync = performance.now() - t0;
    c.stdout.resume();
    c.on('error', reject);
    c.on('close', () => resolve(sync));
  });
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  if (process.platform === 'win32') return [{ name: 'process start stall', value: NaN, unit: 'ms', note: 'NOT RUN: the spawner is for Linux/macOS' }];
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const n = ctx.quick ? 15 : 40;
  const ballast = grow();
  gc();
  await pause(200);
  const rss = Math.round(process.memoryUsage().rss / 1e6);
  ctx.log(`  RSS ${rss} MB (${ballast.objects.length} objects, ${ballast.buffers.length} × 1 MiB Buffers, 32 MiB scratch); ${n} spawns per variant`);

  const loop = new BusyLoop(ballast);
  await pause(300);
  const spawner = new ProcessSpawner();
  const startT0 = performance.now();
  await tracked(spawner); // starts the spawner: the one fork of this big process it costs
  const spawnerStartMs = performance.now() - startT0;

  const results: BenchResult[] = [];
  const report = (label: string, r: Phase, target?: number): void => {
    const stallP50 = percentile(r.stall, 50);
    const stallMax = Math.max(...r.stall);
    ctx.log(
      `  ${label}: loop stall per spawn p50 ${stallP50.toFixed(1)} ms, max ${stallMax.toFixed(1)} ms; call p50 ${percentile(r.sync, 50).toFixed(2)} ms, max ${Math.max(...r.sync).toFixed(2)} ms; ` +
        `monitorEventLoopDelay p50 ${r.eldP50.toFixed(1)} / p99 ${r.eldP99.toFixed(1)} / max ${r.eldMax.toFixed(1)} ms`,
    );
    results.push({ name: `${label}: event-loop stall per spawn p50`, value: stallP50, unit: 'ms', target, better: 'lower', note: `max ${stallMax.toFixed(1)} ms, RSS ${rss} MB` });
    results.push({ name: `${label}: synchronous part of the call p50`, value: percentile(r.sync, 50), unit: 'ms', note: `max ${Math.max(...r.sync).toFixed(2)} ms` });
  };
  // The baseline: the same busy loop over a window as long as a run through the spawner takes,
  // without starting anything — what the machine's load alone does to the gaps.
  const walls: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await tracked(spawner);
    walls.push(performance.now() - t0);
  }
  const windowMs = percentile(walls, 50);
  ctx.log(`  a run of /bin/true through the spawner takes p50 ${windowMs.toFixed(1)} ms (the baseline's window)`);
  // Interleaved halves, so load changes on a shared machine hit every variant alike.
  const half = Math.ceil(n / 2);
  const acc = { base: [] as Phase[], raw: [] as Phase[], worker: [] as Phase[], direct: [] as Phase[], spawner: [] as Phase[] };
  const worker = inWorker();
  await worker.spawn(); // the worker's own start is not a spawn
  for (let round = 0; round < 2; round++) {
    acc.base.push(await phase(half, loop, () => pause(windowMs).then(() => 0)));
    acc.raw.push(await phase(half, loop, raw));
    acc.worker.push(await phase(half, loop, worker.spawn));
    acc.direct.push(await phase(half, loop, () => tracked(null)));
    acc.spawner.push(await phase(half, loop, () => tracked(spawner)));
  }
  loop.stop();
  await worker.stop();
  await pause(50);
  // The main thread's own CPU time per run (busy loop stopped): what the spawn costs this thread
  // whatever the machine's load (the gaps above also hold the time other processes had the CPU).
  const cpu = { direct: [] as number[], spawner: [] as number[] };
  for (let i = 0; i < n; i++) {
    for (const [key, sp] of [['direct', null], ['spawner', spawner]] as const) {
      await pause(10);
      const c0 = mainThreadCpuNs();
      await tracked(sp);
      cpu[key].push((mainThreadCpuNs() - c0) / 1e6);
    }
  }
  const merge = (rs: Phase[]): Phase => ({
    stall: rs.flatMap((r) => r.stall),
    sync: rs.flatMap((r) => r.sync),
    eldP50: Math.max(...rs.map((r) => r.eldP50)),
    eldP99: Math.max(...rs.map((r) => r.eldP99)),
    eldMax: Math.max(...rs.map((r) => r.eldMax)),
  });
  report('no spawn (baseline: the machine alone)', merge(acc.base));
  report('child_process.spawn (raw)', merge(acc.raw));
  report('child_process.spawn on a worker thread', merge(acc.worker));
  report('runTracked, direct spawn', merge(acc.direct));
  report('runTracked via the spawner', merge(acc.spawner), TARGET_STALL_P50_MS);
  for (const [key, label] of [['direct', 'runTracked, direct spawn'], ['spawner', 'runTracked via the spawner']] as const) {
    const xs = cpu[key];
    ctx.log(`  ${label}: main-thread CPU per run p50 ${percentile(xs, 50).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`);
    results.push({ name: `${label}: main-thread CPU per run p50`, value: percentile(xs, 50), unit: 'ms', note: `max ${Math.max(...xs).toFixed(2)} ms` });
  }
  results.push({ name: 'spawner start (first run, once per Kiln process)', value: spawnerStartMs, unit: 'ms', note: 'includes the one fork of this process and the spawner booting' });
  spawner.stop();
  return results;
}

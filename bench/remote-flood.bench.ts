// P4 on the real path (issue 18 §1): a `kiln receiver` process builds with the simulator printing
// N lines at full speed (ESPHOME_SIM_FLOOD_LINES); the sender (createApp, this process) drains the
// stream through its session, client manager, remote runner and the shared ingest. The sender is
// the slow side: it reads slower than the build prints, so the build server must hold, coalesce
// or elide. Measured: the receiver's RSS (VmRSS from /proc, every 50 ms) before, at its peak and
// after the job; the sender's end-to-end drain rate (flood lines ingested ÷ first→last).
import { existsSync, readFileSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createJob } from '../main/core/jobs/model';
import type { BenchContext, BenchResult } from './lib/report';
import { waitUntil } from '../test/support/wait-until';
import { Cleanup, pairByKey, REPO_ROOT, startKilnBuildServer, startSender, tempDir, whenDone } from './lib/stack';

const KEY = 'WQRT-TMEE-FWDZ-2345';
const TARGET_RSS_MB = 250;
const TARGET_LINES_PER_S = 100_000;
/** "Back near its baseline" (P4): RSS at most this much above the pre-flood RSS, within 20 s of the job's end. */
const NEAR_BASELINE_MB = 20;
const FLOOD_LINE = /\/flood\/\d{7}\.cpp\.o\n$/;
const ELIDED = /(\d+) line\(s\) elided/;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Anonymous (heap, malloc) vs file-backed resident memory, from /proc. */
function anonMb(pid: number): string {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(st)?.[1] ?? NaN) / 1024;
  return `anonymous ${kb('RssAnon').toFixed(0)} MB, file ${kb('RssFile').toFixed(0)} MB`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resident size of glibc's main heap (the brk `[heap]` mapping): where a flood's native garbage stayed. */
function brkHeapMb(pid: number): number {
  const m = /\[heap\]\n(?:.*\n)*?Rss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/**
 * BENCH_MEMORY_PROBE_DIR (diagnostics, docs/notes/performance.md "Memory after bursts"): the
 * receiver's /proc smaps is copied there at each stage (smaps-<stage>.txt); when the folder holds
 * a FIFO `mprobe.fifo` read by bench/tools/malloc-probe.c preloaded into the receiver, it also
 * writes malloc_info(3) (malloc-<stage>.xml), and after the last stage runs malloc_trim(0).
 */
function probeFifo(): string | null {
  const dir = process.env.BENCH_MEMORY_PROBE_DIR;
  return dir && existsSync(join(dir, 'mprobe.fifo')) ? join(dir, 'mprobe.fifo') : null;
}

async function memoryProbe(pid: number, stage: string): Promise<void> {
  const dir = process.env.BENCH_MEMORY_PROBE_DIR;
  if (!dir) return;
  await writeFile(join(dir, `smaps-${stage}.txt`), readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  const fifo = probeFifo();
  if (!fifo) return;
  const out = join(dir, `malloc-${stage}.xml`);
  await writeFile(fifo, `${out}\n`);
  await waitUntil(() => existsSync(out) && readFileSync(out, 'utf8').includes('</malloc>'), { timeoutMs: 5000, what: () => `malloc probe ${out}` });
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  try {
    const lines = Number(process.env.BENCH_FLOOD_LINES ?? (ctx.quick ? 200_000 : 1_000_000));
    const root = await tempDir(cleanup, 'kiln-bench-flood-');
    const configDir = join(root, 'config');
    const senderData = join(root, 'data');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
    const yaml = (await readFile(join(configDir, 'living-room.yaml'), 'utf8')).replace('name: ${device}', 'name: flood');
    await writeFile(join(configDir, 'flood.yaml'), yaml);
    // KILN_DEBUG_MEMORY: the receiver prints what its idle collection released (memoryUsage).
    // BENCH_RECEIVER_ENV="K=V …": extra environment for the receiver (e.g. MALLOC_ARENA_MAX=2).
    const extraEnv = Object.fromEntries((process.env.BENCH_RECEIVER_ENV ?? '').split(' ').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const receiver = await startKilnBuildServer(cleanup, KEY, { ESPHOME_SIM_FLOOD_LINES: String(lines), KILN_DEBUG_MEMORY: '1', ...extraEnv });
    const pin = await pairByKey(senderData, receiver.port, KEY);
    const app = await startSender(cleanup, configDir, senderData, [pin]);
    const pid = receiver.proc.pid!;
    await sleep(1000);
    await memoryProbe(pid, 'before');
    const baseline = rssMb(pid);

    let peak = baseline;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssMb(pid));
      } catch {
        // exited: the job's result shows it
      }
    }, 50);
    let received = 0;
    let elided = 0;
    let first = 0;
    let last = 0;
    // Bound to the build server explicitly: the dispatch pool could pick this computer.
    const job = createJob({ configuration: 'flood.yaml', job_type: 'compile', source: 'remote', source_pin_sha256: pin });
    const off = app.bus.on('job_output', (e) => {
      if (e.job_id !== job.job_id) return;
      if (FLOOD_LINE.test(e.line)) {
        if (received === 0) first = performance.now();
        received++;
        last = performance.now();
      } else {
        const m = ELIDED.exec(e.line);
        if (m && e.line.includes('build server')) elided += Number(m[1]);
      }
    });
    const t0 = performance.now();
    app.engine.enqueue([job], { supersede: false });
    const done = await whenDone(app, job.job_id, ctx.quick ? 120_000 : 600_000);
    const wall = performance.now() - t0;
    off();
    clearInterval(sampler);
    if (done.status !== 'completed') throw new Error(`flood job ${done.status}: ${done.error}`);
    if (done.source !== 'remote') throw new Error('the flood job did not run on the build server');
    if (received + elided !== lines) throw new Error(`sender saw ${received} lines + ${elided} elided of ${lines}`);
    // "After": the receiver idles; its idle collection (receiver/idle-collect.ts) runs ~2 s after
    // the job's end. Sampled every 500 ms until within NEAR_BASELINE_MB of the baseline or 20 s.
    const maxIdleMs = 20_000;
    const idleStart = performance.now();
    const atEnd = rssMb(pid);
    const atEndSplit = `${anonMb(pid)}, main heap ${brkHeapMb(pid).toFixed(0)} MB`;
    await memoryProbe(pid, 'end');
    let after = atEnd;
    while (after > baseline + NEAR_BASELINE_MB && performance.now() - idleStart < maxIdleMs) {
      await sleep(500);
      after = rssMb(pid);
    }
    const settledS = (performance.now() - idleStart) / 1000;
    await memoryProbe(pid, 'after');
    const afterSplit = `${anonMb(pid)}, main heap ${brkHeapMb(pid).toFixed(0)} MB`;
    const fifo = probeFifo();
    if (fifo) {
      await writeFile(fifo, 'trim\n');
      await sleep(500);
      ctx.log(`    after malloc_trim(0) in the receiver: ${rssMb(pid).toFixed(0)} MB (${anonMb(pid)}, main heap ${brkHeapMb(pid).toFixed(0)} MB)`);
      await memoryProbe(pid, 'trimmed');
    }
    const collected = receiver.out.find((l) => l.includes('memory collected:'));
    ctx.log(`    receiver at the job's end ${atEnd.toFixed(0)} MB (${atEndSplit}), after ${after.toFixed(0)} MB (${afterSplit}); ${collected ? collected.replace(/^.*memory collected: /, 'idle collection: ') : 'no idle collection seen'}`);
    // The receiver echoes remote output to its stdout (read by this process) unless stdout is behind.
    const echoed = receiver.out.filter((l) => FLOOD_LINE.test(`${l}\n`)).length;
    const notEchoed = receiver.out.reduce((n, l) => n + Number(/\.\.\. \[(\d+) output line\(s\) not echoed here/.exec(l)?.[1] ?? 0), 0);
    ctx.log(`    receiver's console echo: ${echoed} flood lines printed, ${notEchoed} output lines counted as not echoed`);
    const rate = (received - 1) / ((last - first) / 1000);
    const load = (await import('node:os')).loadavg().map((n) => n.toFixed(1)).join(' ');
    ctx.log(`    ${lines} lines: job ${wall.toFixed(0)} ms; sender ingested ${received}, build server elided ${elided}; receiver RSS ${baseline.toFixed(0)} → peak ${peak.toFixed(0)} → ${after.toFixed(0)} MB ${settledS.toFixed(1)} s after; load ${load}`);
    return [
      {
        name: 'build server RSS peak, flood to a slower sender',
        value: peak,
        unit: 'MB',
        target: TARGET_RSS_MB,
        better: 'lower',
        note: `${lines} lines; baseline ${baseline.toFixed(0)} MB`,
      },
      {
        name: 'build server RSS after the flood, over its baseline',
        value: after - baseline,
        unit: 'MB',
        target: NEAR_BASELINE_MB,
        better: 'lower',
        note: `${after.toFixed(0)} MB ${settledS.toFixed(1)} s after the job ended (sampled every 500 ms, up to ${maxIdleMs / 1000} s)`,
      },
      {
        name: 'sender end-to-end drain, real path',
        value: rate,
        unit: 'lines/s',
        target: TARGET_LINES_PER_S,
        better: 'higher',
        note: `${received} lines ingested in ${(last - first).toFixed(0)} ms, ${elided} elided by the build server; load ${load}`,
      },
    ];
  } finally {
    await cleanup.run();
  }
}

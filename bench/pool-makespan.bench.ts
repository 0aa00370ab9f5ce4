// P6 (issue 15, issue 18 §2): the dispatch pool's makespan against the ideal. 32 simulated builds
// of 2–5 s each (the simulator's `# sim-build-ms: N` marker: real time per job, whatever
// ESPHOME_SIM_SPEED says) are queued at once on a real sender (`createApp`, as `kiln serve`
// composes it) paired with real `kiln receiver` children:
//   A. 4 build servers, none local — ideal = total build time ÷ 4;
//   B. 2 build servers + this computer (include_local_in_pool) — ideal = total ÷ 3.
// Every configuration is distinct (each is bundled by the real simulator CLI, as in "Build all").
// The per-server idle gap is the time from the server's terminal frame for one job to its
// `running` frame for the next (what the pool's fixed overhead costs the server); split into the
// next jobs that already waited in the server's queue (submitted ahead) and the others, with
// server done → that job started on the sender.
// Targets: makespan ≤ 1.10 × ideal for both. `--quick` (≤ 30 s): 4 and 3 builds, one wave each.
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { KilnApp } from '../main/core/app';
import { mean, percentile, type BenchContext, type BenchResult } from './lib/report';
import { Cleanup, pairByKey, REPO_ROOT, startKilnBuildServer, startSender, tempDir, whenDone } from './lib/stack';

const KEYS = ['WQRT-TMEE-PAAB-2345', 'WQRT-TMEE-PABC-2345', 'WQRT-TMEE-PACD-2345', 'WQRT-TMEE-PADE-2345'];

/** Deterministic spread over 2.0–5.0 s in 100 ms steps. */
export function durationsMs(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 2000 + ((i * 17 + 5) % 31) * 100);
}

interface Scenario {
  makespanMs: number;
  idealMs: number;
  gaps: Map<string, number[]>;
  /** Per gap: server done → the next job started on the sender (pool, dispatch, persist). */
  toStart: number[];
  local: number;
  /** Where the makespan goes beyond the builds themselves (remote jobs only; ms). */
  split: { firstStart: number[]; overrun: number[]; tail: number; lastEnd: number };
}

async function writeConfigs(configDir: string, prefix: string, durations: number[]): Promise<string[]> {
  const base = await readFile(join(configDir, 'living-room.yaml'), 'utf8');
  const names: string[] = [];
  for (const [i, ms] of durations.entries()) {
    const name = `${prefix}-${String(i).padStart(2, '0')}`;
    await writeFile(join(configDir, `${name}.yaml`), `${base.replace('name: ${device}', `name: ${name}`)}\n# sim-build-ms: ${ms}\n`);
    names.push(`${name}.yaml`);
  }
  return names;
}

async function runBatch(app: KilnApp, configs: string[], durations: number[], workers: number): Promise<Scenario> {
  const running = new Map<string, number[]>();
  const ended = new Map<string, number[]>();
  const startedAt = new Map<string, number>();
  const runningJob = new Map<string, string[]>();
  const frameAt = new Map<string, { running?: number; end?: number }>();
  const offStarted = app.bus.on('job_started', (e) => startedAt.set(e.job.job_id, performance.now()));
  const push = (m: Map<string, number[]>, pin: string, t: number): void => void (m.get(pin) ?? m.set(pin, []).get(pin)!).push(t);
  const off = app.bus.on('offloader_job_state_changed', (f) => {
    const t = performance.now();
    const at = frameAt.get(f.job_id) ?? frameAt.set(f.job_id, {}).get(f.job_id)!;
    if (f.status === 'running') at.running = t;
    else if (f.status !== 'queued') at.end = t;
    if (f.status === 'running') {
      push(running, f.pin, t);
      (runningJob.get(f.pin) ?? runningJob.set(f.pin, []).get(f.pin)!).push(f.job_id);
    }
    else if (f.status !== 'queued') push(ended, f.pin, t);
  });
  const t0 = performance.now();
  const jobs = configs.map((configuration) => app.engine.compile({ configuration }));
  const done = await Promise.all(jobs.map((j) => whenDone(app, j.job_id, 600_000)));
  const makespanMs = performance.now() - t0;
  off();
  offStarted();
  const bad = done.filter((j) => j.status !== 'completed');
  if (bad.length > 0) throw new Error(`${bad.length} builds did not complete: ${bad.map((j) => `${j.configuration} ${j.status} ${j.error}`).join('; ')}`);
  const gaps = new Map<string, number[]>();
  const toStart: number[] = [];
  for (const [pin, starts] of running) {
    const ends = ended.get(pin) ?? [];
    const g: number[] = [];
    for (let i = 1; i < starts.length; i++) {
      const start = starts[i], end = ends[i - 1];
      if (start === undefined || end === undefined) continue;
      g.push(start - end);
      const job = runningJob.get(pin)?.[i];
      const st = job === undefined ? undefined : startedAt.get(job);
      if (st !== undefined) toStart.push(st - end);
    }
    gaps.set(pin, g);
  }
  const total = durations.reduce((a, b) => a + b, 0);
  // A frame names the job by the sender's id (or the server's, kept as remote_job_id).
  const msOf = new Map(configs.map((c, i) => [c, durations[i] ?? 0]));
  const overrun: number[] = [];
  let lastEnd = 0;
  for (const j of done) {
    const at = frameAt.get(j.job_id) ?? frameAt.get(j.remote_job_id);
    if (at?.running === undefined || at.end === undefined) continue;
    overrun.push(at.end - at.running - (msOf.get(j.configuration) ?? 0));
    lastEnd = Math.max(lastEnd, at.end - t0);
  }
  const firstStart = [...running.values()].map((starts) => (starts[0] ?? NaN) - t0);
  return {
    makespanMs, idealMs: total / workers, gaps, toStart, local: done.filter((j) => j.source === 'local').length,
    split: { firstStart, overrun, tail: makespanMs - lastEnd, lastEnd },
  };
}

/** How many next jobs were already waiting in the server's queue; for the rest, server done → started here. */
function startNote(s: Scenario): string {
  const ahead = s.toStart.filter((t) => t < 0).length;
  const later = s.toStart.filter((t) => t >= 0);
  return `next job already waiting in the server's queue: ${ahead} of ${s.toStart.length}; otherwise server done → next job started on the sender: mean ${later.length ? mean(later).toFixed(0) : 'n/a'} ms`;
}

function splitNote(s: Scenario): string {
  const o = s.split.overrun;
  return `first job running on each server after ${s.split.firstStart.map((x) => x.toFixed(0)).join(' / ')} ms; `
    + `a remote build's running → terminal frame beyond its N ms: mean ${o.length ? mean(o).toFixed(0) : 'n/a'} ms (p90 ${o.length ? percentile(o, 90).toFixed(0) : 'n/a'}, ${o.length} builds, Σ ${(o.reduce((a, b) => a + b, 0) / 1000).toFixed(2)} s); `
    + `last terminal frame → last job completed here ${s.split.tail.toFixed(0)} ms`;
}

function gapNote(s: Scenario, labels: Map<string, string>): string {
  return [...s.gaps.entries()]
    .map(([pin, g]) => `${labels.get(pin) ?? pin.slice(0, 8)} ${g.length ? `${mean(g).toFixed(0)} ms (p90 ${percentile(g, 90).toFixed(0)})` : 'n/a'}`)
    .join(', ');
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  try {
    const root = await tempDir(cleanup, 'kiln-bench-pool-');
    const configDir = join(root, 'config');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
    const n = ctx.quick ? 4 : 32;
    const nB = ctx.quick ? 3 : 32;
    const dA = durationsMs(n);
    const dB = durationsMs(nB);
    const cA = await writeConfigs(configDir, 'p6a', dA);
    const cB = await writeConfigs(configDir, 'p6b', dB);
    const servers = await Promise.all(KEYS.map((k) => startKilnBuildServer(cleanup, k, { ESPHOME_SIM_SPEED: '0' })));
    ctx.log(`    load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

    // A: 4 servers, nothing local.
    const dataA = join(root, 'data-a');
    const pinsA: string[] = [];
    for (const [i, s] of servers.entries()) {
      const key = KEYS[i];
      if (key === undefined) throw new Error(`no pairing key for server ${i + 1}`);
      pinsA.push(await pairByKey(dataA, s.port, key));
    }
    const labels = new Map(pinsA.map((p, i) => [p, `server${i + 1}`]));
    let app = await startSender(cleanup, configDir, dataA, pinsA);
    const a = await runBatch(app, cA, dA, 4);
    await app.stop();
    ctx.log(`    A (4 servers): makespan ${a.makespanMs.toFixed(0)} ms, ideal ${a.idealMs.toFixed(0)} ms; idle gap per server: ${gapNote(a, labels)}; ${startNote(a)}`);
    ctx.log(`    A split: ${splitNote(a)}`);

    // B: 2 servers + this computer (the same sender state; the other two pairings disabled).
    app = await startSender(cleanup, configDir, dataA, pinsA);
    for (const pin of pinsA.slice(2)) await app.peerLink!.state.pairings.setEnabled(pin, false);
    await app.peerLink!.state.pairings.updateSettings({ include_local_in_pool: true });
    const b = await runBatch(app, cB, dB, 3);
    await app.stop();
    ctx.log(`    B (2 servers + this computer): makespan ${b.makespanMs.toFixed(0)} ms, ideal ${b.idealMs.toFixed(0)} ms, ${b.local} built here; idle gap per server: ${gapNote(b, labels)}; ${startNote(b)}`);
    ctx.log(`    B split: ${splitNote(b)}`);
    ctx.log(`    load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const allGaps = [...a.gaps.values(), ...b.gaps.values()].flat();
    return [
      {
        name: `P6 pool: ${n} builds of 2–5 s on 4 build servers, makespan ÷ ideal`,
        value: a.makespanMs / a.idealMs,
        unit: '×',
        target: 1.1,
        note: `makespan ${(a.makespanMs / 1000).toFixed(1)} s, ideal ${(a.idealMs / 1000).toFixed(1)} s; per-server idle gap ${gapNote(a, labels)}`,
      },
      {
        name: `P6 pool: ${nB} builds of 2–5 s on 2 build servers + this computer, makespan ÷ ideal (3 workers)`,
        value: b.makespanMs / b.idealMs,
        unit: '×',
        target: 1.1,
        note: `makespan ${(b.makespanMs / 1000).toFixed(1)} s, ideal ${(b.idealMs / 1000).toFixed(1)} s, ${b.local} built on this computer; per-server idle gap ${gapNote(b, labels)}`,
      },
      { name: 'P6 pool: mean idle gap of a build server between two jobs', value: allGaps.length ? mean(allGaps) : NaN, unit: 'ms', note: `${allGaps.length} gaps, load average ${(loadavg()[0] ?? NaN).toFixed(2)}` },
    ];
  } finally {
    await cleanup.run();
  }
}

// `npm run bench` (node --import tsx bench/run.ts [names…]): runs Kiln's benchmarks and prints
// each number with its target and the ratio to it. Names select a subset (`npm run bench --
// cancel`); bench/renderer-*.bench.ts files (the UI's) run as child processes under the name
// `renderer` or their own stem. KILN_BENCH_QUICK=1 (or --quick) uses fewer iterations.
// Exit status: 0 when every benchmark ran (targets missed are reported, not fatal), 1 when one
// crashed, 2 for an unknown name. Each benchmark runs in a process of its own.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatResult, passes, type BenchContext, type BenchFn, type BenchResult } from './lib/report';

const here = dirname(fileURLToPath(import.meta.url));

interface Entry {
  name: string;
  title: string;
  run: (ctx: BenchContext) => Promise<BenchResult[] | null>;
}

const OWN: Entry[] = [
  { name: 'cancel', title: 'Cancel latency, remote job, loopback', run: lazy(() => import('./remote-cancel.bench')) },
  { name: 'walltime', title: 'Remote vs local wall time of the same simulated build', run: lazy(() => import('./remote-walltime.bench')) },
  { name: 'transfer', title: 'Bundle and artifact throughput through the encrypted session', run: lazy(() => import('./remote-transfer.bench')) },
  { name: 'artifact-cpu', title: 'Sender CPU per artifact download and staging (P3 artifacts, real kiln receiver)', run: lazy(() => import('./artifact-cpu.bench')) },
  { name: 'logs', title: 'A build printing at full speed on a kiln receiver → a slower sender: build-server RSS and end-to-end drain', run: lazy(() => import('./remote-flood.bench')) },
  { name: 'fleet', title: 'Window (re)connect and job persistence at fleet scale (1,000 configurations, 500 jobs)', run: lazy(() => import('./fleet-sync.bench')) },
  { name: 'pool', title: 'P6: dispatch pool makespan vs ideal, 2–5 s simulated builds on 4 build servers and on 2 + this computer', run: lazy(() => import('./pool-makespan.bench')) },
  { name: 'firmware', title: 'Firmware library: install with a library hit, digest of an unchanged configuration', run: lazy(() => import('./firmware-library.bench')) },
  { name: 'spawn', title: 'Process start vs the event loop at ~250 MB RSS: direct spawn vs the process spawner', run: lazy(() => import('./spawn-stall.bench')) },
  { name: 'anchor', title: 'Against upstream esphome-device-builder (pinned): remote wall time and receiver throughput, side by side', run: lazy(() => import('./upstream-anchor.bench')) },
];

function lazy(load: () => Promise<{ run: BenchFn }>): Entry['run'] {
  return async (ctx) => (await load()).run(ctx);
}

const RESULTS_MARK = 'KILN_BENCH_RESULTS ';

/**
 * Runs one of Kiln's own benchmarks in a fresh process: a benchmark must not measure the heap,
 * the worker threads or the JIT state its predecessors left behind in this one (the transfer
 * figures dropped by a fifth when it ran after the wall-time benchmark in the same process).
 * The child prints its lines as they come and its results as one JSON line at the end.
 */
function inChild(entry: Entry, quick: boolean): Entry {
  return {
    ...entry,
    run: (ctx) =>
      new Promise<BenchResult[] | null>((resolve, reject) => {
        const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', entry.name, ...(quick ? ['--quick'] : [])];
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
        let results: BenchResult[] | null = null;
        let failure = '';
        let buf = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (text: string) => {
          buf += text;
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const line of lines) {
            if (line.startsWith(RESULTS_MARK)) {
              const parsed = JSON.parse(line.slice(RESULTS_MARK.length)) as { results: BenchResult[] | null; error?: string };
              results = parsed.results;
              failure = parsed.error ?? '';
            } else ctx.log(line);
          }
        });
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          if (failure) reject(new Error(failure));
          else if (code === 0) resolve(results);
          else reject(new Error(`${entry.name} exited ${code ?? signal}`));
        });
      }),
  };
}

/** `--child <name>`: run one own benchmark here and report to the parent (see inChild). */
async function childMain(name: string, quick: boolean): Promise<number> {
  const entry = OWN.find((e) => e.name === name);
  if (!entry) throw new Error(`unknown benchmark ${name}`);
  process.env.ESPHOME_SIM_SPEED ??= '0';
  process.env.ESPHOME_NOGITIGNORE ??= '1';
  try {
    const results = await entry.run({ quick, log: (l) => process.stdout.write(`${l}\n`) });
    process.stdout.write(`${RESULTS_MARK}${JSON.stringify({ results })}\n`);
  } catch (err) {
    process.stdout.write(`${RESULTS_MARK}${JSON.stringify({ results: null, error: (err as Error).stack ?? String(err) })}\n`);
  }
  return 0;
}

/** The UI helper's renderer benchmarks, if present: run as is, their output passed through. */
function rendererEntries(quick: boolean): Entry[] {
  let files: string[] = [];
  try {
    files = readdirSync(here).filter((f) => /^renderer-.*\.bench\.ts$/.test(f));
  } catch {
    return [];
  }
  return files.map((f) => ({
    name: f.replace(/\.bench\.ts$/, ''),
    title: `Renderer: ${f}`,
    run: () =>
      new Promise<null>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', join(here, f), ...(quick ? ['--quick'] : [])], { stdio: 'inherit', env: process.env });
        child.on('error', reject);
        child.on('exit', (code, signal) => (code === 0 ? resolve(null) : reject(new Error(`${f} exited ${code ?? signal}`))));
      }),
  }));
}

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick') || process.env.KILN_BENCH_QUICK === '1';
  const names = argv.filter((a) => !a.startsWith('--'));
  if (argv.includes('--child')) return childMain(names[0] ?? '(none given)', quick);
  const all = [...OWN.map((e) => inChild(e, quick)), ...rendererEntries(quick)];
  const selected = names.length === 0 ? all : all.filter((e) => names.some((n) => e.name === n || (n === 'renderer' && e.name.startsWith('renderer-'))));
  const unknown = names.filter((n) => !all.some((e) => e.name === n || (n === 'renderer' && e.name.startsWith('renderer-'))));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark(s): ${unknown.join(', ')}; available: ${all.map((e) => e.name).join(', ')}${all.some((e) => e.name.startsWith('renderer-')) ? ', renderer' : ''}\n`);
    return 2;
  }
  // The sender's own simulator runs default to instant; benches that need otherwise set it.
  process.env.ESPHOME_SIM_SPEED ??= '0';
  process.env.ESPHOME_NOGITIGNORE ??= '1';
  const ctx: BenchContext = { quick, log: (l) => process.stdout.write(`${l}\n`) };
  const os = await import('node:os');
  // The machine may be shared: the load average says how much of it the numbers had.
  const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  process.stdout.write(`Kiln benchmarks${quick ? ' (quick)' : ''} — node ${process.version}, ${os.cpus().length} CPU(s), load average ${load()}, ${new Date().toISOString()}\n`);
  const summary: Array<{ entry: Entry; results: BenchResult[] | null; error?: Error; ms: number }> = [];
  for (const [i, entry] of selected.entries()) {
    // The previous benchmark's children (receivers, simulators, a browser) exit asynchronously:
    // let them go before measuring the next thing on a 2-core machine.
    if (i > 0) await new Promise((r) => setTimeout(r, quick ? 1000 : SETTLE_MS));
    process.stdout.write(`\n▶ ${entry.name}: ${entry.title} (load average ${load()})\n`);
    const t0 = Date.now();
    try {
      const results = await entry.run(ctx);
      for (const r of results ?? []) process.stdout.write(r.note?.startsWith('NOT RUN') ? `  ${r.name}: ${r.note} (not counted)\n` : `${formatResult(r)}\n`);
      summary.push({ entry, results, ms: Date.now() - t0 });
    } catch (err) {
      process.stdout.write(`  ERROR ${(err as Error).stack ?? String(err)}\n`);
      summary.push({ entry, results: null, error: err as Error, ms: Date.now() - t0 });
    }
  }
  process.stdout.write(`\nSummary (load average at the end ${load()})\n`);
  for (const s of summary) {
    if (s.error) {
      process.stdout.write(`  ${s.entry.name}: ERROR (${s.error.message})\n`);
      continue;
    }
    const rs = s.results ?? [];
    const notRun = rs.find((r) => r.note?.startsWith('NOT RUN'));
    if (notRun) {
      process.stdout.write(`  ${s.entry.name}: ${notRun.note} (not counted)\n`);
      continue;
    }
    const verdicts = rs.map(passes).filter((v) => v !== undefined);
    const missed = verdicts.filter((v) => v === false).length;
    process.stdout.write(`  ${s.entry.name}: ${rs.length === 0 ? 'ran' : `${verdicts.length - missed}/${verdicts.length} targets met`} in ${(s.ms / 1000).toFixed(1)} s\n`);
  }
  return summary.some((s) => s.error) ? 1 : 0;
}

const SETTLE_MS = 3000;

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

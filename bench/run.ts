// `npm run bench` (node --import tsx bench/run.ts [names…]): runs Kiln's benchmarks and prints
// each number with its target and the ratio to it. Names select a subset (`npm run bench --
// cancel`); bench/renderer-*.bench.ts files (the UI's) run as child processes under the name
// `renderer` or their own stem. KILN_BENCH_QUICK=1 (or --quick) uses fewer iterations.
// Exit status: 0 when every benchmark ran (targets missed are reported, not fatal), 1 when one
// crashed, 2 for an unknown name.
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
  { name: 'logs', title: 'Log throughput build server → sender → subscriber', run: lazy(() => import('./remote-logs.bench')) },
];

function lazy(load: () => Promise<{ run: BenchFn }>): Entry['run'] {
  return async (ctx) => (await load()).run(ctx);
}

/** The UI helper's renderer benchmarks, if present: run as is, their output passed through. */
function rendererEntries(): Entry[] {
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
        const child = spawn(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit', env: process.env });
        child.on('error', reject);
        child.on('exit', (code, signal) => (code === 0 ? resolve(null) : reject(new Error(`${f} exited ${code ?? signal}`))));
      }),
  }));
}

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick') || process.env.KILN_BENCH_QUICK === '1';
  const names = argv.filter((a) => !a.startsWith('--'));
  const all = [...OWN, ...rendererEntries()];
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
  for (const entry of selected) {
    process.stdout.write(`\n▶ ${entry.name}: ${entry.title}\n`);
    const t0 = Date.now();
    try {
      const results = await entry.run(ctx);
      for (const r of results ?? []) process.stdout.write(`${formatResult(r)}\n`);
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
    const verdicts = rs.map(passes).filter((v) => v !== undefined);
    const missed = verdicts.filter((v) => v === false).length;
    process.stdout.write(`  ${s.entry.name}: ${rs.length === 0 ? 'ran' : `${verdicts.length - missed}/${verdicts.length} targets met`} in ${(s.ms / 1000).toFixed(1)} s\n`);
  }
  return summary.some((s) => s.error) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

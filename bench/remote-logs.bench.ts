// Log throughput build server → sender → event subscriber (target ≥ 100k lines/s): the server
// (own process) streams job_output frames, one encrypted frame per line like the receiver's
// fan-out; on the sender each goes through the client manager, the remote runner's filter and
// the shared ingest (caps, in-flight trim, progress parsing) before a job_output bus event, which
// the subscriber counts. The job is a remote `clean` so no artifacts are involved.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createJob } from '../main/core/jobs/model';
import type { BenchContext, BenchResult } from './lib/report';
import { Cleanup, startScriptedChild, startSender, tempDir, whenDone } from './lib/stack';

const TARGET_LINES_PER_S = 100_000;
/** What bench/lib/server-child.ts streams: `[000042] Compiling …`. */
const SERVER_LINE = /^\[\d{6}\] Compiling /;

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  try {
    const root = await tempDir(cleanup, 'kiln-bench-logs-');
    const configDir = join(root, 'config');
    const senderData = join(root, 'data');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'bench.yaml'), 'esphome:\n  name: bench\nesp32:\n  board: esp32dev\n');
    const lines = ctx.quick ? 100_000 : 300_000;
    const server = await startScriptedChild(cleanup, senderData, 'logs', { BENCH_LOG_LINES: String(lines) });
    const app = await startSender(cleanup, configDir, senderData, [server.pin]);
    const rates: number[] = [];
    for (let round = 0; round < (ctx.quick ? 1 : 3); round++) {
      const job = createJob({ configuration: 'bench.yaml', job_type: 'clean', source: 'remote', source_pin_sha256: server.pin });
      let n = 0;
      let first = 0;
      let last = 0;
      // Only the server's lines: Kiln's own notices (e.g. "configuration unchanged since its last
      // bundle" once the bundle cache holds bench.yaml) are not part of the stream measured.
      const off = app.bus.on('job_output', (e) => {
        if (e.job_id !== job.job_id || !SERVER_LINE.test(e.line)) return;
        if (n === 0) first = performance.now();
        n++;
        last = performance.now();
      });
      app.engine.enqueue([job], { supersede: false });
      const done = await whenDone(app, job.job_id, 120_000);
      off();
      if (done.status !== 'completed') throw new Error(`log bench job ${done.status}: ${done.error}`);
      if (n !== lines) throw new Error(`subscriber saw ${n} of ${lines} lines`);
      rates.push((n - 1) / ((last - first) / 1000));
      ctx.log(`    round ${round + 1}: ${n} lines in ${(last - first).toFixed(0)} ms → ${rates[round].toFixed(0)} lines/s (job keeps ${done.output.length} entries after the trim)`);
    }
    const best = Math.max(...rates);
    const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)];
    return [
      {
        name: 'log lines server → sender → subscriber',
        value: median,
        unit: 'lines/s',
        target: TARGET_LINES_PER_S,
        better: 'higher',
        note: `${lines} lines × ${rates.length} round(s), median; best ${best.toFixed(0)}, worst ${Math.min(...rates).toFixed(0)}`,
      },
    ];
  } finally {
    await cleanup.run();
  }
}

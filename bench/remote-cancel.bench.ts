// Cancel latency of a remote job on loopback (targets: p50 ≤ 20 ms, p99 ≤ 50 ms): a real
// `kiln receiver` child compiles with the simulator, which stalls mid-compile; the sender (composed
// by createApp) presses Stop. Measured from `engine.cancel()` to (a) the local job_cancelled event
// and (b) the receiver's esphome child having exited (its pid from ESPHOME_SIM_LOG, watched in
// /proc every millisecond).
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { percentile, type BenchContext, type BenchResult } from './lib/report';
import { Cleanup, exited, pairByKey, readSimLog, REPO_ROOT, startKilnReceiver, startSender, tempDir, whenDone } from './lib/stack';
import { waitUntil } from '../test/support/wait-until';

const KEY = 'BNCH-CANC-EMAT-ENCY';

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  try {
    const root = await tempDir(cleanup, 'kiln-bench-cancel-');
    const configDir = join(root, 'config');
    const senderData = join(root, 'data');
    const simLog = join(root, 'receiver-sim.log');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
    const recv = await startKilnReceiver(cleanup, KEY, { ESPHOME_SIM_LOG: simLog, ESPHOME_SIM_SCENARIO: 'hang' });
    const pin = await pairByKey(senderData, recv.port, KEY);
    const app = await startSender(cleanup, configDir, senderData, [pin]);
    const iterations = ctx.quick ? 10 : 40;
    const toCancelled: number[] = [];
    const toExit: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const seen = readSimLog(simLog).length;
      const job = app.engine.compile({ configuration: 'living-room.yaml' });
      // Mid-compile: the receiver's simulator is running and its output reached us.
      const sim = await waitUntil(
        () => {
          const e = readSimLog(simLog)
            .slice(seen)
            .find((x) => x.role === 'main' && x.argv?.includes('compile'));
          return e && app.engine.getJob(job.job_id)!.output.some((l) => l.includes('Compiling')) ? e : undefined;
        },
        { timeoutMs: 20_000, what: 'remote compile running' },
      );
      if (job.source_pin_sha256 !== pin) throw new Error('job not bound to the receiver');
      // The simulator stalls a quarter into the compile: press Stop once its log has gone quiet,
      // so the sample measures the cancel, not the tail of a log burst still being ingested.
      for (let len = -1, quiet = 0; quiet < 3; ) {
        const n = app.engine.getJob(job.job_id)!.output.length;
        quiet = n === len ? quiet + 1 : 0;
        len = n;
        await new Promise((r) => setTimeout(r, 10));
      }
      let cancelledAt = 0;
      const off = app.bus.on('job_cancelled', (e) => {
        if (e.job.job_id === job.job_id) cancelledAt = performance.now();
      });
      const t0 = performance.now();
      await app.engine.cancel(job.job_id);
      let exitAt = 0;
      while (!exitAt) {
        if (exited(sim.pid)) exitAt = performance.now();
        else await new Promise((r) => setTimeout(r, 1));
        if (performance.now() - t0 > 10_000) throw new Error(`receiver simulator ${sim.pid} still running 10 s after Stop`);
      }
      const done = await whenDone(app, job.job_id, 10_000);
      off();
      if (done.status !== 'cancelled') throw new Error(`job ended ${done.status}`);
      toCancelled.push(cancelledAt - t0);
      toExit.push(exitAt - t0);
    }
    ctx.log(`    samples (ms) → CANCELLED: ${toCancelled.map((x) => x.toFixed(1)).join(' ')}`);
    ctx.log(`    samples (ms) → child exit: ${toExit.map((x) => x.toFixed(1)).join(' ')}`);
    const note = (xs: number[]) => `${xs.length} samples, min ${Math.min(...xs).toFixed(1)} / max ${Math.max(...xs).toFixed(1)} ms`;
    return [
      { name: 'Stop → local CANCELLED p50', value: percentile(toCancelled, 50), unit: 'ms', target: 20, note: note(toCancelled) },
      { name: 'Stop → local CANCELLED p99', value: percentile(toCancelled, 99), unit: 'ms', target: 50 },
      { name: 'Stop → receiver esphome exited p50', value: percentile(toExit, 50), unit: 'ms', target: 20, note: `${note(toExit)}; /proc polled every ~1 ms` },
      { name: 'Stop → receiver esphome exited p99', value: percentile(toExit, 99), unit: 'ms', target: 50 },
    ];
  } finally {
    await cleanup.run();
  }
}

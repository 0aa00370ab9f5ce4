// P1: cancel latency of a remote job as a user feels it (targets: p50 ≤ 20 ms, p99 ≤ 50 ms).
// The whole user path: a client on the real RPC transport (WebSocket to `kiln serve`'s server,
// the renderer's RpcClient) follows the job's log; while output is flowing it calls `cancel`.
// Measured from just before that API call to (a) the `jobLifecycle` cancelled event arriving on
// the same client and (b) the build server's esphome child having exited (its pid from
// ESPHOME_SIM_LOG, /proc polled every ~1 ms). The build server is a real `kiln receiver` child
// running the simulator at speed 0.3 (paced output, so lines keep arriving). A sample whose
// event never arrives within 10 s is a failure of the benchmark, never a number.
import { cp, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startKilnServer } from '../main/headless/server';
import { openClient } from '../main/headless/test/ws-client';
import { percentile, type BenchContext, type BenchResult } from './lib/report';
import { Cleanup, exited, pairByKey, readSimLog, REPO_ROOT, startKilnBuildServer, startSender, tempDir } from './lib/stack';
import { waitUntil } from '../test/support/wait-until';

const KEY = 'BNCH-CANC-EMAT-ENCY';
const EVENT_DEADLINE_MS = 10_000;

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  try {
    const root = await tempDir(cleanup, 'kiln-bench-cancel-');
    const configDir = join(root, 'config');
    const senderData = join(root, 'data');
    const simLog = join(root, 'receiver-sim.log');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
    // Speed 0.3: the simulated compile paces its output (seconds of steady lines, a third of a
    // real compile's pauses, to keep the benchmark short); Stop lands while lines still arrive.
    const recv = await startKilnBuildServer(cleanup, KEY, { ESPHOME_SIM_LOG: simLog, ESPHOME_SIM_SPEED: '0.3' });
    const pin = await pairByKey(senderData, recv.port, KEY);
    const app = await startSender(cleanup, configDir, senderData, [pin]);
    const server = await startKilnServer({ service: app.service, port: 0, token: 'bench-token', staticDir: await mkdtemp(join(root, 'www-')) });
    cleanup.add(() => server.close());
    const { client, ws } = await openClient(`ws://127.0.0.1:${server.port}/rpc`);
    cleanup.add(() => ws.close());
    await client.hello('bench-token');

    const iterations = ctx.quick ? 4 : 40;
    const toEvent: number[] = [];
    const toExit: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const seen = readSimLog(simLog).length;
      const job = await client.api.compile({ configuration: 'living-room.yaml' });
      let lines = 0;
      const offBatch = client.on('logBatch', (e) => {
        if (e.jobId === job.job_id) lines += e.lines.length;
      });
      await client.api.followLog({ jobId: job.job_id, tail: 1 });
      // Output is flowing on this client and the build server's esphome is the one compiling.
      const sim = await waitUntil(
        () => {
          const e = readSimLog(simLog)
            .slice(seen)
            .find((x) => x.role === 'main' && x.argv?.includes('compile'));
          return e && lines >= 10 ? e : undefined;
        },
        { timeoutMs: 30_000, what: 'remote compile output flowing to the client' },
      );
      let eventAt = 0;
      const offLife = client.on('jobLifecycle', (e) => {
        if (e.job.job_id === job.job_id && e.kind === 'cancelled' && !eventAt) eventAt = performance.now();
      });
      const t0 = performance.now();
      await client.api.cancel({ jobId: job.job_id });
      let exitAt = 0;
      while (!exitAt || !eventAt) {
        if (!exitAt && exited(sim.pid)) exitAt = performance.now();
        if (performance.now() - t0 > EVENT_DEADLINE_MS) {
          throw new Error(
            `sample ${i + 1}: ${eventAt ? '' : 'no cancelled event on the RPC client'}${!eventAt && !exitAt ? ' and ' : ''}${exitAt ? '' : `build server esphome ${sim.pid} still running`} ${EVENT_DEADLINE_MS} ms after the cancel call`,
          );
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      offLife();
      offBatch();
      await client.api.unfollowLog({ jobId: job.job_id });
      toEvent.push(eventAt - t0);
      toExit.push(exitAt - t0);
    }
    ctx.log(`    samples (ms) → cancelled event on the RPC client: ${toEvent.map((x) => x.toFixed(1)).join(' ')}`);
    ctx.log(`    samples (ms) → build server esphome exited: ${toExit.map((x) => x.toFixed(1)).join(' ')}`);
    const note = (xs: number[]) => `${xs.length} samples, min ${Math.min(...xs).toFixed(1)} / max ${Math.max(...xs).toFixed(1)} ms; Stop while output flows; WebSocket RPC to the kiln serve server`;
    return [
      { name: 'cancel call → cancelled event on the client p50', value: percentile(toEvent, 50), unit: 'ms', target: 20, note: note(toEvent) },
      { name: 'cancel call → cancelled event on the client p99', value: percentile(toEvent, 99), unit: 'ms', target: 50 },
      { name: 'cancel call → build server esphome exited p50', value: percentile(toExit, 50), unit: 'ms', target: 20, note: `${note(toExit)}; /proc polled every ~1 ms` },
      { name: 'cancel call → build server esphome exited p99', value: percentile(toExit, 99), unit: 'ms', target: 50 },
    ];
  } finally {
    await cleanup.run();
  }
}

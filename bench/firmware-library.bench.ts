// Firmware library benchmarks (issue 15):
// - "Install of an unchanged device with a library hit: click → first upload output ≤ 300 ms
//   (no compile process started)": a real app (`kiln serve`'s backend with the esphome
//   simulator) behind the real WebSocket RPC server; a client calls `install` and follows the
//   job's log; measured from just before the call to the first line the esphome upload process
//   printed (the library's own "installing build …" line does not count). The simulator's
//   invocation log must show no compile after the warm-up build — otherwise the run fails.
// - "Digest of an unchanged 200-file configuration (includes, packages) ≤ 50 ms warm": one main
//   YAML with packages that include the rest; first digest cold, then warm repeats (p95).
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createApp } from '../main/core/app';
import { ConfigDigester } from '../main/core/firmware/digest';
import { startKilnServer } from '../main/headless/server';
import { openClient } from '../main/headless/test/ws-client';
import { waitUntil } from '../test/support/wait-until';
import { percentile, type BenchContext, type BenchResult } from './lib/report';
import { readSimLog, REPO_ROOT } from './lib/stack';

async function digestBench(ctx: BenchContext, root: string): Promise<BenchResult[]> {
  const dir = join(root, 'digest');
  await mkdir(join(dir, 'pkg'), { recursive: true });
  // 1 main + secrets + 33 packages, each with 4 includes and one header = 200 files.
  const packages: string[] = [];
  for (let p = 0; p < 33; p++) {
    const inc: string[] = [];
    for (let i = 0; i < 4; i++) {
      const name = `pkg/p${p}-s${i}.yaml`;
      await writeFile(join(dir, name), `- platform: template\n  name: "Sensor ${p}.${i}"\n  lambda: return ${i};\n`);
      inc.push(`    - !include p${p}-s${i}.yaml`);
    }
    await writeFile(join(dir, `pkg/p${p}.yaml`), `sensor:\n${inc.join('\n')}\nesphome:\n  includes:\n    - pkg/h${p}.h\n`);
    await writeFile(join(dir, `pkg/h${p}.h`), `#pragma once\n// ${p}\n`);
    packages.push(`  p${p}: !include pkg/p${p}.yaml`);
  }
  await writeFile(join(dir, 'fleet.yaml'), `esphome:\n  name: fleet\nesp32:\n  board: esp32dev\nwifi:\n  ssid: !secret ssid\npackages:\n${packages.join('\n')}\n`);
  await writeFile(join(dir, 'secrets.yaml'), 'ssid: x\n');
  const dg = new ConfigDigester();
  const t0 = performance.now();
  const cold = await dg.digest(join(dir, 'fleet.yaml'), '2026.11.1');
  const coldMs = performance.now() - t0;
  const samples: number[] = [];
  for (let i = 0; i < (ctx.quick ? 20 : 200); i++) {
    const t = performance.now();
    const d = await dg.digest(join(dir, 'fleet.yaml'), '2026.11.1');
    samples.push(performance.now() - t);
    if (d.digest !== cold.digest) throw new Error('warm digest differs from cold');
  }
  ctx.log(`  digest: ${cold.files.length} files, cold ${coldMs.toFixed(1)} ms`);
  if (cold.files.length < 200) throw new Error(`only ${cold.files.length} files discovered`);
  return [
    { name: `digest of an unchanged ${cold.files.length}-file configuration, warm p95`, value: percentile(samples, 95), unit: 'ms', target: 50, note: `p50 ${percentile(samples, 50).toFixed(2)} ms, cold ${coldMs.toFixed(1)} ms, ${samples.length} runs` },
  ];
}

async function installBench(ctx: BenchContext, root: string): Promise<BenchResult[]> {
  const configDir = join(root, 'config');
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true, filter: (s) => !s.includes('.esphome') });
  const simLog = join(root, 'sim.jsonl');
  process.env.ESPHOME_SIM_LOG = simLog;
  const app = await createApp({ configDir, dataDir: join(root, 'data'), esphome: [join(REPO_ROOT, 'tools/esphome-sim/esphome')], peerLink: false, report: () => undefined });
  const server = await startKilnServer({ service: app.service, port: 0, token: 'bench-token', staticDir: join(root, 'www') });
  const { client, ws } = await openClient(`ws://127.0.0.1:${server.port}/rpc`);
  try {
    await client.hello('bench-token');
    await app.esphomeStatus;
    // Warm-up: one real compile + upload fills the library.
    const head = await client.api.install({ configuration: 'living-room.yaml' });
    for (const j of [head, ...app.engine.getJobs().filter((x) => x.depends_on === head.job_id)]) await app.engine.whenDone(j.job_id);
    await app.firmware.recorder.idle();
    const compilesAfterWarmup = readSimLog(simLog).filter((x) => x.role === 'main' && x.argv?.includes('compile')).length;

    const samples: number[] = [];
    const toStarted: number[] = [];
    for (let i = 0; i < (ctx.quick ? 3 : 15); i++) {
      let firstOutputAt = 0;
      let startedAt = 0;
      let jobId = '';
      const pending: Array<{ jobId: string; lines: string[] }> = [];
      const isProcessLine = (l: string): boolean => !l.startsWith('Firmware library:') && l.trim() !== '';
      const off = client.on('logBatch', (e) => {
        if (firstOutputAt) return;
        if (!jobId) pending.push(e);
        else if (e.jobId === jobId && e.lines.some(isProcessLine)) firstOutputAt = performance.now();
      });
      const offStarted = client.on('jobLifecycle', (e) => {
        if (e.kind === 'started' && e.job.job_type === 'upload' && !startedAt) startedAt = performance.now();
      });
      const t0 = performance.now();
      const job = await client.api.install({ configuration: 'living-room.yaml' });
      jobId = job.job_id;
      if (job.job_type !== 'upload') throw new Error(`expected a library hit (upload), got ${job.job_type}`);
      const history = await client.api.followLog({ jobId });
      if (!firstOutputAt && history.lines.some(isProcessLine)) firstOutputAt = performance.now();
      await waitUntil(() => firstOutputAt > 0, { timeoutMs: 10_000, what: 'first upload output' });
      samples.push(firstOutputAt - t0);
      if (startedAt) toStarted.push(startedAt - t0);
      off();
      offStarted();
      await app.engine.whenDone(jobId);
      await client.api.unfollowLog({ jobId });
    }
    const compiles = readSimLog(simLog).filter((x) => x.role === 'main' && x.argv?.includes('compile')).length;
    if (compiles !== compilesAfterWarmup) throw new Error(`a compile process started during the library installs (${compiles - compilesAfterWarmup})`);
    return [
      { name: 'install with a library hit: click → first upload output, p50', value: percentile(samples, 50), unit: 'ms', target: 300, note: `max ${Math.max(...samples).toFixed(0)} ms, ${samples.length} installs, 0 compile processes (simulator log)` },
      // Where the time goes: Kiln's part (library lookup, staging, queueing) ends when the upload
      // job starts; the rest is the esphome process starting and printing its first line.
      { name: 'install with a library hit: click → upload job started (Kiln\'s part), p50', value: percentile(toStarted, 50), unit: 'ms', note: `${toStarted.length} installs` },
    ];
  } finally {
    ws.close();
    await server.close();
    await app.stop();
    delete process.env.ESPHOME_SIM_LOG;
  }
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-bench-fwlib-'));
  try {
    return [...(await digestBench(ctx, root)), ...(await installBench(ctx, root))];
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

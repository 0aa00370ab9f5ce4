// Sender CPU per artifact download (issue 18 §2): the CPU time this process (the sender, every
// thread of it: the hashing worker included) spends receiving one real compile's artifacts from a
// real `kiln receiver` child — decrypting the frames, decoding the chunks, assembling and
// verifying the tarball — and then staging them into a local esphome build tree, each measured
// apart with process.cpuUsage(). The artifacts are those of the P3 transfer benchmark (the
// simulator's ESP32 images, ~5 MB); the same completed job is downloaded every round (the build
// server packs it afresh each time, on its own CPU, which is not counted here).
// BENCH_CPU_PROF=<dir> also writes a V8 CPU profile of the measured rounds (the sender side only)
// to <dir>/artifact-download.cpuprofile.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { constants as perfConstants, performance, PerformanceObserver } from 'node:perf_hooks';
import { newJobId } from '../main/core/jobs/model';
import { downloadArtifacts, materializeArtifacts, submitJob } from '../main/core/peer-link/sender-jobs';
import { mean, percentile, type BenchContext, type BenchResult } from './lib/report';
import { Cleanup, startPairedSenderWithBundle, whenRemoteDone } from './lib/stack';

const KEY = 'WQRT-TMEE-ACPV-2345';

/** utime + stime ticks of every thread of this process by thread name (Linux /proc; empty elsewhere). */
function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const key = tid === String(process.pid) ? 'main thread' : `${name}#${tid}`;
      out.set(key, (out.get(key) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // thread gone
    }
  }
  return out;
}

/** CPU milliseconds (user + system, all threads of this process) spent while `fn` ran. */
async function cpuMs<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; userMs: number; systemMs: number; wallMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms: (c.user + c.system) / 1000, userMs: c.user / 1000, systemMs: c.system / 1000, wallMs };
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  const profDir = process.env.BENCH_CPU_PROF;
  let profiler: Session | undefined;
  try {
    const { root, configDir, session, bundle } = await startPairedSenderWithBundle(cleanup, 'kiln-bench-acpu-', KEY);
    const id = newJobId();
    const done = whenRemoteDone(session, id, 120_000);
    const ack = await submitJob(session, { jobId: id, configurationFilename: 'living-room.yaml', target: 'compile', bundle });
    if (!ack.accepted) throw new Error(`bundle refused: ${ack.reason}`);
    const status = await done;
    if (status !== 'completed') throw new Error(`remote compile ${status}`);

    const warmup = ctx.quick ? 2 : 3;
    const rounds = ctx.quick ? 5 : 25;
    const dl: number[] = [];
    const stage: number[] = [];
    const mbps: number[] = [];
    let bytes = 0;
    let ticks0 = new Map<string, number>();
    // Garbage collections during the measured rounds (main-thread pauses; their helper threads' CPU is in the split below).
    const gcs = { minor: 0, major: 0, ms: 0 };
    let counting = false;
    const gcObserver = new PerformanceObserver((list) => {
      if (!counting) return;
      for (const e of list.getEntries()) {
        const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
        if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
        else gcs.major++;
        gcs.ms += e.duration;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    cleanup.add(() => gcObserver.disconnect());
    for (let i = 0; i < warmup + rounds; i++) {
      if (i === warmup) {
        ticks0 = threadTicks();
        counting = true;
      }
      if (i === warmup && profDir) {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
        await profiler.post('Profiler.start');
      }
      const d = await cpuMs(() => downloadArtifacts(session, id));
      const esphomeDataDir = join(root, `esphome-${i}`);
      await mkdir(esphomeDataDir);
      // As remote-builds.ts stages a job's artifacts, but reading the device name from the YAML
      // (a remote job now passes the name it read at submit: ~1 ms less than measured here).
      const s = await cpuMs(() => materializeArtifacts({ tarball: d.value.tarball, configDir, configuration: 'living-room.yaml', esphomeDataDir }));
      bytes = d.value.tarball.length;
      if (i < warmup) continue;
      dl.push(d.ms);
      stage.push(s.ms);
      mbps.push(bytes / 1e6 / (d.wallMs / 1000));
      ctx.log(`    round ${i - warmup + 1}: download ${d.ms.toFixed(1)} ms CPU (user ${d.userMs.toFixed(1)} + system ${d.systemMs.toFixed(1)}; ${d.wallMs.toFixed(1)} ms wall), staging ${s.ms.toFixed(1)} ms CPU (user ${s.userMs.toFixed(1)} + system ${s.systemMs.toFixed(1)})`);
    }
    counting = false;
    ctx.log(`    GC during the ${rounds} rounds: ${(gcs.minor / rounds).toFixed(1)} minor + ${(gcs.major / rounds).toFixed(1)} major per round, ${(gcs.ms / rounds).toFixed(1)} ms of pauses per round`);
    // Where the CPU went, by thread (ticks of 10 ms: a coarse split over all measured rounds).
    const ticks1 = threadTicks();
    const split = [...ticks1].map(([k, v]) => [k, v - (ticks0.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    ctx.log(`    CPU by thread over the ${rounds} rounds (download + staging): ${split.map(([k, v]) => `${k} ${(v * 10 / rounds).toFixed(1)} ms/round`).join(', ')}`);
    if (profiler && profDir) {
      const { profile } = await profiler.post('Profiler.stop');
      await mkdir(profDir, { recursive: true });
      const out = join(profDir, 'artifact-download.cpuprofile');
      await writeFile(out, JSON.stringify(profile));
      ctx.log(`    CPU profile of the ${rounds} measured rounds: ${out}`);
    }
    const note = (xs: number[]) => `${bytes} bytes; ${rounds} rounds after ${warmup} warm-up, median ${percentile(xs, 50).toFixed(1)}, min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}; process.cpuUsage of the sender (all its threads)`;
    return [
      { name: 'sender CPU per artifact download (decrypt, decode, assemble, SHA-256), mean', value: mean(dl), unit: 'ms', note: note(dl) },
      { name: 'sender CPU per artifact staging (tar extraction into the build tree), mean', value: mean(stage), unit: 'ms', note: note(stage) },
      { name: 'artifact download wall throughput, mean', value: mean(mbps), unit: 'MB/s', note: `${bytes} bytes; MB = 10^6 bytes (the P3 figure is \`npm run bench -- transfer\`)` },
    ];
  } finally {
    if (profiler) profiler.disconnect();
    await cleanup.run();
  }
}

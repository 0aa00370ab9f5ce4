// Bundle and artifact throughput through the encrypted peer-link session (target ≥ 200 MB/s):
// a 64 MiB bundle submitted (chunked, base64 in JSON, Noise-encrypted, reassembled and SHA-256
// checked by the server, acked) and a 64 MiB artifact download (the reverse, verified on our
// side). The server runs in its own process, the sender is composed by createApp.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { newJobId } from '../main/core/jobs/model';
import { downloadArtifacts, submitJob } from '../main/core/peer-link/offloader-jobs';
import { mean, type BenchContext, type BenchResult } from './lib/report';
import { Cleanup, startScriptedChild, startSender, tempDir } from './lib/stack';

const MIB = 1024 * 1024;
const TARGET_MBPS = 200;

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  try {
    const root = await tempDir(cleanup, 'kiln-bench-transfer-');
    const senderData = join(root, 'data');
    const size = 64 * MIB;
    const server = await startScriptedChild(cleanup, senderData, 'transfer', { BENCH_ARTIFACT_MIB: '64' });
    const app = await startSender(cleanup, join(root, 'config'), senderData, [server.pin]);
    const session = app.peerLink!.clients.getSession(server.pin);
    const bundle = randomBytes(size);
    const rounds = ctx.quick ? 2 : 4;

    // A cold first transfer of the full size (JIT, the hash workers starting, first-touch page
    // faults of fresh 64 MiB buffers on both sides), reported but not in the steady-state mean.
    const warm = newJobId();
    let t = performance.now();
    await submitJob(session, { jobId: warm, configurationFilename: 'bench.yaml', target: 'compile', bundle });
    const coldUp = size / 1e6 / ((performance.now() - t) / 1000);
    t = performance.now();
    const coldArt = await downloadArtifacts(session, warm);
    const coldDown = coldArt.tarball.length / 1e6 / ((performance.now() - t) / 1000);
    ctx.log(`    cold first transfer (not in the mean): bundle ${coldUp.toFixed(0)} MB/s, artifacts ${coldDown.toFixed(0)} MB/s`);

    const up: number[] = [];
    const down: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const id = newJobId();
      let t0 = performance.now();
      const ack = await submitJob(session, { jobId: id, configurationFilename: 'bench.yaml', target: 'compile', bundle });
      if (!ack.accepted) throw new Error(`bundle refused: ${ack.reason}`);
      up.push(size / 1e6 / ((performance.now() - t0) / 1000));
      t0 = performance.now();
      const art = await downloadArtifacts(session, id);
      down.push(art.tarball.length / 1e6 / ((performance.now() - t0) / 1000));
      ctx.log(`    round ${i + 1}: bundle ${up[i].toFixed(0)} MB/s, artifacts ${down[i].toFixed(0)} MB/s`);
    }
    const spread = (xs: number[], cold: number) =>
      `${rounds} warm rounds, min ${Math.min(...xs).toFixed(0)} / max ${Math.max(...xs).toFixed(0)} MB/s; cold first transfer ${cold.toFixed(0)} MB/s; MB = 10^6 bytes`;
    return [
      { name: 'bundle upload 64 MiB (submit → ack)', value: mean(up), unit: 'MB/s', target: TARGET_MBPS, better: 'higher', note: spread(up, coldUp) },
      { name: 'artifact download 64 MiB (verified)', value: mean(down), unit: 'MB/s', target: TARGET_MBPS, better: 'higher', note: spread(down, coldDown) },
    ];
  } finally {
    await cleanup.run();
  }
}

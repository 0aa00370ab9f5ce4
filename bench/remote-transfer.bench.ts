// P3: bundle and artifact throughput through the encrypted session against the REAL build server
// code (`kiln receiver` child: listener, session, submit intake, workspace extraction, the
// simulator's compile, the artifact packer) — target ≥ 200 MB/s.
//   upload   = a real `esphome bundle` tarball grown with a fresh random member each round (so no
//              side can reuse a digest or a buffer from a previous round), submit → accepted ack;
//   download = the artifacts of that round's real compile (the simulator's ESP32 images, a few
//              MB, as a user's firmware), download_artifacts → verified tarball on our side.
// The first round is reported apart as the cold transfer (JIT, first-touch page faults).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { buffer as streamToBuffer } from 'node:stream/consumers';
import { createGzip, gunzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { newJobId } from '../main/core/jobs/model';
import { downloadArtifacts, submitJob } from '../main/core/peer-link/sender-jobs';
import { mean, type BenchContext, type BenchResult } from './lib/report';
import { Cleanup, startPairedSenderWithBundle, whenRemoteDone } from './lib/stack';

const MIB = 1024 * 1024;
const TARGET_MBPS = 200;
const KEY = 'WQRT-TMEE-XFER-2345';

/** The sim's bundle with one more member of `padBytes` fresh random bytes (stored, like firmware). */
async function grownBundle(base: Buffer, padBytes: number, round: number): Promise<Buffer> {
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
      pack.entry({ name: entry.header.name, mode: entry.header.mode }, Buffer.concat(chunks));
    }
    pack.entry({ name: `assets/bench-${round}.bin` }, randomBytes(padBytes));
    pack.finalize();
  })();
  Readable.from([gunzipSync(base)]).pipe(extract);
  const [gz] = await Promise.all([streamToBuffer(pack.pipe(createGzip({ level: 0, chunkSize: MIB }))), done]);
  return gz;
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  try {
    const { session, bundle: base } = await startPairedSenderWithBundle(cleanup, 'kiln-bench-transfer-', KEY);
    const padBytes = (ctx.quick ? 8 : 64) * MIB;
    const rounds = ctx.quick ? 2 : 5;

    const up: number[] = [];
    const down: number[] = [];
    let artifactBytes = 0;
    let bundleBytes = 0;
    for (let i = 0; i <= rounds; i++) {
      const bundle = await grownBundle(base, padBytes, i);
      bundleBytes = bundle.length;
      const id = newJobId();
      const done = whenRemoteDone(session, id, 120_000);
      let t0 = performance.now();
      const ack = await submitJob(session, { jobId: id, configurationFilename: 'living-room.yaml', target: 'compile', bundle });
      if (!ack.accepted) throw new Error(`bundle refused: ${ack.reason}`);
      const upMBps = bundle.length / 1e6 / ((performance.now() - t0) / 1000);
      const status = await done;
      if (status !== 'completed') throw new Error(`remote compile ${status}`);
      t0 = performance.now();
      const art = await downloadArtifacts(session, id);
      const downMBps = art.tarball.length / 1e6 / ((performance.now() - t0) / 1000);
      artifactBytes = art.tarball.length;
      if (i === 0) {
        ctx.log(`    cold first transfer (not in the mean): bundle ${upMBps.toFixed(0)} MB/s, artifacts ${downMBps.toFixed(0)} MB/s`);
        up.unshift(upMBps);
        down.unshift(downMBps);
        continue;
      }
      up.push(upMBps);
      down.push(downMBps);
      ctx.log(`    round ${i}: bundle ${upMBps.toFixed(0)} MB/s, artifacts ${downMBps.toFixed(0)} MB/s`);
    }
    const [coldUp = NaN, ...warmUp] = up;
    const [coldDown = NaN, ...warmDown] = down;
    const note = (xs: number[], cold: number, bytes: number) =>
      `${bytes} bytes; ${rounds} warm rounds, min ${Math.min(...xs).toFixed(0)} / max ${Math.max(...xs).toFixed(0)} MB/s; cold first transfer ${cold.toFixed(0)} MB/s; real kiln receiver, fresh bytes every round; MB = 10^6 bytes`;
    return [
      { name: `bundle upload ${(bundleBytes / MIB).toFixed(0)} MiB (submit → ack), warm mean`, value: mean(warmUp), unit: 'MB/s', target: TARGET_MBPS, better: 'higher', note: note(warmUp, coldUp, bundleBytes) },
      { name: `artifact download (real compile's artifacts, verified), warm mean`, value: mean(warmDown), unit: 'MB/s', target: TARGET_MBPS, better: 'higher', note: note(warmDown, coldDown, artifactBytes) },
    ];
  } finally {
    await cleanup.run();
  }
}

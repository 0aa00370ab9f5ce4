// The worker-thread SHA-256 of large transfers: same digest as node:crypto on this thread,
// fallbacks when the worker gives up or is abandoned, the assembler's checks on that path, a
// process with a waiting worker still exits, and real 6 MiB transfers over a real session.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { offThreadHashWorkers, OffThreadSha256 } from '../offthread-sha256';
import { ARTIFACTS_MAX_TOTAL_BYTES, ChunkAssembler, chunkFrames, CHUNK_SIZE, sendFrames, sha256Hex, TransferError } from '../transfer';
import { downloadArtifacts, submitJob } from '../sender-jobs';
import { ScriptedServer } from '../../scheduler/test/harness/scripted-server';
import { TestSender } from '../../scheduler/test/harness/offloader';
import { startStack } from '../../build-server/test/harness';
import { bundleFor } from '../../build-server/test/tar-helpers';
import { must } from '../../../../test/support/must';

const MIB = 1024 * 1024;
const here = dirname(fileURLToPath(import.meta.url));

function assembler(bytes: Buffer, over: { sha256?: string; offThreadHashMinBytes?: number } = {}): ChunkAssembler {
  return new ChunkAssembler({
    totalBytes: bytes.length,
    numChunks: Math.ceil(bytes.length / CHUNK_SIZE),
    sha256: over.sha256 ?? sha256Hex(bytes),
    cap: ARTIFACTS_MAX_TOTAL_BYTES,
    offThreadHashMinBytes: over.offThreadHashMinBytes ?? 0,
  });
}

function feedAll(asm: ChunkAssembler, bytes: Buffer, from = 0, to = Infinity): void {
  const n = Math.ceil(bytes.length / CHUNK_SIZE);
  for (let i = from; i < Math.min(n, to); i++) asm.feedBytes(i, bytes.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE), i === n - 1);
}

describe('OffThreadSha256', () => {
  afterEach(async () => {
    // Every test leaves its worker free again.
    await waitUntil(() => offThreadHashWorkers().busy === 0, { what: 'busy hash workers === 0' });
  });

  it('gives node:crypto’s digest of the bytes, written in uneven pieces with pauses', async () => {
    const data = randomBytes(3 * MIB + 17);
    const h = OffThreadSha256.start(data.length)!;
    expect(h).toBeDefined();
    expect(h.buffer.length).toBe(data.length);
    let off = 0;
    for (const step of [1, 100_000, 7, 2 * MIB, 1]) {
      h.append(data.subarray(off, off + step));
      off += step;
      expect(h.length).toBe(off);
      await new Promise((r) => setImmediate(r));
    }
    expect(() => h.append(Buffer.alloc(data.length))).toThrow(RangeError);
    h.append(data.subarray(off));
    expect(h.buffer.equals(data)).toBe(true);
    expect(h.digestHex()).toBe(createHash('sha256').update(data).digest('hex'));
    // Once answered it has nothing more to give.
    expect(h.digestHex()).toBeUndefined();
  });

  it('a writer racing the hashing worker gives the right digest, slow or fast', async () => {
    const data = randomBytes(24 * MIB + 5);
    for (let round = 0; round < 3; round++) {
      const h = OffThreadSha256.start(data.length)!;
      // Slow first (the worker waits for bytes), then fast (the worker lags behind the writer).
      for (let off = 0; off < data.length; off += CHUNK_SIZE) {
        h.append(data.subarray(off, off + CHUNK_SIZE));
        if (off < 2 * MIB && round === 1) await new Promise((r) => setImmediate(r));
      }
      expect(h.buffer.equals(data)).toBe(true);
      expect(h.digestHex()).toBe(sha256Hex(data));
      await waitUntil(() => offThreadHashWorkers().busy === 0, { what: 'busy hash workers === 0' });
    }
  });

  it('a worker that sees no new bytes for idleMs gives up: the owner gets undefined, not a wait', async () => {
    const h = OffThreadSha256.start(1000, { idleMs: 30 })!;
    h.append(Buffer.alloc(10, 1));
    // The worker reports giving up by freeing itself: wait for that, not for a guessed time.
    await waitUntil(() => offThreadHashWorkers().busy === 0, { what: 'busy hash workers === 0' });
    const t0 = Date.now();
    expect(h.digestHex()).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('abandon frees the worker for the next transfer', async () => {
    const h = OffThreadSha256.start(1000)!;
    h.append(Buffer.alloc(10, 1));
    await waitUntil(() => offThreadHashWorkers().busy === 1, { what: 'busy hash workers === 1' });
    h.abandon();
    await waitUntil(() => offThreadHashWorkers().busy === 0, { what: 'busy hash workers === 0' });
    expect(h.digestHex()).toBeUndefined();
  });

  it('a process with a worker waiting for bytes still exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-offthread-'));
    try {
      const script = join(dir, 'waits.mts');
      writeFileSync(
        script,
        `import { OffThreadSha256 } from ${JSON.stringify(resolve(here, '../offthread-sha256.ts'))};
const h = OffThreadSha256.start(1 << 20);
h.append(Buffer.alloc(100));
setTimeout(() => process.stdout.write('still here\\n'), 50);\n`,
      );
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: resolve(here, '../../../..'), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      let code: number | string | undefined;
      child.on('exit', (c, sig) => (code = c ?? sig ?? 'signal'));
      try {
        // A worker that kept the process alive would time this out.
        await waitUntil(() => code !== undefined, { what: () => `the child to exit by itself (output: ${out})` });
      } finally {
        if (code === undefined) child.kill('SIGKILL');
      }
      expect(code, out).toBe(0);
      expect(out).toContain('still here');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ChunkAssembler hashing on a worker', () => {
  afterEach(async () => {
    await waitUntil(() => offThreadHashWorkers().busy === 0, { what: 'busy hash workers === 0' });
  });

  it('large payloads go to the worker by default, small ones stay here', () => {
    const big = randomBytes(4 * MIB);
    const byDefault = new ChunkAssembler({ totalBytes: big.length, numChunks: 128, sha256: sha256Hex(big), cap: ARTIFACTS_MAX_TOTAL_BYTES });
    feedAll(byDefault, big);
    expect(byDefault.hashedOffThread).toBe(true);
    expect(byDefault.finalize().equals(big)).toBe(true);
    const small = randomBytes(CHUNK_SIZE * 3);
    const s = new ChunkAssembler({ totalBytes: small.length, numChunks: 3, sha256: sha256Hex(small), cap: ARTIFACTS_MAX_TOTAL_BYTES });
    feedAll(s, small);
    expect(s.hashedOffThread).toBe(false);
    expect(s.finalize().equals(small)).toBe(true);
  });

  it('verifies the payload: the right digest passes, a wrong one and one altered byte are hash_mismatch', async () => {
    const bytes = randomBytes(CHUNK_SIZE * 40 + 5);
    const ok = assembler(bytes);
    feedAll(ok, bytes);
    expect(ok.hashedOffThread).toBe(true);
    expect(ok.finalize().equals(bytes)).toBe(true);
    expect(ok.finalize().equals(bytes)).toBe(true); // idempotent

    const wrong = assembler(bytes, { sha256: sha256Hex(Buffer.from('other')) });
    feedAll(wrong, bytes);
    expect(wrong.hashedOffThread).toBe(true);
    expect(() => wrong.finalize()).toThrow(TransferError);
    expect(() => wrong.finalize()).toThrow(/does not match/);

    const altered = Buffer.from(bytes);
    altered[CHUNK_SIZE * 20 + 3] = must(altered[CHUNK_SIZE * 20 + 3]) ^ 1;
    await waitUntil(() => offThreadHashWorkers().busy === 0, { what: 'busy hash workers === 0' });
    const bad = assembler(bytes);
    feedAll(bad, altered);
    expect(bad.hashedOffThread).toBe(true);
    let code = '';
    try {
      bad.finalize();
    } catch (err) {
      code = (err as TransferError).code;
    }
    expect(code).toBe('hash_mismatch');
  });

  it('every §7.1 check still applies, and a failed transfer frees its worker', async () => {
    const bytes = randomBytes(CHUNK_SIZE * 10);
    const skip = assembler(bytes);
    feedAll(skip, bytes, 0, 3);
    expect(() => skip.feedBytes(4, bytes.subarray(0, CHUNK_SIZE), false)).toThrow(/expected 3/);
    const early = assembler(bytes);
    expect(() => early.feedBytes(0, bytes.subarray(0, CHUNK_SIZE), true)).toThrow(/is_last=true/);
    const over = assembler(bytes);
    feedAll(over, bytes, 0, 9);
    expect(() => over.feedBytes(9, Buffer.alloc(CHUNK_SIZE + 1), true)).toThrow(/brings/);
    const badB64 = assembler(bytes);
    expect(() => badB64.feed(0, 'QUJD*', false)).toThrow(/invalid base64/);
    const short = assembler(bytes);
    feedAll(short, bytes, 0, 5);
    expect(() => short.finalize()).toThrow(/last chunk not seen/);
    await waitUntil(() => offThreadHashWorkers().busy <= 1, { what: 'busy hash workers <= 1' }); // `short` is merely unfinished
  });

  it('when every worker is busy, a transfer hashes on this thread with the same result', () => {
    const payloads = [0, 1, 2, 3].map(() => randomBytes(CHUNK_SIZE * 8));
    const asms = payloads.map((p) => assembler(p));
    payloads.forEach((p, i) => feedAll(must(asms[i]), p));
    expect(asms.some((a) => a.hashedOffThread)).toBe(true);
    expect(asms.some((a) => !a.hashedOffThread)).toBe(true);
    asms.forEach((a, i) => expect(a.finalize().equals(must(payloads[i]))).toBe(true));
  });
});

describe('6 MiB bundle and artifacts over a real session (worker-hashed on both ends)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('submit and download arrive intact; a download announcing a wrong digest is refused', async () => {
    const { identityFromPrivateKey } = await import('../identity');
    const { generateX25519KeyPair } = await import('../x25519');
    const { newDashboardId } = await import('../dashboard-id');
    const identity = identityFromPrivateKey(generateX25519KeyPair().privateKey);
    const dashboardId = newDashboardId();
    const artifact = randomBytes(6 * MIB + 123);
    const srv = await ScriptedServer.start({ sender: { identity, dashboardId }, artifacts: (id) => (id === 'abcdefabcdef' ? artifact : new Promise<never>(() => undefined)) });
    cleanups.push(() => srv.dispose());
    const off = await TestSender.start([{ pin: srv.pin, publicKey: srv.identity.publicKey, port: srv.port, label: 'Attic' }], { identity, dashboardId });
    cleanups.push(() => off.dispose());
    await off.waitConnected([srv.pin]);
    const session = off.clients.getSession(srv.pin);

    const bundle = randomBytes(6 * MIB + 7);
    const ack = await submitJob(session, { jobId: 'abcdefabcdef', configurationFilename: 'x.yaml', target: 'compile', bundle });
    expect(ack.accepted).toBe(true);
    const job = await srv.nextJob();
    expect(job.bundle.equals(bundle)).toBe(true);

    const art = await downloadArtifacts(session, 'abcdefabcdef');
    expect(art.tarball.equals(artifact)).toBe(true);
    expect(art.sha256).toBe(sha256Hex(artifact));

    // The server announces the digest of other bytes, then sends these.
    const live = srv.session!;
    const wrongDigest = downloadArtifacts(session, 'bbbbbbbbbbbb');
    await waitUntil(() => srv.received.some((m) => m.type === 'download_artifacts' && m.job_id === 'bbbbbbbbbbbb'), { what: 'the download_artifacts request' });
    await live.send({ type: 'artifacts_start', job_id: 'bbbbbbbbbbbb', total_bytes: artifact.length, num_chunks: Math.ceil(artifact.length / CHUNK_SIZE), artifacts_sha256: sha256Hex(bundle), firmware_offset: '0x0' });
    await sendFrames(live, chunkFrames('artifacts_chunk', 'bbbbbbbbbbbb', artifact));
    await live.send({ type: 'artifacts_end', job_id: 'bbbbbbbbbbbb', accepted: true });
    await expect(wrongDigest).rejects.toMatchObject({ code: 'hash_mismatch' });
  }, 30_000);
});

describe('a 5 MiB bundle through the real receiver (payload in a SharedArrayBuffer)', () => {
  it('is verified, extracted and queued with its files intact', async () => {
    process.env.ESPHOME_SIM_SPEED = '0';
    const stack = await startStack();
    try {
      const s = await stack.connect('Laptop');
      const pad = randomBytes(5 * MIB);
      const bundle = await bundleFor('big-room.yaml', 'esphome:\n  name: big-room\n', [{ name: 'pad.bin', data: pad }]);
      expect(bundle.length).toBeGreaterThan(4 * MIB);
      const ack = await submitJob(s.session, { jobId: 'cccccccccccc', configurationFilename: 'big-room.yaml', target: 'compile', bundle });
      expect(ack).toEqual({ jobId: 'cccccccccccc', accepted: true });
      await waitUntil(() => stack.engine.getJobs().some((j) => j.remote_job_id === 'cccccccccccc'), { what: 'the submitted job queued on the build server' });
      const extracted = readFileSync(join(stack.dir, 'remote_builds', s.key, 'big-room', 'pad.bin'));
      expect(extracted.equals(pad)).toBe(true);
    } finally {
      await stack.stop();
    }
  }, 30_000);
});

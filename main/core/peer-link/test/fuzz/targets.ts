// The peer-link fuzz targets. Each runs `n` seeded inputs against the real module and returns
// what happened; a "crash" is anything thrown that is not the module's documented refusal
// (or a hostile input the module accepted where it must refuse).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAppFrame, parseJobOutput, parseJobStateChanged, parsePingPong, parseQueueStatus, parseTerminate } from '../../frames';
import { normalisePairRequest, normalisePeerLink, parseIntentMessage, parseIntentPayload } from '../../intents';
import { HandshakeState, type TransportCiphers } from '../../noise';
import { NoisePeerSession } from '../../session';
import { ChunkAssembler, decodeChunkFrame, TransferError } from '../../transfer';
import type { ChannelHandlers, WsChannel } from '../../ws-channel';
import { BundleExtractError, extractBundle } from '../../../build-server/bundle-extract';
import { readTarGzSafely, UnsafeArchiveError } from '../../../build-server/safe-tar';
import { SubmitIntake } from '../../../build-server/submit-intake';
import { parseChunk, parseSubmitHeader, type SubmitReason } from '../../../build-server/frame-parse';
import { generateX25519KeyPair } from '../../x25519';
import { anyValue, hostileObject, hostilePlaintext, hostileTarball, submitFrames, type Rng } from './gen';

export interface TargetResult {
  target: string;
  inputs: number;
  crashes: number;
  /** Outcome counts (e.g. refused / accepted / session closed). */
  outcomes: Record<string, number>;
  firstCrash?: string;
  ms: number;
}

function result(target: string): TargetResult & { t0: number; bump(k: string): void; crash(e: unknown, what: string): void } {
  const r = {
    target,
    inputs: 0,
    crashes: 0,
    outcomes: {} as Record<string, number>,
    firstCrash: undefined as string | undefined,
    ms: 0,
    t0: performance.now(),
    bump(k: string) {
      r.outcomes[k] = (r.outcomes[k] ?? 0) + 1;
    },
    crash(e: unknown, what: string) {
      r.crashes += 1;
      r.firstCrash ??= `${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    },
  };
  return r;
}

function done(r: ReturnType<typeof result>): TargetResult {
  return { target: r.target, inputs: r.inputs, crashes: r.crashes, outcomes: r.outcomes, firstCrash: r.firstCrash, ms: Math.round(performance.now() - r.t0) };
}

/** Frame decoder, every validator and the intent parsers on hostile plaintext. */
export function fuzzDecoder(rng: Rng, n: number): TargetResult {
  const r = result('frame decoder + validators + intent parsers');
  for (let i = 0; i < n; i++) {
    const plain = hostilePlaintext(rng);
    r.inputs += 1;
    try {
      decodeChunkFrame(plain);
      const m = decodeAppFrame(plain);
      if (m) {
        r.bump('decoded');
        parsePingPong(m);
        parseTerminate(m);
        parseQueueStatus(m);
        parseJobOutput(m);
        parseJobStateChanged(m);
        parseSubmitHeader(m);
        parseChunk(m);
      } else r.bump('malformed');
      const intent = parseIntentMessage(plain);
      if (intent) r.bump('intent');
      const payload = parseIntentPayload(plain);
      normalisePairRequest(payload);
      normalisePeerLink(payload);
    } catch (e) {
      r.crash(e, `decoder input ${plain.toString('base64').slice(0, 200)}`);
    }
  }
  return done(r);
}

class FakeChannel {
  handlers: ChannelHandlers | undefined;
  closed = false;
  sent = 0;
  bufferedAmount = 0;
  attach(h: ChannelHandlers): void {
    this.handlers = h;
  }
  send(): Promise<void> {
    this.sent += 1;
    return Promise.resolve();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.onClose({ code: 1000, reason: '' });
  }
  terminate(): void {
    this.close();
  }
  get isClosed(): boolean {
    return this.closed;
  }
}

function cipherPair(): { offloader: TransportCiphers; receiver: TransportCiphers; pin: string; key: Buffer } {
  const a = generateX25519KeyPair();
  const b = generateX25519KeyPair();
  const i = new HandshakeState({ initiator: true, staticKeyPair: a });
  const rsp = new HandshakeState({ initiator: false, staticKeyPair: b });
  rsp.readMessage(i.writeMessage());
  i.readMessage(rsp.writeMessage());
  rsp.readMessage(i.writeMessage());
  return { offloader: i.transport(), receiver: rsp.transport(), pin: 'f'.repeat(64), key: Buffer.from(a.publicKey) };
}

/**
 * Receiver sessions fed hostile frame sequences (encrypted hostile JSON, valid-but-hostile
 * submits, and raw garbage / oversize / text frames that must end the session with
 * malformed_frame), with the submit intake listening as the build server does.
 */
export async function fuzzSession(rng: Rng, n: number, bundles: Buffer[]): Promise<TargetResult> {
  const r = result('receiver session + submit intake (in-memory Noise transport)');
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    while (r.inputs < n) {
      const { offloader, receiver, pin, key } = cipherPair();
      const channel = new FakeChannel();
      const session = new NoisePeerSession({ role: 'receiver', pin, remoteStaticKey: key, channel: channel as unknown as WsChannel, ciphers: receiver, heartbeatIntervalMs: 3_600_000 });
      const acks: Array<{ accepted: boolean; reason?: SubmitReason }> = [];
      const intake = new SubmitIntake({
        maxBundleBytes: 256 * 1024,
        ack: (_j, accepted, reason) => void acks.push({ accepted, reason }),
        terminate: (detail) => void session.close('malformed_frame', detail),
        isExtracting: () => false,
        onAccepted: () => r.bump('bundle accepted'),
      });
      session.onMessage((m) => {
        if (m.type === 'submit_job') intake.header(m);
        else if (m.type === 'submit_job_chunk') intake.chunk(m);
      });
      await new Promise((res) => setImmediate(res));
      const frames: Array<{ data: Buffer; binary: boolean; mustClose: boolean }> = [];
      const len = 1 + rng.int(60);
      while (frames.length < len) {
        const k = rng.int(20);
        if (k === 0) frames.push({ data: rng.bytes(rng.int(100)), binary: true, mustClose: true });
        else if (k === 1) frames.push({ data: Buffer.alloc(61_441 + rng.int(1000)), binary: true, mustClose: true });
        else if (k === 2) frames.push({ data: Buffer.from('{"type":"ping","nonce":1}'), binary: false, mustClose: true });
        else if (k < 6) {
          for (const f of submitFrames(rng, `job${rng.int(1000)}`, rng.pick(bundles), 1 + rng.int(4096))) frames.push({ data: offloader.send.encrypt(Buffer.from(JSON.stringify(f))), binary: true, mustClose: false });
        } else frames.push({ data: offloader.send.encrypt(hostilePlaintext(rng)), binary: true, mustClose: false });
      }
      for (const f of frames) {
        if (session.closed) break;
        r.inputs += 1;
        try {
          channel.handlers!.onFrame({ data: f.data, binary: f.binary });
        } catch (e) {
          r.crash(e, 'session onFrame');
        }
        if (f.mustClose && !session.closed) r.crash(new Error('a malformed frame did not end the session'), 'session rule');
      }
      r.bump(session.closed ? `closed:${session.closeReason}` : 'survived');
      for (const a of acks) r.bump(a.accepted ? 'ack accepted' : `ack ${a.reason}`);
      await session.close('client_stopped');
    }
    await new Promise((res) => setImmediate(res));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  for (const e of unhandled) r.crash(e, 'unhandled rejection');
  return done(r);
}

/** The chunk assembler fed random announcements and chunk streams. */
export function fuzzAssembler(rng: Rng, n: number): TargetResult {
  const r = result('chunk assembler');
  while (r.inputs < n) {
    const total = rng.pick([0, -1, 1, 100, 4096, 70_000, 300_000, 2 ** 40, 1.5]);
    const chunks = rng.pick([0, 1, 2, 3, 17, -2]);
    r.inputs += 1;
    let a: ChunkAssembler;
    try {
      a = new ChunkAssembler({ totalBytes: total, numChunks: chunks, sha256: rng.chance(0.5) ? 'a'.repeat(64) : anyValue(rng) as string, cap: 256 * 1024 });
    } catch (e) {
      if (e instanceof TransferError) r.bump(`refused ${e.code}`);
      else r.crash(e, 'assembler constructor');
      continue;
    }
    for (let i = 0, m = 1 + rng.int(6); i < m; i++) {
      r.inputs += 1;
      try {
        const idx = rng.chance(0.8) ? i : rng.pick([-1, i + 1, 0, 2 ** 31, 1.5]);
        const data = rng.chance(0.8) ? rng.bytes(rng.int(Math.min(8192, Math.max(1, total)))).toString('base64') : (anyValue(rng) as string);
        const last = rng.chance(0.3);
        a.feed(idx, data, last);
        if (last) {
          a.finalize();
          r.bump('finalized');
          break;
        }
      } catch (e) {
        if (e instanceof TransferError) {
          r.bump(`refused ${e.code}`);
          break;
        }
        r.crash(e, 'assembler feed');
        break;
      }
    }
  }
  return done(r);
}

/**
 * Tar validation: hostile tarballs through the in-memory reader, and every `extractEvery`-th
 * through the full bundle extraction into a real directory, checking nothing lands outside it.
 */
export async function fuzzTar(rng: Rng, n: number, extractEvery: number): Promise<TargetResult> {
  const r = result('tar validation (readTarGzSafely, extractBundle)');
  const base = await mkdtemp(join(tmpdir(), 'kiln-fuzz-tar-'));
  const root = join(base, 'remote_builds');
  try {
    for (let i = 0; i < n; i++) {
      const gz = await hostileTarball(rng);
      r.inputs += 1;
      try {
        const members = await readTarGzSafely(gz, { maxUncompressedBytes: 1024 * 1024 });
        r.bump('read ok');
        if (members.some((m) => m.name.split('/').includes('..') || m.name.startsWith('/'))) r.crash(new Error('unsafe member admitted'), 'tar rule');
      } catch (e) {
        if (e instanceof UnsafeArchiveError) r.bump('read refused');
        else r.crash(e, 'readTarGzSafely');
      }
      if (i % extractEvery === 0) {
        r.inputs += 1;
        try {
          await extractBundle({ bundle: gz, root, deviceDir: join(root, 'sender', 'kitchen'), configurationFilename: 'kitchen.yaml', maxUncompressedBytes: 1024 * 1024 });
          r.bump('extract ok');
        } catch (e) {
          if (e instanceof BundleExtractError) r.bump('extract refused');
          else r.crash(e, 'extractBundle');
        }
        const outside = (await readdir(base)).filter((x) => x !== 'remote_builds');
        if (outside.length > 0) r.crash(new Error(`extraction wrote outside the root: ${outside.join(', ')}`), 'tar rule');
      }
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
  return done(r);
}

/** Valid bundles of a few sizes for the session target. */
export async function sampleBundles(rng: Rng): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < 12; i++) out.push(await hostileTarball(rng));
  return out;
}

export { hostileObject };

// Chunked transfers over the peer-link session (peer-link-protocol.md §7): the sender side
// (`splitChunks`) and the receiving assembler (`ChunkAssembler`, §7.1). Shared by bundles
// (offloader → receiver) and artifact tarballs (receiver → offloader); only the cap differs.
import { createHash, type Hash } from 'node:crypto';
import type { PeerMessage } from './frames';
import { OffThreadSha256 } from './offthread-sha256';
import { decodeBase64Strict as decodeStrict, PREENCODED_JSON } from './strict-json';

export const CHUNK_SIZE = 32_768;
export const MIB = 1024 * 1024;
/** `BUNDLE_MAX_TOTAL_BYTES` upstream. */
export const BUNDLE_MAX_TOTAL_BYTES = 128 * MIB;
/** `FIRMWARE_MAX_TOTAL_BYTES` upstream: artifact tarball and the uncompressed sum of its members. */
export const ARTIFACTS_MAX_TOTAL_BYTES = 64 * MIB;
/** `APP_FRAME_MAX_BYTES`: ciphertext cap of one application frame. */
export const APP_FRAME_MAX_BYTES = 61_440;
/** ChaCha20-Poly1305 tag added to every transport message. */
export const NOISE_TAG_BYTES = 16;

/** §7.1 reason codes, in check order. */
export const ASSEMBLER_REASONS = [
  'empty_bundle',
  'chunk_count_mismatch',
  'oversized',
  'post_completion',
  'out_of_order',
  'undersized',
  'hash_mismatch',
] as const;
export type AssemblerReason = (typeof ASSEMBLER_REASONS)[number];

export class TransferError extends Error {
  constructor(
    readonly code: AssemblerReason,
    message: string,
  ) {
    super(message);
    this.name = 'TransferError';
  }
}

export interface ChunkFields {
  chunk_index: number;
  data_b64: string;
  is_last: boolean;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Slices `bytes` into consecutive `chunkSize` pieces (the last may be shorter) and returns the
 * chunk-frame fields. An empty payload is never sent, so it is a programming error here.
 */
export function splitChunks(bytes: Uint8Array, chunkSize: number = CHUNK_SIZE): ChunkFields[] {
  if (bytes.length === 0) throw new Error('splitChunks: an empty payload is never sent');
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error(`splitChunks: bad chunk size ${chunkSize}`);
  const n = Math.ceil(bytes.length / chunkSize);
  const out: ChunkFields[] = [];
  for (let i = 0; i < n; i++) {
    const slice = bytes.subarray(i * chunkSize, Math.min(bytes.length, (i + 1) * chunkSize));
    out.push({ chunk_index: i, data_b64: Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength).toString('base64'), is_last: i === n - 1 });
  }
  return out;
}

/**
 * Strict base64 decode (RFC 4648 §4 standard alphabet, `=` padding, no whitespace or line
 * breaks); `null` for anything else. See strict-json.ts `decodeBase64Strict`.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  return decodeStrict(text) ?? null;
}

/** Number of chunks `splitChunks` / `chunkFrames` produce for `totalBytes` (throws like them). */
export function chunkCount(totalBytes: number, chunkSize: number = CHUNK_SIZE): number {
  if (totalBytes === 0) throw new Error('splitChunks: an empty payload is never sent');
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error(`splitChunks: bad chunk size ${chunkSize}`);
  return Math.ceil(totalBytes / chunkSize);
}

/** How many frames of a bulk transfer may be handed to the session before the oldest settled. */
export const SEND_WINDOW_FRAMES = 16;

/**
 * Sends `frames` in order, keeping up to `window` sends in flight instead of waiting for each
 * one to reach the socket (the session takes each frame's nonce synchronously, so wire order is
 * call order). Checks `stop()` before every frame (an early answer ends the stream). Resolves
 * once every sent frame was handed to the socket; rejects with the first send failure.
 */
export async function sendFrames(
  session: { send(msg: PeerMessage): Promise<void> },
  frames: Iterable<PeerMessage>,
  opts: { window?: number; stop?: () => boolean } = {},
): Promise<void> {
  const window = Math.max(1, opts.window ?? SEND_WINDOW_FRAMES);
  const inflight: Promise<void>[] = [];
  for (const frame of frames) {
    if (opts.stop?.()) break;
    const sent = session.send(frame);
    // Observed below (in order); the no-op keeps a later failure from going unhandled if an
    // earlier one already ended the loop.
    sent.catch(() => undefined);
    inflight.push(sent);
    if (inflight.length >= window) await inflight.shift();
  }
  for (const sent of inflight) await sent;
}

export type ChunkFrameType = 'submit_job_chunk' | 'artifacts_chunk';

/** A chunk frame as sent and as decoded: `{type, job_id, chunk_index, data_b64, is_last}`. */
export type ChunkMessage = PeerMessage & ChunkFields & { job_id: string };

/**
 * The chunk frames of `bytes`, produced one at a time (a 64 MiB payload never exists as 2048
 * strings at once), in `splitChunks` order and field order. Each carries its JSON bytes built
 * directly (prefix, the base64 text written as latin1, suffix) so the session does not have to
 * run JSON.stringify over 43 KB of base64 and then re-encode the result as UTF-8 (measured:
 * ~40 ms vs ~330 ms of encoding per 64 MiB, docs/notes/performance.md). Each frame is frozen.
 */
export function* chunkFrames(type: ChunkFrameType, jobId: string, bytes: Uint8Array, chunkSize: number = CHUNK_SIZE): Generator<ChunkMessage> {
  const n = chunkCount(bytes.length, chunkSize);
  const head = `{"type":${JSON.stringify(type)},"job_id":${JSON.stringify(jobId)},"chunk_index":`;
  const headBytes = Buffer.byteLength(head, 'utf8');
  for (let i = 0; i < n; i++) {
    const slice = bytes.subarray(i * chunkSize, Math.min(bytes.length, (i + 1) * chunkSize));
    const b64 = Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength).toString('base64');
    const isLast = i === n - 1;
    const mid = `${i},"data_b64":"`;
    const tail = `","is_last":${isLast}}`;
    const json = Buffer.allocUnsafe(headBytes + mid.length + b64.length + tail.length);
    let off = json.write(head, 0, 'utf8');
    off += json.write(mid, off, 'latin1');
    off += json.write(b64, off, 'latin1');
    json.write(tail, off, 'latin1');
    const frame: ChunkMessage = { type, job_id: jobId, chunk_index: i, data_b64: b64, is_last: isLast };
    // Not enumerable: a copy made with `{ ...frame, … }` does not carry these bytes (it is
    // encoded from its own fields). Frozen: the frame is an immutable value, so the bytes can
    // never disagree with its fields (a write throws; encodeJson honours the bytes only on a
    // frozen object).
    Object.defineProperty(frame, PREENCODED_JSON, { value: json, enumerable: false });
    yield Object.freeze(frame);
  }
}

/** A chunk's `data_b64` already decoded and validated by `decodeChunkFrame` (into the scratch buffer). */
const DECODED_DATA: unique symbol = Symbol('peer-link.decoded-chunk-data');

interface DecodedData {
  text: string;
  /** Decoded byte count, at the start of `scratch`. */
  length: number;
  /** `scratchGeneration` when decoded: the bytes are still there only while it is current. */
  generation: number;
}

/**
 * Where `decodeChunkFrame` decodes a chunk's payload: one buffer reused for every frame instead of
 * a fresh 32 KiB allocation per chunk (~160 per 5 MB artifact download; together with the other
 * per-frame buffers they made V8 run a full mark-compact almost every download, see
 * docs/notes/performance.md). The bytes stay valid until the next frame is decoded; the consumers
 * use them synchronously in the same turn (the assembler copies them into its payload), and
 * anything later falls back to decoding the frame's text again (`scratchGeneration`).
 */
let scratch = Buffer.allocUnsafe(48 * 1024);
let scratchGeneration = 0;

const CHUNK_HEADS: ReadonlyArray<[string, ChunkFrameType]> = [
  ['{"type":"submit_job_chunk","job_id":"', 'submit_job_chunk'],
  ['{"type":"artifacts_chunk","job_id":"', 'artifacts_chunk'],
];
const INDEX_KEY = '","chunk_index":';
const DATA_KEY = ',"data_b64":"';
const LAST_TRUE = '","is_last":true}';
const LAST_FALSE = '","is_last":false}';
const QUOTE = 0x22;

function isAsciiDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function matchAt(buf: Buffer, at: number, text: string): boolean {
  return at + text.length <= buf.length && buf.toString('latin1', at, at + text.length) === text;
}

/** Value of each standard-alphabet base64 character, -1 for every other byte. */
const B64_VALUE = (() => {
  const t = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
})();
const EQ = 0x3d;

/**
 * `buf[start, end)` as text and its decoded bytes when that text is canonical standard base64
 * (what `bytes.toString('base64')` gives back exactly), else undefined. Equivalent to decoding
 * and comparing the re-encoding with the text, without the re-encoding (a full encode per chunk):
 * Node's decoder skips any byte outside its alphabet and stops at the first '=', so every such
 * byte (quote, backslash, control, non-ASCII, '=' before the tail, whitespace) leaves fewer bytes
 * than a text of that length must give; its alphabet also takes the url-safe '-' and '_', which
 * are refused outright; and a canonical encoding has zero padding bits in its last data character.
 * Differentially tested against the re-encoding check (test/transfer.test.ts).
 */
export function decodeCanonicalBase64(buf: Buffer, start: number, end: number): { text: string; bytes: Buffer } | undefined {
  const size = canonicalBase64Size(buf, start, end);
  if (size === undefined) return undefined;
  const text = buf.toString('latin1', start, end);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== size) return undefined;
  return { text, bytes };
}

/**
 * The byte count `buf[start, end)` decodes to when it passes the canonical-shape checks of
 * `decodeCanonicalBase64` (length, padding, no url-safe characters, zero padding bits); undefined
 * otherwise. The decoder's byte count must still equal it (that check catches every other byte).
 */
function canonicalBase64Size(buf: Buffer, start: number, end: number): number | undefined {
  const len = end - start;
  if (len < 0 || len % 4 !== 0) return undefined;
  let pad = 0;
  if (len > 0 && buf[end - 1] === EQ) pad = buf[end - 2] === EQ ? 2 : 1;
  if (pad === 2 && buf[end - 3] === EQ) return undefined;
  // memchr, not a byte loop (a hit past `end` does not count).
  const dash = buf.indexOf(0x2d, start);
  if (dash >= 0 && dash < end) return undefined;
  const under = buf.indexOf(0x5f, start);
  if (under >= 0 && under < end) return undefined;
  if (pad > 0) {
    const lastByte = buf[end - pad - 1];
    if (lastByte === undefined) return undefined; // `end` past the buffer: not a canonical text in it
    const last = B64_VALUE[lastByte] ?? -1;
    // One '=': the last character carries 2 unused bits; two: 4.
    if (last < 0 || (last & (pad === 1 ? 3 : 15)) !== 0) return undefined;
  }
  return (len / 4) * 3 - pad;
}

/**
 * `decodeCanonicalBase64` decoding into the start of the shared scratch buffer instead of a fresh
 * one (same verdict: the same checks, the same decoder, the same byte-count comparison).
 */
function decodeCanonicalBase64ToScratch(buf: Buffer, start: number, end: number): { text: string; length: number } | undefined {
  const size = canonicalBase64Size(buf, start, end);
  if (size === undefined) return undefined;
  const text = buf.toString('latin1', start, end);
  if (scratch.length < size) scratch = Buffer.allocUnsafe(size);
  const length = scratch.write(text, 0, size, 'base64');
  scratchGeneration++;
  if (length !== size) return undefined;
  return { text, length };
}

/**
 * Fast path for the bulk of transfer traffic: a chunk frame laid out exactly as `chunkFrames`
 * writes it (no whitespace, that key order, no escapes, canonical base64) is decoded without
 * UTF-8 decoding and JSON.parse of 43 KB, and its base64 is decoded once here. Returns undefined
 * for anything else, which then takes the general path: what this accepts is exactly what
 * JSON.parse would produce from the same bytes (every byte is printable ASCII and no string
 * needs unescaping), so behaviour does not depend on which path a frame took.
 */
export function decodeChunkFrame(plaintext: Uint8Array): ChunkMessage | undefined {
  if (plaintext.length < 64 || plaintext[0] !== 0x7b) return undefined;
  const buf = Buffer.isBuffer(plaintext) ? plaintext : Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  const found = CHUNK_HEADS.find(([head]) => matchAt(buf, 0, head));
  if (!found) return undefined;
  const [head, type] = found;
  // job_id: printable ASCII without backslash (so no escapes), up to its closing quote.
  const idStart = head.length;
  const idEnd = buf.indexOf(QUOTE, idStart);
  if (idEnd < 0 || idEnd - idStart > 256) return undefined;
  for (let k = idStart; k < idEnd; k++) {
    const c = buf[k];
    if (c === undefined || c < 0x20 || c > 0x7e || c === 0x5c) return undefined;
  }
  let p = idEnd;
  if (!matchAt(buf, p, INDEX_KEY)) return undefined;
  p += INDEX_KEY.length;
  // chunk_index: "0" or a non-zero digit then up to 14 more (a safe integer, JSON's number form).
  const digitsStart = p;
  while (p < buf.length && isAsciiDigit(buf[p])) p++;
  const digits = p - digitsStart;
  if (digits === 0 || digits > 15 || (digits > 1 && buf[digitsStart] === 0x30)) return undefined;
  const chunkIndex = Number(buf.toString('latin1', digitsStart, p));
  if (!matchAt(buf, p, DATA_KEY)) return undefined;
  const dataStart = p + DATA_KEY.length;
  const dataEnd = buf.indexOf(QUOTE, dataStart);
  if (dataEnd < 0) return undefined;
  let isLast: boolean;
  if (dataEnd + LAST_TRUE.length === buf.length && matchAt(buf, dataEnd, LAST_TRUE)) isLast = true;
  else if (dataEnd + LAST_FALSE.length === buf.length && matchAt(buf, dataEnd, LAST_FALSE)) isLast = false;
  else return undefined;
  const decoded = decodeCanonicalBase64ToScratch(buf, dataStart, dataEnd);
  if (!decoded) return undefined;
  const { text, length } = decoded;
  const msg: ChunkMessage = { type, job_id: buf.toString('latin1', idStart, idEnd), chunk_index: chunkIndex, data_b64: text, is_last: isLast };
  Object.defineProperty(msg, DECODED_DATA, { value: { text, length, generation: scratchGeneration } satisfies DecodedData, enumerable: false });
  return msg;
}

/**
 * A chunk frame's payload bytes, strictly decoded, as a view that is valid only until the next
 * frame is decoded (use it synchronously: `ChunkAssembler.feedBytes` copies it): the bytes
 * `decodeChunkFrame` decoded when `text` is still the frame's `data_b64` and no frame was decoded
 * since, else `decodeBase64Strict(text)`. `null` = invalid.
 */
export function chunkFrameBytes(msg: object, text: string): Buffer | null {
  const cached = (msg as { [DECODED_DATA]?: DecodedData })[DECODED_DATA];
  if (cached && cached.text === text && cached.generation === scratchGeneration) return scratch.subarray(0, cached.length);
  return decodeBase64Strict(text);
}

/** `chunkFrameBytes` as a fresh buffer owned by the caller (kept as long as it likes). */
export function chunkFrameData(msg: object, text: string): Buffer | null {
  const cached = (msg as { [DECODED_DATA]?: DecodedData })[DECODED_DATA];
  if (cached && cached.text === text && cached.generation === scratchGeneration) return Buffer.from(scratch.subarray(0, cached.length));
  return decodeBase64Strict(text);
}

export interface AssemblerOptions {
  totalBytes: number;
  numChunks: number;
  sha256: string;
  /** BUNDLE_MAX_TOTAL_BYTES or ARTIFACTS_MAX_TOTAL_BYTES. */
  cap: number;
  /**
   * Payloads of at least this many bytes are hashed on a worker thread as they arrive (see
   * offthread-sha256.ts); smaller ones, or when no worker is free, on this thread. Default
   * OFF_THREAD_HASH_MIN_BYTES; Infinity = never.
   */
  offThreadHashMinBytes?: number;
}

/** Below this a transfer is hashed on the receiving thread (a worker round trip is not worth it). */
export const OFF_THREAD_HASH_MIN_BYTES = 4 * MIB;

/** One fresh assembler per transfer (§7.1). Construction throws `TransferError` on a bad announcement. */
export class ChunkAssembler {
  readonly totalBytes: number;
  readonly numChunks: number;
  private readonly expectedSha: string;
  /**
   * The payload, allocated at the announced size (already checked against the cap) on the first
   * chunk: each chunk is copied in as it arrives, so finishing costs no concatenation of tens of
   * MiB after the last chunk.
   */
  private buffer: Buffer | null = null;
  // Hashed as chunks arrive (on a worker for large payloads, else here), so the check after the
  // last chunk does not start from scratch.
  private hash: Hash | null = null;
  private offThread: OffThreadSha256 | undefined;
  private readonly offThreadMin: number;
  private digest: string | undefined;
  private received = 0;
  private nextIndex = 0;
  private lastAccepted = false;
  private finalized: Buffer | null = null;

  constructor(opts: AssemblerOptions) {
    if (!(opts.totalBytes > 0)) throw new TransferError('empty_bundle', `announced total ${opts.totalBytes} bytes`);
    if (!(opts.numChunks > 0)) throw new TransferError('chunk_count_mismatch', `announced ${opts.numChunks} chunks`);
    if (opts.totalBytes > opts.cap) throw new TransferError('oversized', `announced ${opts.totalBytes} bytes exceeds the ${opts.cap}-byte cap`);
    this.totalBytes = opts.totalBytes;
    this.numChunks = opts.numChunks;
    this.expectedSha = String(opts.sha256).toLowerCase();
    this.offThreadMin = opts.offThreadHashMinBytes ?? OFF_THREAD_HASH_MIN_BYTES;
  }

  /** True when this transfer's hash is being computed on a worker thread (diagnostics, tests). */
  get hashedOffThread(): boolean {
    return this.offThread !== undefined;
  }

  get bytesReceived(): number {
    return this.received;
  }

  get complete(): boolean {
    return this.lastAccepted;
  }

  /** Generic feed: base64 failures map to `out_of_order` (the generic codec's code, §7.1). */
  feed(chunkIndex: number, dataB64: string, isLast: boolean, frame?: object): void {
    this.checkPosition(chunkIndex);
    // `frame`: the decoded chunk frame, whose base64 may already have been decoded (fast path).
    const bytes = frame ? chunkFrameBytes(frame, dataB64) : decodeBase64Strict(dataB64);
    if (!bytes) {
      this.offThread?.abandon();
      throw new TransferError('out_of_order', `chunk ${chunkIndex}: invalid base64`);
    }
    this.append(chunkIndex, bytes, isLast);
  }

  /** Feed already-decoded bytes (the submit path decodes first to report `chunk_decode_failed`). */
  feedBytes(chunkIndex: number, bytes: Uint8Array, isLast: boolean): void {
    this.checkPosition(chunkIndex);
    this.append(chunkIndex, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), isLast);
  }

  /** Returns the verified payload; idempotent once it has succeeded. */
  finalize(): Buffer {
    if (this.finalized) return this.finalized;
    if (!this.lastAccepted || this.received !== this.totalBytes) {
      throw new TransferError('undersized', `received ${this.received} of ${this.totalBytes} bytes${this.lastAccepted ? '' : ' (last chunk not seen)'}`);
    }
    this.digest ??= this.computeDigest();
    const digest = this.digest;
    if (digest !== this.expectedSha) throw new TransferError('hash_mismatch', `sha256 ${digest} does not match the announced ${this.expectedSha}`);
    const payload = this.buffer!;
    this.finalized = payload;
    return payload;
  }

  private computeDigest(): string {
    if (this.offThread) {
      const hex = this.offThread.digestHex();
      if (hex !== undefined) return hex;
      // The worker gave up or did not answer: hash the same bytes here.
      return sha256Hex(this.buffer!);
    }
    return this.hash!.digest('hex');
  }

  private checkPosition(chunkIndex: number): void {
    if (this.lastAccepted) throw new TransferError('post_completion', `chunk ${chunkIndex} after the last chunk`);
    if (chunkIndex !== this.nextIndex) {
      this.offThread?.abandon();
      throw new TransferError('out_of_order', `chunk ${chunkIndex}, expected ${this.nextIndex}`);
    }
  }

  /** The payload buffer, on the first chunk: shared with a hashing worker for large payloads. */
  private allocate(): void {
    if (this.totalBytes >= this.offThreadMin) this.offThread = OffThreadSha256.start(this.totalBytes);
    if (this.offThread) this.buffer = this.offThread.buffer;
    else {
      this.buffer = Buffer.allocUnsafe(this.totalBytes);
      this.hash = createHash('sha256');
    }
  }

  /** Bytes are copied into the payload, so the caller may reuse `bytes` afterwards. */
  private append(chunkIndex: number, bytes: Buffer, isLast: boolean): void {
    if (this.received + bytes.length > this.totalBytes) {
      this.offThread?.abandon();
      throw new TransferError('oversized', `chunk ${chunkIndex} brings ${this.received + bytes.length} bytes, announced ${this.totalBytes}`);
    }
    if (!this.buffer) this.allocate();
    if (this.offThread) this.offThread.append(bytes);
    else {
      bytes.copy(this.buffer!, this.received);
      this.hash!.update(bytes);
    }
    this.received += bytes.length;
    this.nextIndex++;
    const isFinalByCount = this.nextIndex === this.numChunks;
    if (isLast !== isFinalByCount) {
      // The transfer is over (§7.1): the worker has nothing more to wait for.
      this.offThread?.abandon();
      throw new TransferError('chunk_count_mismatch', `chunk ${chunkIndex}: is_last=${isLast} but ${this.numChunks} chunks were announced`);
    }
    if (isLast) this.lastAccepted = true;
  }
}

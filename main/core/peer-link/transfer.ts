// Chunked transfers over the peer-link session (peer-link-protocol.md §7): the sender side
// (`splitChunks`) and the receiving assembler (`ChunkAssembler`, §7.1). Shared by bundles
// (offloader → receiver) and artifact tarballs (receiver → offloader); only the cap differs.
import { createHash } from 'node:crypto';

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

// RFC 4648 §4 standard alphabet, `=` padding, no whitespace or line breaks. Node's decoder is
// lenient (skips junk, accepts url-safe), so the shape is checked before decoding.
const STRICT_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 decode; `null` for anything that is not canonical standard base64 with padding. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (typeof text !== 'string' || !STRICT_B64.test(text)) return null;
  return Buffer.from(text, 'base64');
}

export interface AssemblerOptions {
  totalBytes: number;
  numChunks: number;
  sha256: string;
  /** BUNDLE_MAX_TOTAL_BYTES or ARTIFACTS_MAX_TOTAL_BYTES. */
  cap: number;
}

/** One fresh assembler per transfer (§7.1). Construction throws `TransferError` on a bad announcement. */
export class ChunkAssembler {
  readonly totalBytes: number;
  readonly numChunks: number;
  private readonly expectedSha: string;
  private readonly parts: Buffer[] = [];
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
  }

  get bytesReceived(): number {
    return this.received;
  }

  get complete(): boolean {
    return this.lastAccepted;
  }

  /** Generic feed: base64 failures map to `out_of_order` (the generic codec's code, §7.1). */
  feed(chunkIndex: number, dataB64: string, isLast: boolean): void {
    this.checkPosition(chunkIndex);
    const bytes = decodeBase64Strict(dataB64);
    if (!bytes) throw new TransferError('out_of_order', `chunk ${chunkIndex}: invalid base64`);
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
    const payload = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.received);
    const digest = sha256Hex(payload);
    if (digest !== this.expectedSha) throw new TransferError('hash_mismatch', `sha256 ${digest} does not match the announced ${this.expectedSha}`);
    this.parts.length = 0;
    this.parts.push(payload);
    this.finalized = payload;
    return payload;
  }

  private checkPosition(chunkIndex: number): void {
    if (this.lastAccepted) throw new TransferError('post_completion', `chunk ${chunkIndex} after the last chunk`);
    if (chunkIndex !== this.nextIndex) throw new TransferError('out_of_order', `chunk ${chunkIndex}, expected ${this.nextIndex}`);
  }

  private append(chunkIndex: number, bytes: Buffer, isLast: boolean): void {
    if (this.received + bytes.length > this.totalBytes) {
      throw new TransferError('oversized', `chunk ${chunkIndex} brings ${this.received + bytes.length} bytes, announced ${this.totalBytes}`);
    }
    // Copy: the frame's buffer may be reused by the caller.
    this.parts.push(Buffer.from(bytes));
    this.received += bytes.length;
    this.nextIndex++;
    const isFinalByCount = this.nextIndex === this.numChunks;
    if (isLast !== isFinalByCount) {
      throw new TransferError('chunk_count_mismatch', `chunk ${chunkIndex}: is_last=${isLast} but ${this.numChunks} chunks were announced`);
    }
    if (isLast) this.lastAccepted = true;
  }
}

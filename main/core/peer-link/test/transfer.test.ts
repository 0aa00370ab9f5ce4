import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ARTIFACTS_MAX_TOTAL_BYTES,
  BUNDLE_MAX_TOTAL_BYTES,
  CHUNK_SIZE,
  ChunkAssembler,
  TransferError,
  decodeBase64Strict,
  sha256Hex,
  splitChunks,
} from '../transfer';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof TransferError) return err.code;
    throw err;
  }
  return 'ok';
}

function assemblerFor(bytes: Buffer, over: Partial<{ totalBytes: number; numChunks: number; sha256: string; cap: number }> = {}) {
  return new ChunkAssembler({
    totalBytes: bytes.length,
    numChunks: Math.ceil(bytes.length / CHUNK_SIZE),
    sha256: sha256Hex(bytes),
    cap: BUNDLE_MAX_TOTAL_BYTES,
    ...over,
  });
}

describe('splitChunks', () => {
  it('slices into 32 KiB pieces with index, is_last only on the final slice, standard base64', () => {
    const bytes = randomBytes(CHUNK_SIZE * 2 + 100);
    const chunks = splitChunks(bytes);
    expect(chunks.map((c) => c.chunk_index)).toEqual([0, 1, 2]);
    expect(chunks.map((c) => c.is_last)).toEqual([false, false, true]);
    const decoded = chunks.map((c) => decodeBase64Strict(c.data_b64)!);
    expect(decoded.map((d) => d.length)).toEqual([CHUNK_SIZE, CHUNK_SIZE, 100]);
    expect(Buffer.concat(decoded).equals(bytes)).toBe(true);
  });

  it('exact multiple of the chunk size gives ceil(total/32768) chunks', () => {
    expect(splitChunks(randomBytes(CHUNK_SIZE * 3))).toHaveLength(3);
    expect(splitChunks(randomBytes(1))).toHaveLength(1);
  });

  it('refuses an empty payload', () => {
    expect(() => splitChunks(Buffer.alloc(0))).toThrow(/empty/);
  });
});

describe('decodeBase64Strict', () => {
  const table: Array<[string, boolean]> = [
    ['', true],
    ['QQ==', true],
    ['QUI=', true],
    ['QUJD', true],
    ['QUJDRA==', true],
    ['+/+/', true],
    ['QQ', false], // missing padding
    ['QQ=', false],
    ['Q===', false],
    ['QUJD\n', false], // line break
    ['QU JD', false],
    ['-_-_', false], // url-safe alphabet
    ['QUJD*', false],
    ['QQ==QQ==', false], // padding in the middle
  ];
  it.each(table)('%j → valid=%s', (input, valid) => {
    expect(decodeBase64Strict(input) !== null).toBe(valid);
  });
  it('decodes to the original bytes', () => {
    const b = randomBytes(1000);
    expect(decodeBase64Strict(b.toString('base64'))!.equals(b)).toBe(true);
  });
});

describe('ChunkAssembler §7.1', () => {
  const payload = randomBytes(CHUNK_SIZE * 2 + 5);
  const chunks = splitChunks(payload);

  it('assembles a valid transfer and finalise is idempotent', () => {
    const a = assemblerFor(payload);
    for (const c of chunks) a.feed(c.chunk_index, c.data_b64, c.is_last);
    const first = a.finalize();
    expect(first.equals(payload)).toBe(true);
    expect(a.finalize()).toBe(first);
  });

  it('accepts any chunk size as long as the rules hold, and an upper-case digest', () => {
    const small = splitChunks(payload, 1000);
    const a = assemblerFor(payload, { numChunks: small.length, sha256: sha256Hex(payload).toUpperCase() });
    for (const c of small) a.feed(c.chunk_index, c.data_b64, c.is_last);
    expect(a.finalize().equals(payload)).toBe(true);
  });

  it('construction: empty_bundle, chunk_count_mismatch, oversized — in that order', () => {
    expect(codeOf(() => assemblerFor(payload, { totalBytes: 0, numChunks: 0 }))).toBe('empty_bundle');
    expect(codeOf(() => assemblerFor(payload, { totalBytes: -5 }))).toBe('empty_bundle');
    expect(codeOf(() => assemblerFor(payload, { numChunks: 0, totalBytes: BUNDLE_MAX_TOTAL_BYTES + 1 }))).toBe('chunk_count_mismatch');
    expect(codeOf(() => assemblerFor(payload, { numChunks: -1 }))).toBe('chunk_count_mismatch');
    expect(codeOf(() => assemblerFor(payload, { totalBytes: BUNDLE_MAX_TOTAL_BYTES + 1 }))).toBe('oversized');
  });

  it('caps per use: 128 MiB for bundles, 64 MiB for artifacts', () => {
    const mk = (total: number, cap: number) => () => new ChunkAssembler({ totalBytes: total, numChunks: 1, sha256: 'x', cap });
    expect(codeOf(mk(BUNDLE_MAX_TOTAL_BYTES, BUNDLE_MAX_TOTAL_BYTES))).toBe('ok');
    expect(codeOf(mk(BUNDLE_MAX_TOTAL_BYTES + 1, BUNDLE_MAX_TOTAL_BYTES))).toBe('oversized');
    expect(codeOf(mk(ARTIFACTS_MAX_TOTAL_BYTES, ARTIFACTS_MAX_TOTAL_BYTES))).toBe('ok');
    expect(codeOf(mk(ARTIFACTS_MAX_TOTAL_BYTES + 1, ARTIFACTS_MAX_TOTAL_BYTES))).toBe('oversized');
  });

  it('post_completion: a chunk after the last one was accepted', () => {
    const a = assemblerFor(payload);
    for (const c of chunks) a.feed(c.chunk_index, c.data_b64, c.is_last);
    expect(codeOf(() => a.feed(3, chunks[0].data_b64, true))).toBe('post_completion');
    // post_completion is checked before the index check
    expect(codeOf(() => a.feed(0, chunks[0].data_b64, false))).toBe('post_completion');
  });

  it('out_of_order: skipped index, duplicate index', () => {
    const a = assemblerFor(payload);
    expect(codeOf(() => a.feed(1, chunks[1].data_b64, false))).toBe('out_of_order');
    const b = assemblerFor(payload);
    b.feed(0, chunks[0].data_b64, false);
    expect(codeOf(() => b.feed(0, chunks[0].data_b64, false))).toBe('out_of_order');
  });

  it('oversized on feed: bytes so far + chunk > announced total', () => {
    const a = assemblerFor(payload, { totalBytes: CHUNK_SIZE + 10 });
    a.feed(0, chunks[0].data_b64, false);
    expect(codeOf(() => a.feed(1, chunks[1].data_b64, false))).toBe('oversized');
  });

  it('chunk_count_mismatch: is_last early, and not is_last on the announced final chunk', () => {
    const early = assemblerFor(payload);
    expect(codeOf(() => early.feed(0, chunks[0].data_b64, true))).toBe('chunk_count_mismatch');
    const late = assemblerFor(payload, { numChunks: 1, totalBytes: payload.length });
    expect(codeOf(() => late.feed(0, chunks[0].data_b64, false))).toBe('chunk_count_mismatch');
  });

  it('undersized: finalise before is_last, or length short of the announced total', () => {
    const a = assemblerFor(payload);
    a.feed(0, chunks[0].data_b64, false);
    expect(codeOf(() => a.finalize())).toBe('undersized');
    const short = assemblerFor(payload, { totalBytes: payload.length + 50 });
    for (const c of chunks) short.feed(c.chunk_index, c.data_b64, c.is_last);
    expect(codeOf(() => short.finalize())).toBe('undersized');
  });

  it('hash_mismatch on finalise', () => {
    const a = assemblerFor(payload, { sha256: sha256Hex(Buffer.from('other')) });
    for (const c of chunks) a.feed(c.chunk_index, c.data_b64, c.is_last);
    expect(codeOf(() => a.finalize())).toBe('hash_mismatch');
  });

  it('base64 decode failure maps to out_of_order in the generic codec; feedBytes skips decoding', () => {
    const a = assemblerFor(payload);
    expect(codeOf(() => a.feed(0, 'not base64!', false))).toBe('out_of_order');
    const b = assemblerFor(payload);
    b.feedBytes(0, decodeBase64Strict(chunks[0].data_b64)!, false);
    expect(b.bytesReceived).toBe(CHUNK_SIZE);
  });
});

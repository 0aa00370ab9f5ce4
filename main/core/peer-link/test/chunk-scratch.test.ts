// Chunk payloads decoded into the shared scratch buffer (transfer.ts): the bytes are right while
// they are current, a later decode never changes what an earlier frame yields, and the assembler
// fed through decoded frames keeps every §7.1 rule (offsets, overflow past the announced size,
// short transfers) with the payload it has already accepted left as it was.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeAppFrame } from '../frames';
import { encodeJson } from '../strict-json';
import { ARTIFACTS_MAX_TOTAL_BYTES, ChunkAssembler, chunkFrameBytes, chunkFrameData, chunkFrames, CHUNK_SIZE, decodeChunkFrame, sha256Hex, TransferError, type ChunkMessage } from '../transfer';
import { must } from '../../../../test/support/must';

/** The frames of `payload` as a receiving session decodes them (the fast path), lazily. */
function* received(payload: Buffer, chunkSize = CHUNK_SIZE): Generator<ChunkMessage> {
  for (const f of chunkFrames('artifacts_chunk', 'job-1', payload, chunkSize)) {
    const msg = decodeChunkFrame(encodeJson(f));
    if (!msg) throw new Error('the fast path refused a frame chunkFrames wrote');
    yield msg;
  }
}

/** The decoded bytes, or a failed test when the decoder refused them. */
function bytesOf(b: Buffer | null): Buffer {
  if (b === null) throw new Error('expected decoded bytes');
  return b;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof TransferError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'ok';
}

const MODES = [
  { name: 'hashed on this thread', offThreadHashMinBytes: Infinity },
  { name: 'hashed on a worker', offThreadHashMinBytes: 0 },
];

describe('chunk payloads in the scratch buffer', () => {
  it('a frame decoded earlier still yields its own bytes after later frames were decoded', () => {
    const payload = randomBytes(CHUNK_SIZE * 3 + 17);
    const msgs = [...received(payload)];
    // Every frame was decoded before any was read: only the last is still in the scratch.
    msgs.forEach((m, i) => {
      const want = payload.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
      expect(bytesOf(chunkFrameBytes(m, m.data_b64)).equals(want)).toBe(true);
      expect(bytesOf(chunkFrameData(m, m.data_b64)).equals(want)).toBe(true);
    });
  });

  it('chunkFrameData is a copy the next decode does not touch; chunkFrameBytes is a view of the current frame', () => {
    const a = randomBytes(CHUNK_SIZE);
    const b = randomBytes(CHUNK_SIZE);
    const ma = must([...received(a)][0]);
    const owned = bytesOf(chunkFrameData(ma, ma.data_b64));
    const view = bytesOf(chunkFrameBytes(ma, ma.data_b64));
    expect(view.equals(a)).toBe(true);
    const mb = must([...received(b)][0]);
    expect(owned.equals(a)).toBe(true);
    expect(bytesOf(chunkFrameBytes(mb, mb.data_b64)).equals(b)).toBe(true);
    // ma's bytes are decoded again from its text, not read from the scratch b overwrote.
    expect(bytesOf(chunkFrameBytes(ma, ma.data_b64)).equals(a)).toBe(true);
  });

  it('a frame larger than the scratch buffer is decoded whole', () => {
    const big = randomBytes(200_000);
    const m = must([...received(big, big.length)][0]);
    expect(bytesOf(chunkFrameBytes(m, m.data_b64)).equals(big)).toBe(true);
    const small = randomBytes(100);
    const s = must([...received(small)][0]);
    expect(bytesOf(chunkFrameBytes(s, s.data_b64)).equals(small)).toBe(true);
  });

  it('the session decoder gives the same frame either way (decodeAppFrame)', () => {
    const payload = randomBytes(CHUNK_SIZE + 1);
    for (const f of chunkFrames('submit_job_chunk', 'j', payload)) {
      const plain = encodeJson(f);
      expect(decodeAppFrame(plain)).toEqual(JSON.parse(plain.toString('utf8')));
    }
  });
});

describe.each(MODES)('ChunkAssembler fed with decoded frames ($name)', ({ offThreadHashMinBytes }) => {
  const payload = randomBytes(CHUNK_SIZE * 4 + 1000);
  const assembler = (over: Partial<{ totalBytes: number; numChunks: number; sha256: string }> = {}) =>
    new ChunkAssembler({ totalBytes: payload.length, numChunks: 5, sha256: sha256Hex(payload), cap: ARTIFACTS_MAX_TOTAL_BYTES, offThreadHashMinBytes, ...over });

  it('assembles the payload, each chunk written at its place', () => {
    const a = assembler();
    for (const m of received(payload)) a.feed(m.chunk_index, m.data_b64, m.is_last, m);
    expect(a.finalize().equals(payload)).toBe(true);
  });

  it('a frame fed after other frames were decoded still lands right', () => {
    const a = assembler();
    const msgs = [...received(payload)];
    for (const m of msgs) a.feed(m.chunk_index, m.data_b64, m.is_last, m);
    expect(a.finalize().equals(payload)).toBe(true);
  });

  it('wrong offsets: a skipped or repeated chunk is out_of_order and adds nothing', () => {
    const msgs = [...received(payload)];
    const skip = assembler();
    skip.feed(0, must(msgs[0]).data_b64, false, msgs[0]);
    expect(codeOf(() => skip.feed(2, must(msgs[2]).data_b64, false, msgs[2]))).toBe('out_of_order: chunk 2, expected 1');
    expect(skip.bytesReceived).toBe(CHUNK_SIZE);
    const repeat = assembler();
    repeat.feed(0, must(msgs[0]).data_b64, false, msgs[0]);
    expect(codeOf(() => repeat.feed(0, must(msgs[0]).data_b64, false, msgs[0]))).toBe('out_of_order: chunk 0, expected 1');
    expect(repeat.bytesReceived).toBe(CHUNK_SIZE);
  });

  it('overflow past the announced size is refused before a byte of that chunk is written', () => {
    // Announced: one byte less than is sent.
    const a = assembler({ totalBytes: payload.length - 1, sha256: sha256Hex(payload.subarray(0, payload.length - 1)) });
    const msgs = [...received(payload)];
    for (const m of msgs.slice(0, 4)) a.feed(m.chunk_index, m.data_b64, m.is_last, m);
    const last = must(msgs[4]);
    expect(codeOf(() => a.feed(4, last.data_b64, true, last))).toBe(`oversized: chunk 4 brings ${payload.length} bytes, announced ${payload.length - 1}`);
    expect(a.bytesReceived).toBe(4 * CHUNK_SIZE);
    expect(codeOf(() => a.finalize())).toMatch(/^undersized: received 131072 of/);
  });

  it('a short transfer (the last chunk never comes) is undersized; a wrong digest is hash_mismatch', () => {
    const a = assembler();
    const msgs = [...received(payload)];
    for (const m of msgs.slice(0, 4)) a.feed(m.chunk_index, m.data_b64, m.is_last, m);
    expect(codeOf(() => a.finalize())).toBe(`undersized: received ${4 * CHUNK_SIZE} of ${payload.length} bytes (last chunk not seen)`);
    const wrong = assembler({ sha256: sha256Hex(randomBytes(8)) });
    for (const m of msgs) wrong.feed(m.chunk_index, m.data_b64, m.is_last, m);
    expect(codeOf(() => wrong.finalize())).toMatch(/^hash_mismatch: /);
  });

  it('a frame whose text was replaced is decoded from that text (and refused when it is not base64)', () => {
    const a = assembler();
    const m = must([...received(payload)][0]);
    expect(codeOf(() => a.feed(0, 'QUJD*', false, m))).toBe('out_of_order: chunk 0: invalid base64');
    expect(a.bytesReceived).toBe(0);
  });
});

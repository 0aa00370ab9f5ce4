import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seeded } from '../../../../test/support/seeded';
import {
  ARTIFACTS_MAX_TOTAL_BYTES,
  BUNDLE_MAX_TOTAL_BYTES,
  CHUNK_SIZE,
  ChunkAssembler,
  TransferError,
  chunkCount,
  chunkFrameData,
  chunkFrames,
  decodeBase64Strict,
  decodeCanonicalBase64,
  decodeChunkFrame,
  sendFrames,
  sha256Hex,
  splitChunks,
} from '../transfer';
import { decodeAppFrame, type PeerMessage } from '../frames';
import { decodeBase64Strict as wireDecodeBase64Strict, encodeJson } from '../strict-json';
import { must } from '../../../../test/support/must';

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
  it('accepts the valid but non-canonical form (non-zero padding bits), as the shape rule always did', () => {
    // 'QR==' and 'QUJ=' carry stray low bits; Node decodes them to 'A' / 'AB'.
    expect(decodeBase64Strict('QR==')!.toString()).toBe('A');
    expect(decodeBase64Strict('QUJ=')!.toString()).toBe('AB');
    expect(wireDecodeBase64Strict('QR==')!.toString()).toBe('A');
  });
  it.each(table)('strict-json.ts agrees: %j → valid=%s', (input, valid) => {
    expect(wireDecodeBase64Strict(input) !== undefined).toBe(valid);
  });
});

describe('chunkFrames: chunk frames with their JSON built directly', () => {
  const payload = randomBytes(CHUNK_SIZE * 2 + 77);

  it('a copy with changed fields does not carry the prebuilt bytes', () => {
    const [f] = [...chunkFrames('submit_job_chunk', 'job-1', payload)];
    const copy = { ...f, job_id: 'other' };
    expect(JSON.parse(encodeJson(copy).toString('utf8')).job_id).toBe('other');
  });

  it('a frame is an immutable value: a write throws, so no mutated frame can send stale bytes', () => {
    const [f] = [...chunkFrames('submit_job_chunk', 'job-1', payload)];
    const before = encodeJson(f).toString('utf8');
    expect(Object.isFrozen(f)).toBe(true);
    expect(() => {
      (f as { job_id: string }).job_id = 'other';
    }).toThrow(TypeError);
    expect(() => {
      (f as { data_b64: string }).data_b64 = 'QUJD';
    }).toThrow(TypeError);
    expect(encodeJson(f).toString('utf8')).toBe(before);
    expect(JSON.parse(before).job_id).toBe('job-1');
  });

  it('bytes attached to an object that is not frozen are ignored: it is encoded from its fields', async () => {
    const { PREENCODED_JSON } = await import('../strict-json');
    const msg: PeerMessage = { type: 'ping', nonce: 1 };
    Object.defineProperty(msg, PREENCODED_JSON, { value: Buffer.from('{"type":"stale"}'), enumerable: false });
    msg.nonce = 2;
    expect(encodeJson(msg).toString('utf8')).toBe('{"type":"ping","nonce":2}');
  });

  it('same fields as splitChunks, and the attached bytes are exactly JSON.stringify of the frame', () => {
    const frames = [...chunkFrames('submit_job_chunk', 'job-1', payload)];
    const reference = splitChunks(payload).map((c) => ({ type: 'submit_job_chunk', job_id: 'job-1', ...c }));
    expect(frames.map((f) => ({ ...f }))).toEqual(reference);
    for (const f of frames) expect(encodeJson(f).toString('utf8')).toBe(JSON.stringify(f));
    expect(chunkCount(payload.length)).toBe(frames.length);
  });

  it('escapes an unusual job_id like JSON.stringify does', () => {
    const id = 'we"ird\\id-ünï-\u0001';
    const [f] = [...chunkFrames('artifacts_chunk', id, randomBytes(10))];
    expect(encodeJson(f).toString('utf8')).toBe(JSON.stringify(f));
    expect(JSON.parse(encodeJson(f).toString('utf8')).job_id).toBe(id);
  });

  it('refuses an empty payload like splitChunks', () => {
    expect(() => [...chunkFrames('submit_job_chunk', 'j', Buffer.alloc(0))]).toThrow(/empty/);
    expect(() => chunkCount(0)).toThrow(/empty/);
  });
});

describe('decodeChunkFrame: fast path gives exactly what JSON.parse gives, or steps aside', () => {
  const payload = randomBytes(CHUNK_SIZE + 500);
  const frames = [...chunkFrames('artifacts_chunk', 'abc123', payload)];
  const bytesOf = (f: PeerMessage) => encodeJson(f);

  it('decodes the frames chunkFrames writes, with their payload already decoded', () => {
    for (const f of frames) {
      const plain = bytesOf(f);
      const fast = decodeChunkFrame(plain)!;
      expect(fast).toEqual(JSON.parse(plain.toString('utf8')));
      expect(decodeAppFrame(plain)).toEqual(JSON.parse(plain.toString('utf8')));
      expect(chunkFrameData(fast, fast.data_b64)!.equals(Buffer.from(f.data_b64, 'base64'))).toBe(true);
    }
    const submit = must([...chunkFrames('submit_job_chunk', 'x', randomBytes(3))][0]);
    expect(decodeChunkFrame(bytesOf(submit))?.type).toBe('submit_job_chunk');
  });

  it('a changed data_b64 is decoded from the text, not from the cache', () => {
    const fast = decodeChunkFrame(bytesOf(must(frames[0])))!;
    expect(chunkFrameData(fast, 'QUJD')!.toString()).toBe('ABC');
    expect(chunkFrameData(fast, 'QUJD*')).toBeNull();
  });

  it('any other layout takes the general path, with the general result', () => {
    const f = must(frames[1]);
    const b64 = f.data_b64;
    const variants: string[] = [
      JSON.stringify(f, null, 1), // whitespace
      JSON.stringify({ job_id: f.job_id, type: f.type, chunk_index: f.chunk_index, data_b64: b64, is_last: f.is_last }), // key order
      JSON.stringify(f).replace('"job_id":"abc123"', String.raw`"job_id":"abc\u0031\u00323"`), // escape in job_id
      JSON.stringify({ ...f, data_b64: 'QR==' }), // non-canonical base64
      JSON.stringify({ ...f, data_b64: '-_-_' }), // url-safe alphabet
      JSON.stringify(f).replace('"chunk_index":1', '"chunk_index":01'), // leading zero: invalid JSON
      JSON.stringify(f).replace('"chunk_index":1', '"chunk_index":1.0'),
      JSON.stringify(f) + ' ', // trailing whitespace (valid JSON)
      JSON.stringify(f) + 'x', // trailing garbage (invalid JSON)
      JSON.stringify({ ...f, is_last: 'true' }),
      JSON.stringify({ ...f, extra: 1 }),
      JSON.stringify({ ...f, type: 'submit_job_chunkX' }),
    ];
    for (const v of variants) {
      const plain = Buffer.from(v, 'utf8');
      expect(decodeChunkFrame(plain), v.slice(0, 80)).toBeUndefined();
      let expected: unknown;
      try {
        expected = JSON.parse(v);
      } catch {
        expected = undefined;
      }
      expect(decodeAppFrame(plain), v.slice(0, 80)).toEqual(expected);
    }
  });
});

describe('decodeCanonicalBase64: same verdict as decoding and comparing the re-encoding', () => {
  // The check it replaced (a full re-encode per chunk): canonical = the text equals the
  // standard encoding of what Node decodes from it.
  const oldCanonical = (text: string): boolean => Buffer.from(text, 'base64').toString('base64') === text;
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // Seeded (printed; replay with KILN_TEST_SEED=<seed>) so a failure reproduces.
  const R = seeded('decodeCanonicalBase64 differential');
  const rnd = (n: number): number => R.int(n);
  const SPECIAL = ['=', '-', '_', ' ', '\n', '\r', '\t', '"', '\\', '\u0000', '\u007f', '\u0080', '\u00e9', '\u00ab', '\u00ff', '.', '*', ','];
  const anyChar = (): string => (rnd(3) === 0 ? must(SPECIAL[rnd(SPECIAL.length)]) : rnd(2) === 0 ? must(ALPHABET[rnd(64)]) : String.fromCharCode(rnd(256)));

  function mutate(valid: string): string {
    const chars = [...valid];
    const at = rnd(chars.length + 1);
    switch (rnd(8)) {
      case 0: // replace one character with anything
        if (chars.length) chars[Math.min(at, chars.length - 1)] = anyChar();
        break;
      case 1: // insert anything
        chars.splice(at, 0, anyChar());
        break;
      case 2: // delete one
        chars.splice(Math.min(at, chars.length - 1), 1);
        break;
      case 3: // '=' somewhere in the middle
        chars.splice(at, 0, '=');
        if (chars.length % 4 !== 0) chars.splice(rnd(chars.length), 1);
        break;
      case 4: // url-safe alphabet
        for (let i = 0; i < chars.length; i++) if (chars[i] === '+' || chars[i] === '/' || rnd(30) === 0) chars[i] = rnd(2) ? '-' : '_';
        break;
      case 5: { // another last data character (non-zero padding bits for most)
        const pad = valid.endsWith('==') ? 2 : valid.endsWith('=') ? 1 : 0;
        if (chars.length > pad) chars[chars.length - pad - 1] = must(ALPHABET[rnd(64)]);
        break;
      }
      case 6: // padding added or removed
        if (rnd(2) && chars[chars.length - 1] === '=') chars.pop();
        else chars.push('=');
        break;
      default: // whitespace at both ends or inside
        chars.splice(at, 0, must([' ', '\n', '\r\n', '\t'][rnd(4)]));
    }
    return chars.join('');
  }

  function agree(text: string): void {
    const buf = Buffer.from(text, 'latin1');
    const got = decodeCanonicalBase64(buf, 0, buf.length);
    expect(got !== undefined, JSON.stringify(text)).toBe(oldCanonical(text));
    if (got) {
      expect(got.text).toBe(text);
      expect(got.bytes.equals(Buffer.from(text, 'base64'))).toBe(true);
    }
    // Inside a buffer, with bytes around the range that must not matter.
    const framed = Buffer.concat([Buffer.from('-_=x', 'latin1'), buf, Buffer.from('"-_=', 'latin1')]);
    expect(decodeCanonicalBase64(framed, 4, 4 + buf.length) !== undefined).toBe(oldCanonical(text));
  }

  it('every encoding of 0..200 random bytes is accepted, and thousands of mutations agree', () => {
    let accepted = 0;
    let refused = 0;
    for (let n = 0; n <= 200; n++) {
      const valid = R.bytes(n).toString('base64');
      agree(valid);
      for (let k = 0; k < 60; k++) {
        const text = mutate(rnd(4) === 0 ? mutate(valid) : valid);
        agree(text);
        if (oldCanonical(text)) accepted++;
        else refused++;
      }
    }
    // Both verdicts are exercised in quantity.
    expect(accepted).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(5000);
  });

  it('random strings of every length 0..200 over the alphabet, padding and special bytes', () => {
    for (let len = 0; len <= 200; len++) {
      for (let k = 0; k < 30; k++) {
        let text = '';
        for (let i = 0; i < len; i++) text += rnd(10) === 0 ? anyChar() : ALPHABET[rnd(64)];
        if (rnd(3) === 0 && len >= 2) text = text.slice(0, len - 1 - rnd(2)) + '=='.slice(0, 1 + rnd(2));
        agree(text.slice(0, len));
      }
    }
  });

  it('every 4-character string over a small alphabet with the edge characters', () => {
    const set = ['A', 'B', 'Q', 'g', '/', '+', '=', '-', '_', ' ', '"', '\u00e9', '\u0000'];
    for (const a of set) for (const b of set) for (const c of set) for (const d of set) agree(a + b + c + d);
  });

  it('canonical tails: one and two padding characters with every last data character', () => {
    for (const ch of ALPHABET) {
      agree(`AA${ch}=`);
      agree(`A${ch}==`);
      agree(`QUJD${ch}A==`);
    }
  });

  it('through decodeChunkFrame: the fast path takes exactly the canonical texts', () => {
    const frame = (text: string) =>
      Buffer.concat([Buffer.from('{"type":"artifacts_chunk","job_id":"j-1_x","chunk_index":0,"data_b64":"', 'latin1'), Buffer.from(text, 'latin1'), Buffer.from('","is_last":true}', 'latin1')]);
    for (let n = 0; n <= 120; n++) {
      const valid = R.bytes(n).toString('base64');
      for (const text of [valid, mutate(valid), mutate(valid), mutate(mutate(valid))]) {
        const msg = decodeChunkFrame(frame(text));
        // Frames shorter than 64 bytes always take the general path.
        const expected = oldCanonical(text) && frame(text).length >= 64;
        expect(msg !== undefined, JSON.stringify(text)).toBe(expected);
        if (msg) expect(chunkFrameData(msg, msg.data_b64)!.equals(Buffer.from(text, 'base64'))).toBe(true);
      }
    }
  });
});

describe('sendFrames: ordered, windowed, stoppable', () => {
  function fakeSession(opts: { failAt?: number } = {}) {
    const sent: PeerMessage[] = [];
    const pending: Array<() => void> = [];
    let maxInflight = 0;
    return {
      sent,
      get maxInflight() {
        return maxInflight;
      },
      releaseAll() {
        for (const r of pending.splice(0)) r();
      },
      send(m: PeerMessage): Promise<void> {
        sent.push(m);
        if (opts.failAt === sent.length - 1) return Promise.reject(new Error('boom'));
        return new Promise<void>((res) => {
          pending.push(res);
          maxInflight = Math.max(maxInflight, pending.length);
          // Each send completes on a later turn, like a socket write callback.
          setImmediate(() => {
            const i = pending.indexOf(res);
            if (i >= 0) pending.splice(i, 1);
            res();
          });
        });
      },
    };
  }
  const frames = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 't', i }));

  it('sends every frame in order with at most `window` unsettled', async () => {
    const s = fakeSession();
    await sendFrames(s, frames(50), { window: 4 });
    expect(s.sent.map((m) => m.i)).toEqual([...Array(50).keys()]);
    expect(s.maxInflight).toBeLessThanOrEqual(4);
    expect(s.maxInflight).toBeGreaterThan(1);
  });

  it('stop() ends the stream before the next frame', async () => {
    const s = fakeSession();
    await sendFrames(s, frames(50), { window: 2, stop: () => s.sent.length >= 7 });
    expect(s.sent).toHaveLength(7);
  });

  it('rejects with the first failed send and leaves no unhandled rejection', async () => {
    const s = fakeSession({ failAt: 3 });
    await expect(sendFrames(s, frames(20), { window: 8 })).rejects.toThrow('boom');
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
    expect(codeOf(() => a.feed(3, must(chunks[0]).data_b64, true))).toBe('post_completion');
    // post_completion is checked before the index check
    expect(codeOf(() => a.feed(0, must(chunks[0]).data_b64, false))).toBe('post_completion');
  });

  it('out_of_order: skipped index, duplicate index', () => {
    const a = assemblerFor(payload);
    expect(codeOf(() => a.feed(1, must(chunks[1]).data_b64, false))).toBe('out_of_order');
    const b = assemblerFor(payload);
    b.feed(0, must(chunks[0]).data_b64, false);
    expect(codeOf(() => b.feed(0, must(chunks[0]).data_b64, false))).toBe('out_of_order');
  });

  it('oversized on feed: bytes so far + chunk > announced total', () => {
    const a = assemblerFor(payload, { totalBytes: CHUNK_SIZE + 10 });
    a.feed(0, must(chunks[0]).data_b64, false);
    expect(codeOf(() => a.feed(1, must(chunks[1]).data_b64, false))).toBe('oversized');
  });

  it('chunk_count_mismatch: is_last early, and not is_last on the announced final chunk', () => {
    const early = assemblerFor(payload);
    expect(codeOf(() => early.feed(0, must(chunks[0]).data_b64, true))).toBe('chunk_count_mismatch');
    const late = assemblerFor(payload, { numChunks: 1, totalBytes: payload.length });
    expect(codeOf(() => late.feed(0, must(chunks[0]).data_b64, false))).toBe('chunk_count_mismatch');
  });

  it('undersized: finalise before is_last, or length short of the announced total', () => {
    const a = assemblerFor(payload);
    a.feed(0, must(chunks[0]).data_b64, false);
    expect(codeOf(() => a.finalize())).toBe('undersized');
    const short = assemblerFor(payload, { totalBytes: payload.length + 50 });
    for (const c of chunks) short.feed(c.chunk_index, c.data_b64, c.is_last);
    expect(codeOf(() => short.finalize())).toBe('undersized');
  });

  it('hash_mismatch on finalise (and again on a second finalise)', () => {
    const a = assemblerFor(payload, { sha256: sha256Hex(Buffer.from('other')) });
    for (const c of chunks) a.feed(c.chunk_index, c.data_b64, c.is_last);
    expect(codeOf(() => a.finalize())).toBe('hash_mismatch');
    expect(codeOf(() => a.finalize())).toBe('hash_mismatch');
  });

  it('the digest covers the bytes as fed: one altered byte in a middle chunk is a hash_mismatch', () => {
    const altered = Buffer.from(payload);
    altered[CHUNK_SIZE + 3] = must(altered[CHUNK_SIZE + 3]) ^ 0xff;
    const a = assemblerFor(payload);
    for (const c of splitChunks(altered)) a.feed(c.chunk_index, c.data_b64, c.is_last);
    expect(codeOf(() => a.finalize())).toBe('hash_mismatch');
  });

  it('feedBytes copies: the caller may reuse its buffer at once', () => {
    const a = assemblerFor(payload);
    const first = Buffer.from(payload.subarray(0, CHUNK_SIZE));
    a.feedBytes(0, first, false);
    first.fill(0); // the caller reuses its buffer
    const second = Buffer.from(payload.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE));
    a.feedBytes(1, second, false);
    second.fill(0xaa);
    a.feedBytes(2, payload.subarray(2 * CHUNK_SIZE), true);
    expect(a.finalize().equals(payload)).toBe(true);
  });

  it('base64 decode failure maps to out_of_order in the generic codec; feedBytes skips decoding', () => {
    const a = assemblerFor(payload);
    expect(codeOf(() => a.feed(0, 'not base64!', false))).toBe('out_of_order');
    const b = assemblerFor(payload);
    b.feedBytes(0, decodeBase64Strict(must(chunks[0]).data_b64)!, false);
    expect(b.bytesReceived).toBe(CHUNK_SIZE);
  });
});

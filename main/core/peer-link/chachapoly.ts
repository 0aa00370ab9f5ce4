// ChaCha20-Poly1305 (RFC 8439 §2.8) in plain TypeScript, for SMALL transport messages only.
// Why: node:crypto costs ~4–7 µs per message however short (a cipher object per nonce, five
// calls into C++), which made a 100-byte log-line frame cost more to encrypt and decrypt than
// everything else on its path together. This computes the same bytes in ~1 µs for such sizes;
// larger messages stay on node:crypto (faster per byte). Differential tests against node:crypto
// (test/chachapoly.test.ts) pin it to the reference on every length class.
//
// Constant time: ChaCha20 is add/rotate/xor only; Poly1305 uses fixed-count float multiplies on
// integers below 2^53 (exact) with no data-dependent branches; the tag check is timingSafeEqual.
import { timingSafeEqual } from 'node:crypto';

export const TAG_BYTES = 16;

const SIGMA0 = 0x61707865;
const SIGMA1 = 0x3320646e;
const SIGMA2 = 0x79622d32;
const SIGMA3 = 0x6b206574;

/** A 256-bit key as eight little-endian words, ready for the block function. */
export function keyWords(key: Uint8Array): Uint32Array {
  if (key.length !== 32) throw new Error('ChaCha20 key must be 32 bytes');
  const w = new Uint32Array(8);
  for (let i = 0; i < 8; i++) w[i] = readU32(key, 4 * i);
  return w;
}

/** One ChaCha20 block (RFC 8439 §2.3) into `out` (16 words). */
function chachaBlock(k: Uint32Array, counter: number, n0: number, n1: number, n2: number, out: Uint32Array): void {
  if (k.length !== 8) throw new Error('ChaCha20 key must be 8 words');
  // Eight words, checked on the line above.
  const k0 = k[0]!, k1 = k[1]!, k2 = k[2]!, k3 = k[3]!, k4 = k[4]!, k5 = k[5]!, k6 = k[6]!, k7 = k[7]!;
  let x0 = SIGMA0, x1 = SIGMA1, x2 = SIGMA2, x3 = SIGMA3;
  let x4 = k0, x5 = k1, x6 = k2, x7 = k3, x8 = k4, x9 = k5, x10 = k6, x11 = k7;
  let x12 = counter, x13 = n0, x14 = n1, x15 = n2;
  for (let i = 0; i < 10; i++) {
    // column rounds
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16); x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24); x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16); x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24); x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16); x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24); x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16); x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24); x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
    // diagonal rounds
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16); x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24); x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16); x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24); x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16); x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24); x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16); x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24); x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  out[0] = x0 + SIGMA0; out[1] = x1 + SIGMA1; out[2] = x2 + SIGMA2; out[3] = x3 + SIGMA3;
  out[4] = x4 + k0; out[5] = x5 + k1; out[6] = x6 + k2; out[7] = x7 + k3;
  out[8] = x8 + k4; out[9] = x9 + k5; out[10] = x10 + k6; out[11] = x11 + k7;
  out[12] = x12 + counter; out[13] = x13 + n0; out[14] = x14 + n1; out[15] = x15 + n2;
}

// Scratch space (single-threaded: every call below runs to completion before the next).
const BLOCK = new Uint32Array(16);
const BLOCK_BYTES = new Uint8Array(BLOCK.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** out[i] = input[i] ^ keystream, ChaCha20 from block `counter` on (RFC 8439 §2.4). */
function xorKeystream(k: Uint32Array, counter: number, n0: number, n1: number, n2: number, input: Uint8Array, out: Uint8Array): void {
  for (let off = 0; off < input.length; off += 64, counter++) {
    chachaBlock(k, counter >>> 0, n0, n1, n2, BLOCK);
    const n = Math.min(64, input.length - off);
    // i < n: off + i < input.length, and i < 64 = the block's byte length.
    if (LITTLE_ENDIAN) {
      for (let i = 0; i < n; i++) out[off + i] = input[off + i]! ^ BLOCK_BYTES[i]!;
    } else {
      for (let i = 0; i < n; i++) out[off + i] = input[off + i]! ^ ((BLOCK[i >> 2]! >>> (8 * (i & 3))) & 0xff);
    }
  }
}

// Poly1305 (RFC 8439 §2.5) over the AEAD input AD ‖ pad ‖ C ‖ pad ‖ le64(|AD|) ‖ le64(|C|),
// with h and r as six 22-bit limbs (132 bits). Limbs times 20·r stay below 2^49.4, six of
// them below 2^52: exact in doubles. 2^132 ≡ 20 (mod 2^130 − 5) folds the high half back.
const M22 = 0x3fffff;
const T22 = 4194304; // 2^22
const HIBIT = 1 << 18;

interface PolyState {
  h0: number; h1: number; h2: number; h3: number; h4: number; h5: number;
  r0: number; r1: number; r2: number; r3: number; r4: number; r5: number;
}

const POLY: PolyState = { h0: 0, h1: 0, h2: 0, h3: 0, h4: 0, h5: 0, r0: 0, r1: 0, r2: 0, r3: 0, r4: 0, r5: 0 };
const PAD_BLOCK = new Uint8Array(16);

function polyInit(keyBlock: Uint8Array): void {
  // r = first 16 bytes, clamped (RFC 8439 §2.5.1).
  const b0 = readU32(keyBlock, 0) & 0x0fffffff;
  const b1 = readU32(keyBlock, 4) & 0x0ffffffc;
  const b2 = readU32(keyBlock, 8) & 0x0ffffffc;
  const b3 = readU32(keyBlock, 12) & 0x0ffffffc;
  const p = POLY;
  p.r0 = b0 & M22;
  p.r1 = ((b0 >>> 22) | (b1 << 10)) & M22;
  p.r2 = ((b1 >>> 12) | (b2 << 20)) & M22;
  p.r3 = (b2 >>> 2) & M22;
  p.r4 = ((b2 >>> 24) | (b3 << 8)) & M22;
  p.r5 = b3 >>> 14;
  p.h0 = p.h1 = p.h2 = p.h3 = p.h4 = p.h5 = 0;
}

/**
 * Absorbs one 16-byte block at m[off]. `hibit` is 2^128 expressed in limb 5 (1 << 18) for a
 * whole block — always, in the AEAD, which zero-pads — and 0 for a final partial block that the
 * caller padded with 0x01 then zeros (plain Poly1305, RFC 8439 §2.5.1).
 */
function polyBlock(m: Uint8Array, off: number, hibit = HIBIT): void {
  const w0 = readU32(m, off);
  const w1 = readU32(m, off + 4);
  const w2 = readU32(m, off + 8);
  const w3 = readU32(m, off + 12);
  const p = POLY;
  const h0 = p.h0 + (w0 & M22);
  const h1 = p.h1 + (((w0 >>> 22) | (w1 << 10)) & M22);
  const h2 = p.h2 + (((w1 >>> 12) | (w2 << 20)) & M22);
  const h3 = p.h3 + ((w2 >>> 2) & M22);
  const h4 = p.h4 + (((w2 >>> 24) | (w3 << 8)) & M22);
  const h5 = p.h5 + (w3 >>> 14) + hibit; // bit 128 = bit 18 of limb 5 (bits 110..131)
  const r0 = p.r0, r1 = p.r1, r2 = p.r2, r3 = p.r3, r4 = p.r4, r5 = p.r5;
  const s1 = 20 * r1, s2 = 20 * r2, s3 = 20 * r3, s4 = 20 * r4, s5 = 20 * r5;
  let d0 = h0 * r0 + h1 * s5 + h2 * s4 + h3 * s3 + h4 * s2 + h5 * s1;
  let d1 = h0 * r1 + h1 * r0 + h2 * s5 + h3 * s4 + h4 * s3 + h5 * s2;
  let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s5 + h4 * s4 + h5 * s3;
  let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s5 + h5 * s4;
  let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s5;
  let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0;
  // Carry (floor division by 2^22 is exact on these integers; `& M22` keeps the low 22 bits).
  let c = Math.floor(d0 / T22); d0 -= c * T22; d1 += c;
  c = Math.floor(d1 / T22); d1 -= c * T22; d2 += c;
  c = Math.floor(d2 / T22); d2 -= c * T22; d3 += c;
  c = Math.floor(d3 / T22); d3 -= c * T22; d4 += c;
  c = Math.floor(d4 / T22); d4 -= c * T22; d5 += c;
  c = Math.floor(d5 / T22); d5 -= c * T22; d0 += 20 * c;
  c = Math.floor(d0 / T22); d0 -= c * T22; d1 += c;
  p.h0 = d0; p.h1 = d1; p.h2 = d2; p.h3 = d3; p.h4 = d4; p.h5 = d5;
}

function polyBlocksPadded(data: Uint8Array): void {
  const whole = data.length & ~15;
  for (let off = 0; off < whole; off += 16) polyBlock(data, off);
  const rest = data.length - whole;
  if (rest > 0) {
    PAD_BLOCK.fill(0);
    PAD_BLOCK.set(data.subarray(whole), 0);
    polyBlock(PAD_BLOCK, 0);
  }
}

/** The AEAD's last Poly1305 block: le64(|AD|) ‖ le64(|C|) (lengths here are far below 2^32). */
function polyLengths(adLength: number, ctLength: number): void {
  PAD_BLOCK.fill(0);
  writeU32(PAD_BLOCK, 0, adLength);
  writeU32(PAD_BLOCK, 8, ctLength);
  polyBlock(PAD_BLOCK, 0);
}

/** Finishes: h mod p, plus s (second half of the one-time key), mod 2^128, into out[at..at+16). */
function polyFinish(keyBlock: Uint8Array, out: Uint8Array, at: number): void {
  const p = POLY;
  // Full carry, fold bits ≥ 130 (×5), carry again.
  let h0 = p.h0, h1 = p.h1, h2 = p.h2, h3 = p.h3, h4 = p.h4, h5 = p.h5;
  let c = Math.floor(h0 / T22); h0 -= c * T22; h1 += c;
  c = Math.floor(h1 / T22); h1 -= c * T22; h2 += c;
  c = Math.floor(h2 / T22); h2 -= c * T22; h3 += c;
  c = Math.floor(h3 / T22); h3 -= c * T22; h4 += c;
  c = Math.floor(h4 / T22); h4 -= c * T22; h5 += c;
  c = Math.floor(h5 / 1048576); h5 -= c * 1048576; h0 += 5 * c; // limb 5 holds bits 110..129 now
  c = Math.floor(h0 / T22); h0 -= c * T22; h1 += c;
  c = Math.floor(h1 / T22); h1 -= c * T22; h2 += c;
  c = Math.floor(h2 / T22); h2 -= c * T22; h3 += c;
  c = Math.floor(h3 / T22); h3 -= c * T22; h4 += c;
  c = Math.floor(h4 / T22); h4 -= c * T22; h5 += c;
  // Now h < 2^130 + small. g = h + 5 − 2^130; use g when it does not borrow (h ≥ p).
  let g0 = h0 + 5;
  c = Math.floor(g0 / T22); g0 -= c * T22;
  let g1 = h1 + c; c = Math.floor(g1 / T22); g1 -= c * T22;
  let g2 = h2 + c; c = Math.floor(g2 / T22); g2 -= c * T22;
  let g3 = h3 + c; c = Math.floor(g3 / T22); g3 -= c * T22;
  let g4 = h4 + c; c = Math.floor(g4 / T22); g4 -= c * T22;
  let g5 = h5 + c;
  const ge = Math.floor(g5 / 1048576); // bit 130 of h + 5 (g5 < 2^21: 0 or 1)
  g5 -= ge * 1048576;
  // Branch-free select.
  h0 = ge * g0 + (1 - ge) * h0;
  h1 = ge * g1 + (1 - ge) * h1;
  h2 = ge * g2 + (1 - ge) * h2;
  h3 = ge * g3 + (1 - ge) * h3;
  h4 = ge * g4 + (1 - ge) * h4;
  h5 = ge * g5 + (1 - ge) * h5;
  // h (130 bits in 22-bit limbs) → four 32-bit words, + s, mod 2^128.
  const w0 = (h0 | (h1 << 22)) >>> 0;
  const w1 = ((h1 >>> 10) | (h2 << 12)) >>> 0;
  const w2 = ((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0;
  const w3 = ((h4 >>> 8) | (h5 << 14)) >>> 0;
  let acc = w0 + readU32(keyBlock, 16);
  writeU32(out, at, acc >>> 0);
  acc = w1 + readU32(keyBlock, 20) + Math.floor(acc / 4294967296);
  writeU32(out, at + 4, acc >>> 0);
  acc = w2 + readU32(keyBlock, 24) + Math.floor(acc / 4294967296);
  writeU32(out, at + 8, acc >>> 0);
  acc = w3 + readU32(keyBlock, 28) + Math.floor(acc / 4294967296);
  writeU32(out, at + 12, acc >>> 0);
}

function readU32(b: Uint8Array, at: number): number {
  if (at < 0 || at + 4 > b.length) throw new RangeError(`readU32 at ${at} past ${b.length} bytes`);
  // All four bytes are in range: checked on the line above.
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** The Poly1305 one-time key: the first 32 bytes of block 0 (RFC 8439 §2.6). */
const KEY_BLOCK = new Uint8Array(64);
const KEY_BLOCK_WORDS = new Uint32Array(16);

function oneTimeKey(k: Uint32Array, n0: number, n1: number, n2: number): Uint8Array {
  chachaBlock(k, 0, n0, n1, n2, KEY_BLOCK_WORDS);
  for (let i = 0; i < 8; i++) writeU32(KEY_BLOCK, 4 * i, KEY_BLOCK_WORDS[i]!); // i < 8 of 16 words
  return KEY_BLOCK;
}

function tagInto(k: Uint32Array, n0: number, n1: number, n2: number, ad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array, at: number): void {
  const otk = oneTimeKey(k, n0, n1, n2);
  polyInit(otk);
  polyBlocksPadded(ad);
  polyBlocksPadded(ciphertext);
  polyLengths(ad.length, ciphertext.length);
  polyFinish(otk, out, at);
}

/**
 * Zeroes every module-level scratch value that held key material or keystream: the one-time
 * Poly1305 key, r and the accumulator, the last keystream block, the padded block. Called at the
 * end of every seal/open so no key-derived bytes outlive the call in this module's memory.
 */
function wipeScratch(): void {
  KEY_BLOCK.fill(0);
  KEY_BLOCK_WORDS.fill(0);
  BLOCK.fill(0);
  PAD_BLOCK.fill(0);
  TAG_SCRATCH.fill(0);
  const p = POLY;
  p.h0 = p.h1 = p.h2 = p.h3 = p.h4 = p.h5 = 0;
  p.r0 = p.r1 = p.r2 = p.r3 = p.r4 = p.r5 = 0;
}

/** True when no scratch value holds key-derived data (tests check seal/open leave it so). */
export function scratchIsWiped(): boolean {
  const zero = (a: ArrayLike<number>): boolean => Array.from(a).every((v) => v === 0);
  const p = POLY;
  return zero(KEY_BLOCK) && zero(KEY_BLOCK_WORDS) && zero(BLOCK) && zero(PAD_BLOCK) && zero(TAG_SCRATCH) && [p.h0, p.h1, p.h2, p.h3, p.h4, p.h5, p.r0, p.r1, p.r2, p.r3, p.r4, p.r5].every((v) => v === 0);
}

/**
 * Plain Poly1305 (RFC 8439 §2.5) of `msg` under a 32-byte one-time key, with the RFC's padding
 * of a final partial block. The AEAD above uses the same arithmetic; this form exists so the
 * RFC's Appendix A.3 vectors — which reach the final reduction's h ≥ 2^130 − 5 branch — run
 * against that arithmetic directly.
 */
export function poly1305(key: Uint8Array, msg: Uint8Array): Buffer {
  if (key.length !== 32) throw new Error('Poly1305 key must be 32 bytes');
  const out = Buffer.alloc(TAG_BYTES);
  try {
    polyInit(key);
    const whole = msg.length & ~15;
    for (let off = 0; off < whole; off += 16) polyBlock(msg, off);
    if (msg.length > whole) {
      PAD_BLOCK.fill(0);
      PAD_BLOCK.set(msg.subarray(whole), 0);
      PAD_BLOCK[msg.length - whole] = 1;
      polyBlock(PAD_BLOCK, 0, 0);
    }
    polyFinish(key, out, 0);
    return out;
  } finally {
    wipeScratch();
  }
}

/** ChaCha20 (RFC 8439 §2.4) of `input` from block `counter` on: for the Appendix A.1/A.2 vectors. */
export function chacha20(key: Uint8Array, counter: number, nonce: Uint8Array, input: Uint8Array): Buffer {
  if (nonce.length !== 12) throw new Error('ChaCha20 nonce must be 12 bytes');
  const out = Buffer.alloc(input.length);
  const n = Buffer.from(nonce.buffer, nonce.byteOffset, 12);
  try {
    xorKeystream(keyWords(key), counter, n.readUInt32LE(0), n.readUInt32LE(4), n.readUInt32LE(8), input, out);
    return out;
  } finally {
    wipeScratch();
  }
}

/** The 96-bit nonce as three little-endian words. */
export interface NonceWords {
  n0: number;
  n1: number;
  n2: number;
}

/** AEAD_CHACHA20_POLY1305 seal: ciphertext ‖ 16-byte tag. */
export function seal(k: Uint32Array, nonce: NonceWords, ad: Uint8Array, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
  const ct = out.subarray(0, plaintext.length);
  try {
    xorKeystream(k, 1, nonce.n0, nonce.n1, nonce.n2, plaintext, ct);
    tagInto(k, nonce.n0, nonce.n1, nonce.n2, ad, ct, out, plaintext.length);
    return out;
  } finally {
    wipeScratch();
  }
}

const TAG_SCRATCH = Buffer.alloc(TAG_BYTES);

/** AEAD_CHACHA20_POLY1305 open: the plaintext, or null when the tag does not verify. */
export function open(k: Uint32Array, nonce: NonceWords, ad: Uint8Array, sealed: Uint8Array): Buffer | null {
  if (sealed.length < TAG_BYTES) return null;
  const ct = sealed.subarray(0, sealed.length - TAG_BYTES);
  try {
    tagInto(k, nonce.n0, nonce.n1, nonce.n2, ad, ct, TAG_SCRATCH, 0);
    if (!timingSafeEqual(TAG_SCRATCH, sealed.subarray(sealed.length - TAG_BYTES))) return null;
    const out = Buffer.allocUnsafe(ct.length);
    xorKeystream(k, 1, nonce.n0, nonce.n1, nonce.n2, ct, out);
    return out;
  } finally {
    wipeScratch();
  }
}

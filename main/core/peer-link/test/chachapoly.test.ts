import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyWords, open, seal } from '../chachapoly';
import { CipherState, NoiseError, SMALL_MESSAGE_BYTES } from '../noise';

/** node:crypto's AEAD_CHACHA20_POLY1305: the reference. */
function referenceSeal(key: Buffer, nonce: Buffer, ad: Buffer, pt: Buffer): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

function referenceOpen(key: Buffer, nonce: Buffer, ad: Buffer, sealed: Buffer): Buffer {
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const body = sealed.subarray(0, sealed.length - 16);
  d.setAAD(ad, { plaintextLength: body.length });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(body), d.final()]);
}

const words = (nonce: Buffer) => ({ n0: nonce.readUInt32LE(0), n1: nonce.readUInt32LE(4), n2: nonce.readUInt32LE(8) });

/** Noise nonce bytes: 4 zero bytes, then the 64-bit counter little-endian. */
function noiseNonce(n: bigint): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64LE(n, 4);
  return b;
}

describe('TypeScript ChaCha20-Poly1305 against node:crypto', () => {
  it('seals to the same bytes and opens the reference output: every length 0..600, with and without AD', () => {
    for (let len = 0; len <= 600; len++) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const ad = len % 3 === 0 ? Buffer.alloc(0) : randomBytes(len % 70);
      const pt = len % 5 === 0 ? Buffer.alloc(len, 0xff) : randomBytes(len);
      const ref = referenceSeal(key, nonce, ad, pt);
      const mine = seal(keyWords(key), words(nonce), ad, pt);
      expect(mine.equals(ref), `length ${len}`).toBe(true);
      expect(open(keyWords(key), words(nonce), ad, ref)?.equals(pt), `open length ${len}`).toBe(true);
    }
  });

  it('random sizes up to 4 KiB, all-ones keys and nonces (carry edge cases)', () => {
    for (let t = 0; t < 300; t++) {
      const key = t % 10 === 0 ? Buffer.alloc(32, 0xff) : randomBytes(32);
      const nonce = t % 10 === 1 ? Buffer.alloc(12, 0xff) : randomBytes(12);
      const pt = randomBytes(Math.floor(Math.random() * 4096));
      const ad = randomBytes(t % 40);
      expect(seal(keyWords(key), words(nonce), ad, pt).equals(referenceSeal(key, nonce, ad, pt))).toBe(true);
    }
  });

  it('refuses a tampered ciphertext, tag or AD, and a message shorter than the tag', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const ad = randomBytes(8);
    const pt = randomBytes(150);
    const sealed = seal(keyWords(key), words(nonce), ad, pt);
    for (const at of [0, 75, 149, 150, 165]) {
      const bad = Buffer.from(sealed);
      bad[at] ^= 0x01;
      expect(open(keyWords(key), words(nonce), ad, bad), `flip at ${at}`).toBeNull();
    }
    const otherAd = Buffer.from(ad);
    otherAd[0] ^= 0x80;
    expect(open(keyWords(key), words(nonce), otherAd, sealed)).toBeNull();
    const otherNonce = Buffer.from(nonce);
    otherNonce[11] ^= 0x01;
    expect(open(keyWords(key), words(otherNonce), ad, sealed)).toBeNull();
    expect(open(keyWords(key), words(nonce), ad, sealed.subarray(0, 15))).toBeNull();
  });

  it('uses the high nonce word (Noise counters beyond 2^32)', () => {
    const key = randomBytes(32);
    const pt = randomBytes(100);
    const n = (1n << 40n) + 7n;
    const nonce = noiseNonce(n);
    expect(seal(keyWords(key), { n0: 0, n1: 7, n2: 1 << 8 }, Buffer.alloc(0), pt).equals(referenceSeal(key, nonce, Buffer.alloc(0), pt))).toBe(true);
  });
});

describe('CipherState: small messages by the TypeScript AEAD, large ones by node:crypto, same wire', () => {
  it('every message decrypts with the reference and the nonce advances once per message', () => {
    const key = randomBytes(32);
    const send = new CipherState(key);
    const sizes = [0, 1, 100, SMALL_MESSAGE_BYTES - 1, SMALL_MESSAGE_BYTES, SMALL_MESSAGE_BYTES + 1, 4000, 61_000, 17];
    sizes.forEach((size, i) => {
      const pt = randomBytes(size);
      const ct = send.encrypt(pt);
      expect(ct.length).toBe(size + 16);
      expect(referenceOpen(key, noiseNonce(BigInt(i)), Buffer.alloc(0), ct).equals(pt), `size ${size}`).toBe(true);
      expect(send.nonce).toBe(BigInt(i + 1));
    });
  });

  it('decrypts reference ciphertexts of both size classes; a bad tag throws and leaves the nonce', () => {
    const key = randomBytes(32);
    const recv = new CipherState(key);
    const sizes = [3, SMALL_MESSAGE_BYTES, SMALL_MESSAGE_BYTES + 1, 9000];
    sizes.forEach((size, i) => {
      const pt = randomBytes(size);
      const ct = referenceSeal(key, noiseNonce(BigInt(i)), Buffer.alloc(0), pt);
      const bad = Buffer.from(ct);
      bad[bad.length - 1] ^= 1;
      expect(() => recv.decrypt(bad)).toThrow(NoiseError);
      expect(recv.nonce).toBe(BigInt(i));
      expect(recv.decrypt(ct).equals(pt)).toBe(true);
    });
  });
});

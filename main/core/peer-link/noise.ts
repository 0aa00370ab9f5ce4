// Noise Protocol Framework (rev 34) for the 25519/ChaChaPoly/SHA256 suite, on node:crypto only.
// Handshake patterns NN, XN and XX (XX is the wire protocol; NN/XN exist to check the engine
// against more test vectors). peer-link-protocol.md §2.
import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';
import { keyWords, open as openSmall, seal as sealSmall, type NonceWords } from './chachapoly';
import { generateX25519KeyPair, x25519, x25519KeyPairFromPrivate, type X25519KeyPair, X25519_KEY_BYTES } from './x25519';

export type NoisePatternName = 'NN' | 'XN' | 'XX';
type Token = 'e' | 's' | 'ee' | 'es' | 'se';

const PATTERNS: Record<NoisePatternName, Token[][]> = {
  NN: [['e'], ['e', 'ee']],
  XN: [['e'], ['e', 'ee'], ['s', 'se']],
  XX: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
};

export const NOISE_TAG_BYTES = 16;
const HASH_LEN = 32;
const EMPTY = Buffer.alloc(0);
// 2^64 - 1 is reserved by the Noise spec; a CipherState refuses to use it.
const MAX_NONCE = (1n << 64n) - 1n;

export class NoiseError extends Error {
  override name = 'NoiseError';
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Noise §4.3 HKDF: two or three 32-byte outputs chained with HMAC-SHA256. */
export function noiseHkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2): [Buffer, Buffer];
export function noiseHkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 3): [Buffer, Buffer, Buffer];
export function noiseHkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): [Buffer, Buffer] | [Buffer, Buffer, Buffer] {
  const temp = hmac(chainingKey, ikm);
  const out1 = hmac(temp, Buffer.from([1]));
  const out2 = hmac(temp, out1, Buffer.from([2]));
  if (outputs === 2) return [out1, out2];
  return [out1, out2, hmac(temp, out2, Buffer.from([3]))];
}

function nonceBytes(n: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(n, 4);
  return nonce;
}

/**
 * Messages up to this size are sealed/opened by the TypeScript AEAD (chachapoly.ts): node:crypto
 * has a fixed cost of several µs per message, the TypeScript one a higher cost per byte; they
 * cross near 700 bytes on this hardware. Same bytes either way.
 */
export const SMALL_MESSAGE_BYTES = 512;

/** One direction of ChaCha20-Poly1305 with a 64-bit counter nonce (4 zero bytes ‖ LE counter). */
export class CipherState {
  private key: Buffer | null;
  private readonly words: Uint32Array | null;
  private n = 0n;

  constructor(key?: Uint8Array) {
    this.key = key ? Buffer.from(key) : null;
    this.words = this.key ? keyWords(this.key) : null;
  }

  /** The nonce n as RFC 8439 nonce words: 32 zero bits, then n little-endian. */
  private nonceWords(): NonceWords {
    return { n0: 0, n1: Number(BigInt.asUintN(32, this.n)), n2: Number(this.n >> 32n) };
  }

  hasKey(): boolean {
    return this.key !== null;
  }

  /** Next nonce to be used (for tests and diagnostics). */
  get nonce(): bigint {
    return this.n;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Buffer {
    if (!this.key) return Buffer.from(plaintext);
    if (this.n >= MAX_NONCE) throw new NoiseError('nonce exhausted');
    if (plaintext.length <= SMALL_MESSAGE_BYTES) {
      const sealed = sealSmall(this.words!, this.nonceWords(), ad, plaintext);
      this.n += 1n;
      return sealed;
    }
    const cipher = createCipheriv('chacha20-poly1305', this.key, nonceBytes(this.n), { authTagLength: NOISE_TAG_BYTES });
    cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    const rest = cipher.final(); // empty for a stream cipher; kept in case it is not
    const out = Buffer.concat(rest.length === 0 ? [body, cipher.getAuthTag()] : [body, rest, cipher.getAuthTag()], plaintext.length + NOISE_TAG_BYTES);
    this.n += 1n;
    return out;
  }

  /** Throws NoiseError on authentication failure; the nonce only advances on success. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (!this.key) return Buffer.from(ciphertext);
    if (this.n >= MAX_NONCE) throw new NoiseError('nonce exhausted');
    if (ciphertext.length < NOISE_TAG_BYTES) throw new NoiseError('ciphertext shorter than the tag');
    if (ciphertext.length <= SMALL_MESSAGE_BYTES + NOISE_TAG_BYTES) {
      const opened = openSmall(this.words!, this.nonceWords(), ad, ciphertext);
      if (!opened) throw new NoiseError('decryption failed (bad tag)');
      this.n += 1n;
      return opened;
    }
    const body = ciphertext.subarray(0, ciphertext.length - NOISE_TAG_BYTES);
    const tag = ciphertext.subarray(ciphertext.length - NOISE_TAG_BYTES);
    const decipher = createDecipheriv('chacha20-poly1305', this.key, nonceBytes(this.n), { authTagLength: NOISE_TAG_BYTES });
    decipher.setAAD(ad, { plaintextLength: body.length });
    decipher.setAuthTag(tag);
    let out: Buffer;
    try {
      out = decipher.update(body);
      // final() verifies the tag; its output is empty for a stream cipher, so no copy then.
      const rest = decipher.final();
      if (rest.length > 0) out = Buffer.concat([out, rest]);
    } catch {
      throw new NoiseError('decryption failed (bad tag)');
    }
    this.n += 1n;
    return out;
  }

  /** Transport messages use empty associated data (§2.1). */
  encrypt(plaintext: Uint8Array): Buffer {
    return this.encryptWithAd(EMPTY, plaintext);
  }

  decrypt(ciphertext: Uint8Array): Buffer {
    return this.decryptWithAd(EMPTY, ciphertext);
  }
}

class SymmetricState {
  private ck: Buffer;
  h: Buffer;
  cs = new CipherState();

  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, 'ascii');
    this.h = name.length <= HASH_LEN ? Buffer.concat([name, Buffer.alloc(HASH_LEN - name.length)]) : sha256(name);
    this.ck = Buffer.from(this.h);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = noiseHkdf(this.ck, ikm, 2);
    this.ck = ck;
    this.cs = new CipherState(tempK);
  }

  mixHash(data: Uint8Array): void {
    this.h = sha256(this.h, data);
  }

  encryptAndHash(plaintext: Uint8Array): Buffer {
    const ct = this.cs.encryptWithAd(this.h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer {
    const pt = this.cs.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = noiseHkdf(this.ck, EMPTY, 2);
    return [new CipherState(k1), new CipherState(k2)];
  }
}

export interface HandshakeOptions {
  pattern?: NoisePatternName;          // default XX
  initiator: boolean;
  /** Wire protocol uses an empty prologue; the vectors use a non-empty one. */
  prologue?: Uint8Array;
  /** Our static key pair (required for XX, and for the XN initiator). */
  staticKeyPair?: X25519KeyPair;
  /** Fixed ephemeral private key: tests only (production draws a fresh one per handshake). */
  ephemeralPrivateKey?: Uint8Array;
}

/** Transport ciphers after Split(), already oriented for this side. */
export interface TransportCiphers {
  send: CipherState;
  recv: CipherState;
}

/**
 * Noise HandshakeState. Call writeMessage/readMessage alternately starting with the initiator's
 * write; after the last message `complete` is true and `transport()` returns the split ciphers.
 */
export class HandshakeState {
  readonly initiator: boolean;
  private readonly ss: SymmetricState;
  private readonly messages: Token[][];
  private index = 0;
  private readonly s?: X25519KeyPair;
  private e?: X25519KeyPair;
  private readonly fixedEphemeral?: Uint8Array;
  private rs?: Buffer;
  private re?: Buffer;
  private ciphers?: TransportCiphers;

  constructor(opts: HandshakeOptions) {
    const pattern = opts.pattern ?? 'XX';
    this.initiator = opts.initiator;
    this.messages = PATTERNS[pattern];
    this.s = opts.staticKeyPair;
    this.fixedEphemeral = opts.ephemeralPrivateKey;
    const needsStatic = this.messages.some((m, i) => m.includes('s') && (i % 2 === 0) === opts.initiator);
    if (needsStatic && !this.s) throw new NoiseError(`pattern ${pattern} needs a static key on this side`);
    this.ss = new SymmetricState(`Noise_${pattern}_25519_ChaChaPoly_SHA256`);
    this.ss.mixHash(opts.prologue ?? EMPTY);
  }

  get complete(): boolean {
    return this.index >= this.messages.length;
  }

  /** True when the next message is ours to write. */
  get myTurn(): boolean {
    return !this.complete && (this.index % 2 === 0) === this.initiator;
  }

  /** h: the handshake hash (channel binding value once complete). */
  get handshakeHash(): Buffer {
    return Buffer.from(this.ss.h);
  }

  /** The remote static public key once it has been received (XX: msg2 for the initiator, msg3 for the responder). */
  get remoteStaticKey(): Buffer | undefined {
    return this.rs ? Buffer.from(this.rs) : undefined;
  }

  /** The tokens of the message at `index`; callers check the handshake is not complete first. */
  private currentTokens(): Token[] {
    const tokens = this.messages[this.index];
    if (tokens === undefined) throw new NoiseError('handshake already complete');
    return tokens;
  }

  writeMessage(payload: Uint8Array = EMPTY): Buffer {
    if (!this.myTurn) throw new NoiseError(this.complete ? 'handshake already complete' : 'not our turn to write');
    const parts: Buffer[] = [];
    for (const token of this.currentTokens()) {
      switch (token) {
        case 'e': {
          this.e = this.fixedEphemeral ? x25519KeyPairFromPrivate(this.fixedEphemeral) : generateX25519KeyPair();
          parts.push(this.e.publicKey);
          this.ss.mixHash(this.e.publicKey);
          break;
        }
        case 's':
          parts.push(this.ss.encryptAndHash(this.s!.publicKey));
          break;
        default:
          this.ss.mixKey(this.dhFor(token));
      }
    }
    parts.push(this.ss.encryptAndHash(payload));
    this.advance();
    return Buffer.concat(parts);
  }

  /** Returns the decrypted payload; throws NoiseError on a short message or a bad tag. */
  readMessage(message: Uint8Array): Buffer {
    if (this.complete) throw new NoiseError('handshake already complete');
    if (this.myTurn) throw new NoiseError('not our turn to read');
    const msg = Buffer.from(message);
    let off = 0;
    const take = (n: number): Buffer => {
      if (msg.length - off < n) throw new NoiseError('handshake message too short');
      const out = msg.subarray(off, off + n);
      off += n;
      return out;
    };
    for (const token of this.currentTokens()) {
      switch (token) {
        case 'e':
          this.re = Buffer.from(take(X25519_KEY_BYTES));
          this.ss.mixHash(this.re);
          break;
        case 's': {
          const len = X25519_KEY_BYTES + (this.ss.cs.hasKey() ? NOISE_TAG_BYTES : 0);
          this.rs = this.ss.decryptAndHash(take(len));
          break;
        }
        default:
          this.ss.mixKey(this.dhFor(token));
      }
    }
    const payload = this.ss.decryptAndHash(msg.subarray(off));
    this.advance();
    return payload;
  }

  transport(): TransportCiphers {
    if (!this.ciphers) throw new NoiseError('handshake not complete');
    return this.ciphers;
  }

  private dhFor(token: Exclude<Token, 'e' | 's'>): Buffer {
    const need = <T>(v: T | undefined, what: string): T => {
      if (!v) throw new NoiseError(`missing ${what} for ${token}`);
      return v;
    };
    try {
      switch (token) {
        case 'ee':
          return x25519(need(this.e, 'e').privateKey, need(this.re, 're'));
        case 'es':
          return this.initiator
            ? x25519(need(this.e, 'e').privateKey, need(this.rs, 'rs'))
            : x25519(need(this.s, 's').privateKey, need(this.re, 're'));
        case 'se':
          return this.initiator
            ? x25519(need(this.s, 's').privateKey, need(this.re, 're'))
            : x25519(need(this.e, 'e').privateKey, need(this.rs, 'rs'));
      }
    } catch (err) {
      if (err instanceof NoiseError) throw err;
      // node:crypto refuses low-order points; surface it as a handshake failure.
      throw new NoiseError(`X25519 failed: ${(err as Error).message}`);
    }
  }

  private advance(): void {
    this.index += 1;
    if (this.complete) {
      const [c1, c2] = this.ss.split();
      this.ciphers = this.initiator ? { send: c1, recv: c2 } : { send: c2, recv: c1 };
    }
  }
}

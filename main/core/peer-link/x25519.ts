// X25519 on node:crypto with raw 32-byte keys. Node only speaks DER/KeyObject for X25519, so raw
// keys are wrapped in the fixed PKCS#8 / SPKI prefixes (RFC 8410) on the way in and sliced out
// on the way out.
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';

export const X25519_KEY_BYTES = 32;

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface X25519KeyPair {
  /** Raw 32-byte private scalar. */
  readonly privateKey: Buffer;
  /** Raw 32-byte public key (u-coordinate). */
  readonly publicKey: Buffer;
}

function assertKeyLength(key: Uint8Array, what: string): void {
  if (key.length !== X25519_KEY_BYTES) throw new Error(`${what} must be ${X25519_KEY_BYTES} bytes, got ${key.length}`);
}

function privateKeyObject(raw: Uint8Array): KeyObject {
  assertKeyLength(raw, 'X25519 private key');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  assertKeyLength(raw, 'X25519 public key');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function rawPublic(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - X25519_KEY_BYTES));
}

function rawPrivate(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(der.subarray(der.length - X25519_KEY_BYTES));
}

export function generateX25519KeyPair(): X25519KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  return { privateKey: rawPrivate(privateKey), publicKey: rawPublic(privateKey) };
}

export function x25519KeyPairFromPrivate(raw: Uint8Array): X25519KeyPair {
  const key = privateKeyObject(raw);
  return { privateKey: Buffer.from(raw), publicKey: rawPublic(key) };
}

/** X25519(priv, pub). Throws for a low-order public key (all-zero shared secret). */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  return diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(publicKey) });
}

/** pin_sha256: lowercase hex SHA-256 of the raw public key (peer-link-protocol.md §3). */
export function pinOf(publicKey: Uint8Array): string {
  assertKeyLength(publicKey, 'X25519 public key');
  return createHash('sha256').update(publicKey).digest('hex');
}

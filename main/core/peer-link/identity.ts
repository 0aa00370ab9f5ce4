// The peer-link identity: one X25519 key pair whose raw 32-byte private key is the whole content
// of a 0600 file (peer-link-protocol.md §3). Same format as upstream's
// .device-builder-peer-link-key.bin, so a key file can be carried over.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultReporter, writeFileAtomicSync, type Reporter } from './atomic-json';
import { generateX25519KeyPair, pinOf, x25519KeyPairFromPrivate, X25519_KEY_BYTES, type X25519KeyPair } from './x25519';

export const IDENTITY_FILE_NAME = 'peer-link-key.bin';

export interface PeerLinkIdentity extends X25519KeyPair {
  /** pin_sha256 of our public key. */
  readonly pin: string;
}

export function identityFromPrivateKey(privateKey: Uint8Array): PeerLinkIdentity {
  const kp = x25519KeyPairFromPrivate(privateKey);
  return { ...kp, pin: pinOf(kp.publicKey) };
}

export function identityFilePath(dataDir: string): string {
  return join(dataDir, IDENTITY_FILE_NAME);
}

/**
 * Loads the identity from `file`, creating it when missing and replacing it (with a warning:
 * every peer must re-pair) when the file is not exactly 32 bytes. A key file readable by others
 * is tightened back to 0600.
 */
export function loadOrCreateIdentity(file: string, report: Reporter = defaultReporter): PeerLinkIdentity {
  let raw: Buffer | undefined;
  try {
    raw = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (raw && raw.length === X25519_KEY_BYTES) {
    if ((statSync(file).mode & 0o077) !== 0) {
      chmodSync(file, 0o600);
      report(`${file} was accessible to other users; mode reset to 0600`);
    }
    return identityFromPrivateKey(raw);
  }
  if (raw) {
    report(`${file} holds ${raw.length} bytes instead of ${X25519_KEY_BYTES}; generating a new peer-link identity (every paired peer must re-pair)`);
  }
  return writeNewIdentity(file);
}

/** Rotates the identity: a new key replaces the file. Invalidates every pairing on both roles. */
export function rotateIdentity(file: string): PeerLinkIdentity {
  return writeNewIdentity(file);
}

function writeNewIdentity(file: string): PeerLinkIdentity {
  const kp = generateX25519KeyPair();
  writeFileAtomicSync(file, kp.privateKey, 0o600);
  return { ...kp, pin: pinOf(kp.publicKey) };
}

// One-time pairing key of a headless receiver's key mode (peer-link-protocol.md §5.3).
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

export const PAIRING_KEY_ALPHABET = 'ABCDEFGHJKMNPQRSTVWXYZ23456789';
const KEY_CHARS = 16;

/** XXXX-XXXX-XXXX-XXXX from the 30-symbol alphabet (no I, L, O, U, 0, 1). */
export function generatePairingKey(): string {
  let raw = '';
  for (let i = 0; i < KEY_CHARS; i++) raw += PAIRING_KEY_ALPHABET[randomInt(PAIRING_KEY_ALPHABET.length)];
  return raw.match(/.{4}/g)!.join('-');
}

/** Upper-cases and drops separators (anything not a letter or digit). */
export function normalisePairingKey(key: string): string {
  return key.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

/**
 * Constant-time comparison ignoring case and separators. Both sides are hashed first so the
 * comparison time does not depend on where, or whether, the lengths differ.
 */
export function pairingKeysMatch(expected: string, offered: unknown): boolean {
  if (typeof offered !== 'string') return false;
  const a = createHash('sha256').update(normalisePairingKey(expected)).digest();
  const b = createHash('sha256').update(normalisePairingKey(offered)).digest();
  return timingSafeEqual(a, b) && normalisePairingKey(expected).length > 0;
}

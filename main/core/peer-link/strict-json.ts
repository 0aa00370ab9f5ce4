// Exact JSON type checks for frames and files (peer-link-protocol.md §0): a boolean is never an
// integer, integers have no fractional part, base64 is the strict standard alphabet.

export type JsonObject = { [key: string]: unknown };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

export function isStr(v: unknown): v is string {
  return typeof v === 'string';
}

export function isBool(v: unknown): v is boolean {
  return typeof v === 'boolean';
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Strict standard base64 (RFC 4648 §4, padded, no whitespace) → bytes, or undefined when invalid.
 * Node's decoder is lenient (skips junk, accepts url-safe, missing padding), so validity is
 * decided separately: an input equal to the canonical encoding of what it decodes to is valid
 * (that is what every encoder sends, and costs a re-encode instead of a slow regex walk over
 * 43 KB chunk strings); anything else goes through the exact shape check, which also accepts
 * the rare valid-but-non-canonical form (non-zero padding bits).
 */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (typeof s !== 'string') return undefined;
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') === s) return bytes;
  return BASE64_RE.test(s) ? bytes : undefined;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** Strips and truncates a display string; non-strings become "" (§4.2 normalisation). */
export function normaliseText(v: unknown, max: number): string {
  if (typeof v !== 'string') return '';
  return [...v.trim()].slice(0, max).join('');
}

export function normaliseBool(v: unknown): boolean {
  return v === true;
}

/** Parses UTF-8 JSON text; returns undefined for anything that is not valid JSON. */
export function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

/**
 * Symbol key under which a specialised encoder may attach a message's JSON bytes, built
 * directly instead of through JSON.stringify (chunk frames: 43 KB of base64 each). The bytes must
 * be exactly what `JSON.stringify` gives for the message's own fields (symbol keys are not
 * serialised, so every other consumer of the message sees the same JSON), and the message must
 * be frozen: `encodeJson` ignores the bytes on an object that could have changed since.
 */
export const PREENCODED_JSON: unique symbol = Symbol('peer-link.preencoded-json');

export function encodeJson(value: unknown): Buffer {
  // Only a frozen message can carry bytes that still match its fields.
  const pre = isObject(value) && Object.isFrozen(value) ? (value as { [PREENCODED_JSON]?: unknown })[PREENCODED_JSON] : undefined;
  if (Buffer.isBuffer(pre)) return pre;
  return Buffer.from(JSON.stringify(value), 'utf8');
}

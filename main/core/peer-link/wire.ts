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

/** Strict standard base64 (RFC 4648 §4, padded, no whitespace). Returns undefined when invalid. */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (!BASE64_RE.test(s)) return undefined;
  return Buffer.from(s, 'base64');
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

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

// Small shared helpers: seeded randomness, hashing, env parsing, version compare, errors.

/** Error that ends the command with `ERROR <message>` and the given exit code (esphome-cli.md §1.4). */
export class SimError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** 32-bit FNV-1a over a string or bytes; stable across runs, used for seeds and config hashes. */
export function fnv1a32(input) {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded PRNG with range helpers. */
export function makeRng(seed) {
  const next = mulberry32(seed);
  return {
    next,
    float(min, max) {
      return min + (max - min) * next();
    },
    int(min, max) {
      return min + Math.floor((max - min + 1) * next());
    },
    pick(list) {
      return list[Math.floor(next() * list.length)];
    },
  };
}

/** Deterministic pseudo-random bytes (xorshift32 words) — fast enough for MB-sized images. */
export function pseudoRandomBytes(size, seed) {
  const words = Math.ceil(size / 4);
  const ab = new ArrayBuffer(words * 4);
  const u32 = new Uint32Array(ab);
  let s = (seed >>> 0) || 0x9e3779b9;
  for (let i = 0; i < words; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    u32[i] = s;
  }
  return Buffer.from(ab, 0, size);
}

/** Python-ish truthiness of an environment value (get_bool_env). */
export function envTruthy(value) {
  if (value === undefined || value === null) return false;
  const v = String(value).trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no' && v !== 'off';
}

/** "2025.12.2" / "2026.1.0b3" → [2025, 12, 2]; unknown parts are 0. */
export function parseVersion(version) {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(String(version));
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function versionAtLeast(version, target) {
  const a = parseVersion(version);
  const b = parseVersion(target);
  for (let i = 0; i < 3; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return true;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function isPlainObject(value) {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
}

/** Python repr of a list of strings, for messages like `All specified devices: ['OTA'] ...`. */
export function pyList(items) {
  return `[${items.map((s) => `'${s}'`).join(', ')}]`;
}

export function hex(n, width = 0) {
  return `0x${n.toString(16).padStart(width, '0')}`;
}

// Generators of hostile JSON-ish values and strings shared by the fuzzers.
import type { Rng } from './prng';

const NASTY_STRINGS = [
  '', ' ', '\0', '../../etc/passwd', '..\\..\\x', '/', 'a'.repeat(300), '-rf', '--help', '__proto__', 'constructor', 'prototype',
  'kitchen-plug.yaml', 'secrets.yaml', '.hidden.yaml', 'x.yml', 'OTA', '/dev/ttyUSB0', '0123456789ab', 'f'.repeat(64), 'ABCD-EFGH-JKMN-PQRS',
  '\u202e', '\ud800', '\uffff', '💥', '%s%n', '${x}', '<script>', "'; DROP TABLE", '\r\n', '\x1b[2J', 'null', 'true', '1e309', 'NaN',
];

export function nastyString(r: Rng): string {
  switch (r.int(6)) {
    case 0:
      return r.pick(NASTY_STRINGS);
    case 1:
      return r.bytes(r.int(40)).toString('latin1');
    case 2:
      return String.fromCharCode(...Array.from({ length: r.int(20) }, () => r.int(0x10000)));
    case 3:
      return r.pick(NASTY_STRINGS).repeat(1 + r.int(50));
    case 4:
      return `${r.pick(['a', 'kitchen', 'x'])}${r.int(1000)}.${r.pick(['yaml', 'yml', 'txt', 'YAML'])}`;
    default:
      return r.bytes(r.int(16)).toString('hex');
  }
}

const NUMBERS = [0, -1, 1, 0.5, -0.0, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, Number.MAX_SAFE_INTEGER, 65535, 65536, 6052, 6055];

export function nastyValue(r: Rng, depth = 0): unknown {
  const k = r.int(depth > 4 ? 5 : 8);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.bool();
    case 2:
      return r.pick(NUMBERS);
    case 3:
      return nastyString(r);
    case 4:
      return r.int(1000) - 500;
    case 5:
      return Array.from({ length: r.int(5) }, () => nastyValue(r, depth + 1));
    case 6:
    case 7: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) o[r.bool(0.3) ? r.pick(['__proto__', 'constructor', 'toString', 'then']) : nastyString(r)] = nastyValue(r, depth + 1);
      return o;
    }
  }
  return undefined;
}

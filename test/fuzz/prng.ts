import { must } from '../support/must';
// Seeded, reproducible randomness for the fuzzers: the same seed gives the same inputs, so a
// failure printed with its seed and input index can be replayed exactly.
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** mulberry32: small, fast, good enough to spread inputs. */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    return must(list[this.int(list.length)], 'a non-empty list to pick from');
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A derived generator for input #i (so input i is reproducible on its own). */
  fork(i: number): Rng {
    return new Rng((Math.imul(this.seed ^ 0x5bd1e995, 0x01000193) + i * 0x9e3779b1) >>> 0);
  }
}

export function seedFrom(env: string | undefined): number {
  const n = env !== undefined && env !== '' ? Number(env) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(n)) throw new Error(`bad seed ${env}`);
  return n >>> 0;
}

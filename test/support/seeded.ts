// Seeded randomness for randomised tests: every run prints its seed, and a failure is replayed
// with KILN_TEST_SEED=<seed>. Bytes come from SHA-256 in counter mode over (seed, name, counter):
// deterministic, well mixed, and independent between the tests that use different names.
import { createHash, randomInt } from 'node:crypto';

export interface Seeded {
  readonly seed: number;
  bytes(n: number): Buffer;
  /** An integer in [0, max). */
  int(max: number): number;
}

export function seeded(name: string): Seeded {
  const seed = process.env.KILN_TEST_SEED ? Number(process.env.KILN_TEST_SEED) : randomInt(0, 2 ** 31);
  // Printed so a failing run can be replayed.
  console.log(`[seed] ${name}: KILN_TEST_SEED=${seed}`);
  let counter = 0;
  let pool = Buffer.alloc(0);
  const bytes = (n: number): Buffer => {
    const parts: Buffer[] = [pool];
    let have = pool.length;
    while (have < n) {
      const block = createHash('sha256').update(`${seed}\0${name}\0${counter++}`).digest();
      parts.push(block);
      have += block.length;
    }
    const all = Buffer.concat(parts);
    pool = all.subarray(n);
    return Buffer.from(all.subarray(0, n));
  };
  return {
    seed,
    bytes,
    int: (max) => (max <= 1 ? 0 : bytes(4).readUInt32LE(0) % max),
  };
}

// Short seeded run of the RPC-server and YAML-import fuzzers (the long run: `npm run fuzz:serve`).
// The seed is printed; replay with KILN_FUZZ_SEED=<seed>.
import { describe, expect, it } from 'vitest';
import { seedFrom } from './prng';
import { runServeFuzz } from './serve-fuzz-run';

const seed = seedFrom(process.env.KILN_FUZZ_SEED);

describe(`RPC server and YAML import fuzz (seed ${seed})`, () => {
  it('no crash, every answerable request answered, other sessions unaffected', async () => {
    console.log(`[fuzz] seed ${seed} (replay: KILN_FUZZ_SEED=${seed})`);
    const r = await runServeFuzz({ seed, rpc: Number(process.env.KILN_FUZZ_RPC ?? 1500), yaml: Number(process.env.KILN_FUZZ_YAML ?? 1500) });
    console.log(`[fuzz] rpc ${JSON.stringify(r.rpc)} rssKb ${JSON.stringify(r.rssKb)}`);
    console.log(`[fuzz] yaml ${JSON.stringify({ ...r.yaml, reasons: undefined })}`);
    expect(r.rpc!.firstFailure).toBeNull();
    expect(r.rpc!.crashes).toBe(0);
    expect(r.rpc!.unanswered).toBe(0);
    expect(r.yaml!.firstFailure).toBeNull();
    expect(r.yaml!.crashes).toBe(0);
  }, 300_000);
});

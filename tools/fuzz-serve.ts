// Long run of the RPC-server and YAML-import fuzzers (issue 11 reliability suite):
//   npm run fuzz:serve -- [--seed N] [--rpc 60000] [--yaml 50000]
// Exits 1 on any crash; prints the figures as JSON for docs/RELIABILITY.md.
import { seedFrom } from '../test/fuzz/prng';
import { runServeFuzz } from '../test/fuzz/serve-fuzz-run';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  const value = process.argv[i + 1];
  return i > 0 && value !== undefined ? value : dflt;
};
const seed = seedFrom(arg('seed', process.env.KILN_FUZZ_SEED ?? ''));
const rpc = Number(arg('rpc', '60000'));
const yaml = Number(arg('yaml', '50000'));
console.log(`[fuzz] seed ${seed}: ${rpc} RPC inputs against a real kiln serve, ${yaml} YAML imports`);
const r = await runServeFuzz({ seed, rpc, yaml, log: (l) => console.log(l) });
console.log(JSON.stringify({ seed, rpc: r.rpc, rssKb: r.rssKb, yaml: r.yaml }, null, 2));
const crashes = (r.rpc?.crashes ?? 0) + (r.yaml?.crashes ?? 0) + (r.rpc?.unanswered ?? 0) + (r.yaml?.slow ?? 0);
process.exit(crashes > 0 ? 1 : 0);

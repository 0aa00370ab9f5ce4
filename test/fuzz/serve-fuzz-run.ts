// Runs the RPC fuzzer against a real `kiln serve` child and the YAML-import fuzzer in this
// process, for the vitest short run (serve-fuzz.test.ts) and the long run (tools/fuzz-serve.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, SIM_CMD, spawnKiln } from '../e2e-remote/helpers';
import { waitUntil } from '../support/wait-until';
import { fuzzRpc, type RpcFuzzStats } from './rpc-fuzz';
import { fuzzYaml, type YamlFuzzStats } from './yaml-fuzz';

export interface ServeFuzzResult {
  rpc: RpcFuzzStats | null;
  yaml: YamlFuzzStats | null;
  /** The child's resident memory before and after the RPC run (kB, from /proc). */
  rssKb: { before: number; after: number } | null;
}

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export async function runServeFuzz(o: { seed: number; rpc: number; yaml: number; log?: (l: string) => void }): Promise<ServeFuzzResult> {
  const root = mkdtempSync(join(tmpdir(), 'kiln-fuzz-'));
  const out: ServeFuzzResult = { rpc: null, yaml: null, rssKb: null };
  try {
    if (o.yaml > 0) {
      const configDir = join(root, 'yaml-config');
      await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
      out.yaml = await fuzzYaml({ seed: o.seed, count: o.yaml, configDir, corpusDir: join(REPO_ROOT, 'tools/esphome-sim/examples'), log: o.log });
    }
    if (o.rpc > 0) {
      const config = join(root, 'config');
      await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), config, { recursive: true });
      const child = spawnKiln(['serve', '--config-dir', config, '--port', '0', '--no-mdns', '--no-peer-link', '--esphome', SIM_CMD], { ESPHOME_SIM_SPEED: '0', ESPHOME_NOGITIGNORE: '1' });
      try {
        const line = await waitUntil(() => child.out.find((l) => l.startsWith('KILN_SERVE_URL=')), { timeoutMs: 60_000, what: () => child.text() });
        const url = new URL(line.slice('KILN_SERVE_URL='.length));
        const before = rssKb(child.proc.pid!);
        out.rpc = await fuzzRpc({
          port: Number(url.port),
          token: url.hash.slice('#token='.length),
          seed: o.seed,
          count: o.rpc,
          alive: () => child.proc.exitCode === null && child.proc.signalCode === null,
          log: o.log,
        });
        out.rssKb = { before, after: rssKb(child.proc.pid!) };
        if (out.rpc.crashes > 0) o.log?.(`[fuzz:rpc] server output:\n${child.text().slice(-4000)}`);
      } finally {
        if (child.proc.exitCode === null) {
          child.proc.kill('SIGTERM');
          await Promise.race([child.exit, new Promise((r) => setTimeout(r, 10_000))]);
          if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
        }
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}

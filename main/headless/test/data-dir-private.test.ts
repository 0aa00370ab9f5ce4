// Issue 11 defect 4, sender side: everything `kiln serve` writes under its data dir
// (<config>/.kiln: jobs.json, logs/, every log, settings.json, the lock) is 0700 / 0600 even
// under a permissive umask (022, the usual default). A real child runs a compile and a settings
// change through the RPC API; then every entry of the data dir is looked at. Peer-link state
// files (identity, pairings) are another module's and are listed for information only.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../../preload/contract';
import { REPO_ROOT, SIM_CMD, spawnKiln, type KilnChild } from '../../../test/e2e-remote/helpers';
import { waitUntil } from '../../../test/support/wait-until';
import { openClient } from './ws-client';

let child: KilnChild | undefined;
const dirs: string[] = [];
afterAll(async () => {
  if (child && child.proc.exitCode === null) {
    child.proc.kill('SIGTERM');
    await child.exit;
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [join(dir, e.name), ...walk(join(dir, e.name))] : [join(dir, e.name)]));
}

const PEER_LINK_STATE = /^(identity|pairings|receiver-peers|peer-link)/;

describe('sender data dir is private (issue 11 defect 4)', () => {
  it('kiln serve under umask 022: every dir 0700, every file 0600 after a compile and a settings change', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kiln-private-'));
    dirs.push(root);
    const config = join(root, 'config');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), config, { recursive: true });
    const old = process.umask(0o022);
    try {
      child = spawnKiln(['serve', '--config-dir', config, '--port', '0', '--no-mdns', '--esphome', SIM_CMD], { ESPHOME_SIM_SPEED: '0', ESPHOME_NOGITIGNORE: '1' });
    } finally {
      process.umask(old);
    }
    const line = await waitUntil(() => child!.out.find((l) => l.startsWith('KILN_SERVE_URL=')), { timeoutMs: 60_000, what: () => child!.text() });
    const url = new URL(line.slice('KILN_SERVE_URL='.length));
    const c = await openClient(`ws://127.0.0.1:${url.port}/rpc`);
    await c.client.call('hello', { protocol: PROTOCOL_VERSION, token: url.hash.slice('#token='.length) });
    await c.client.call('updateSettings', { notifications: false });
    const job = await c.client.call('compile', { configuration: 'kitchen-plug.yaml', forceLocal: true });
    await waitUntil(async () => (await c.client.call('getJob', { jobId: job.job_id }))?.status === 'completed', { timeoutMs: 60_000, what: 'the compile' });
    c.ws.close();
    child.proc.kill('SIGTERM');
    await child.exit;

    const dataDir = join(config, '.kiln');
    const entries = [dataDir, ...walk(dataDir)];
    const names = entries.map((p) => relative(dataDir, p) || '.');
    expect(names).toEqual(expect.arrayContaining(['.', 'jobs.json', 'logs', 'settings.json', join('logs', `${job.job_id}.log`)]));
    const wrong: string[] = [];
    for (const p of entries) {
      const rel = relative(dataDir, p) || '.';
      const st = statSync(p);
      const mode = st.mode & 0o777;
      // The esphome launcher (toolchains/launcher.ts) is a script the engine executes: owner-only rwx.
      const want = st.isDirectory() || rel === 'esphome-launcher' ? 0o700 : 0o600;
      if (PEER_LINK_STATE.test(rel)) {
        console.log(`[data-dir-private] (peer-link state, not checked here) ${rel} ${mode.toString(8)}`);
        continue;
      }
      if (mode !== want) wrong.push(`${rel} ${mode.toString(8)}`);
    }
    expect(wrong).toEqual([]);
  }, 120_000);
});

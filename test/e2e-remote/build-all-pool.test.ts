// `kiln build-all --server A --server B` on real processes (issue 15): two `kiln receiver`
// children compiling with the esphome simulator (`# sim-build-ms:` makes each compile last long
// enough to be caught mid-build), paired with `kiln pair`; the batch is spread over both by the
// dispatch pool. Build server A is SIGKILLed while it compiles: its job is re-routed to B, the
// batch completes and the summary counts every device once.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/wait-until';
import { isAlive, killQuietly, readSimLog, REPO_ROOT, SIM, spawnKiln, startReceiver, type KilnChild } from './helpers';

const KEY = 'ABCD-EFGH-JKMN-PQRS';
const roots: string[] = [];
const children: KilnChild[] = [];
const simLogs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGTERM');
      await Promise.race([c.exit, new Promise((r) => setTimeout(r, 5000))]);
      killQuietly(c.proc.pid!);
    }
  }
  for (const log of simLogs.splice(0)) for (const e of readSimLog(log)) if (isAlive(e.pid)) killQuietly(e.pid);
});

afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

const DEVICES = ['dev1', 'dev2', 'dev3', 'dev4', 'dev5', 'dev6'];
const compiles = (log: string) => readSimLog(log).filter((e) => e.role === 'main' && e.argv?.includes('compile'));

describe('kiln build-all over a pool of build servers (real processes)', () => {
  it('spreads the batch over two build servers; one SIGKILLed mid-batch: its job re-routed, the batch completes, the summary is right', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kiln-buildall-pool-'));
    roots.push(root);
    const configDir = join(root, 'config');
    const base = readFileSync(join(REPO_ROOT, 'tools/esphome-sim/examples/kitchen-plug.yaml'), 'utf8');
    await import('node:fs/promises').then((fs) => fs.mkdir(configDir));
    writeFileSync(join(configDir, 'secrets.yaml'), readFileSync(join(REPO_ROOT, 'tools/esphome-sim/examples/secrets.yaml')));
    for (const d of DEVICES) writeFileSync(join(configDir, `${d}.yaml`), `# sim-build-ms: 2500\n${base.replace('name: kitchen-plug', `name: ${d}`).replace('friendly_name: Kitchen Plug', `friendly_name: ${d}`)}`);
    const logA = join(root, 'a-sim.log');
    const logB = join(root, 'b-sim.log');
    simLogs.push(logA, logB);
    const a = await startReceiver(join(root, 'recv-a'), KEY, { ESPHOME_SIM_LOG: logA });
    children.push(a);
    const b = await startReceiver(join(root, 'recv-b'), KEY, { ESPHOME_SIM_LOG: logB });
    children.push(b);
    const senderData = join(configDir, '.kiln');
    for (const [r, label] of [[a, 'box-a'], [b, 'box-b']] as const) {
      const pair = spawnKiln(['pair', `127.0.0.1:${r.ready.port}`, '--pairing-key', KEY, '--yes', '--label', label, '--data-dir', senderData]);
      expect((await pair.exit).code, pair.text()).toBe(0);
    }

    const run = spawnKiln(['build-all', '--config-dir', configDir, '--server', 'box-a', '--server', 'box-b', '--json'], {
      KILN_ESPHOME: `${process.execPath} ${SIM}`,
      ESPHOME_SIM_SPEED: '0',
      ESPHOME_SIM_LOG: join(root, 'sender-sim.log'),
      ESPHOME_NOGITIGNORE: '1',
    });
    children.push(run);
    // Both servers get work (the pool spreads it), then A dies in the middle of a compile.
    // A has finished one compile and is in the middle of the next when it dies.
    const onA = await waitUntil(() => compiles(logB).length >= 1 && compiles(logA).some((e) => !isAlive(e.pid)) && compiles(logA).find((e) => isAlive(e.pid)), { timeoutMs: 60_000, what: () => `a second compile on build server A\n${run.text()}` });
    const lost = onA.argv!.find((x) => x.endsWith('.yaml'))!.split('/').pop()!;
    const doneOnABeforeKill = compiles(logA).filter((e) => !isAlive(e.pid)).length;
    a.proc.kill('SIGKILL');
    const exit = await waitUntil(() => (run.proc.exitCode !== null ? run.proc.exitCode : null), { timeoutMs: 120_000, what: () => `build-all to end\n${run.text()}` });
    const summary = JSON.parse(run.out.join('\n')) as { total: number; failed: number; results: Array<{ configuration: string; status: string; error: string }> };
    console.log(`[build-all pool] A compiled ${doneOnABeforeKill} before the kill (+1 lost mid-build), B ran ${compiles(logB).length} compile(s); exit ${exit}`);
    expect(exit, run.text()).toBe(0);
    expect(summary.total).toBe(6);
    expect(summary.failed).toBe(0);
    expect(summary.results.map((r) => r.configuration).sort()).toEqual(DEVICES.map((d) => `${d}.yaml`));
    expect(summary.results.every((r) => r.status === 'completed'), JSON.stringify(summary.results)).toBe(true);
    // The job lost with A was built again on B: B built everything A did not finish.
    expect(compiles(logB).length).toBeGreaterThanOrEqual(6 - doneOnABeforeKill);
    expect(run.text()).toMatch(/kiln: 6 of 6 done, 0 failed/);
    // The device A was compiling when it died was compiled again on B.
    expect(compiles(logB).some((e) => e.argv!.some((x) => x.endsWith(`/${lost}`))), `${lost} on B`).toBe(true);
    // The next run finds every device up to date (each build landed in the firmware library).
    const again = spawnKiln(['build-all', '--config-dir', configDir, '--json'], { KILN_ESPHOME: `${process.execPath} ${SIM}`, ESPHOME_SIM_SPEED: '0' });
    expect((await again.exit).code, again.text()).toBe(0);
    expect(again.text()).toContain('kiln: 0 of 6 configurations are not up to date');
  }, 240_000);
});

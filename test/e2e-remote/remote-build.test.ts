// End-to-end remote builds with REAL processes on loopback: two `kiln receiver` children (the
// build servers, compiling with the esphome simulator), `kiln pair` and `kiln build --server`
// children, and a sender composed by createApp (engine + peer-link client manager + remote builds)
// in this test process. Scenarios: pairing by key, a remote compile through the CLI, a pool
// compile to completion with artifacts staged, a compile cancelled mid-build (the receiver's
// simulator process group is gone afterwards), and a receiver SIGKILLed mid-build whose job is
// re-routed to the local machine and completes.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type KilnApp } from '../../main/core/app';
import { emojiString, groupedHex } from '../../main/core/peer-link/fingerprint';
import type { FirmwareJob } from '../../main/core/jobs/model';
import { groupMembers, isAlive, killQuietly, readSimLog, REPO_ROOT, SIM, spawnKiln, startReceiver, type BuildServerChild } from './helpers';
import { waitUntil } from '../support/wait-until';
import { must } from '../support/must';

const KEY_A = 'ABCD-EFGH-JKMN-PQRS';
const KEY_B = 'TVWX-YZ23-4567-89AB';

let root: string;
let configDir: string;
let senderData: string;
let senderSimLog: string;
let recvALog: string;
let recvBLog: string;
let a: BuildServerChild;
let b: BuildServerChild;
let app: KilnApp | undefined;
const savedEnv = { ...process.env };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-e2e-remote-'));
  configDir = join(root, 'config');
  senderData = join(root, 'sender-data');
  senderSimLog = join(root, 'sender-sim.log');
  recvALog = join(root, 'recv-a-sim.log');
  recvBLog = join(root, 'recv-b-sim.log');
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
  // The sender's own (local) esphome runs: instant simulator, logged separately.
  process.env.ESPHOME_SIM_SPEED = '0';
  process.env.ESPHOME_SIM_LOG = senderSimLog;
  process.env.ESPHOME_NOGITIGNORE = '1';
  [a, b] = await Promise.all([
    startReceiver(join(root, 'recv-a'), KEY_A, { ESPHOME_SIM_LOG: recvALog }),
    // Server B never finishes a compile: it is the one killed mid-build.
    startReceiver(join(root, 'recv-b'), KEY_B, { ESPHOME_SIM_LOG: recvBLog, ESPHOME_SIM_SCENARIO: 'hang' }),
  ]);
}, 60_000);

afterAll(async () => {
  await app?.stop().catch(() => undefined);
  for (const r of [a, b]) {
    if (r && r.proc.exitCode === null && r.proc.signalCode === null) {
      r.proc.kill('SIGTERM');
      await Promise.race([r.exit, new Promise((res) => setTimeout(res, 5000))]);
      killQuietly(r.proc.pid!);
    }
  }
  // Simulators orphaned by the SIGKILLed receiver.
  for (const log of [recvALog, recvBLog, senderSimLog]) for (const e of readSimLog(log)) if (isAlive(e.pid)) killQuietly(e.pid);
  process.env = savedEnv;
  await rm(root, { recursive: true, force: true });
}, 30_000);

function waitJob(id: string, timeoutMs = 20_000): Promise<FirmwareJob> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    app!.engine.whenDone(id).finally(() => clearTimeout(t)),
    new Promise<FirmwareJob>((_, reject) => {
      t = setTimeout(() => reject(new Error(`job ${id} not done after ${timeoutMs} ms: ${JSON.stringify({ ...app!.engine.getJob(id), output: app!.engine.getJob(id)?.output.slice(-5) })}`)), timeoutMs);
    }),
  ]);
}

describe('remote builds with real processes', () => {
  it('`kiln pair` pairs with both build servers by key, showing their fingerprints', async () => {
    for (const [srv, key, label] of [
      [a, KEY_A, 'server-a'],
      [b, KEY_B, 'server-b'],
    ] as const) {
      const child = spawnKiln(['pair', `127.0.0.1:${srv.ready.port}`, '--pairing-key', key, '--yes', '--label', label, '--data-dir', senderData]);
      const { code } = await child.exit;
      expect(code, child.text()).toBe(0);
      const text = child.out.join('\n');
      expect(text).toContain(emojiString(srv.ready.pin));
      expect(text).toContain(groupedHex(srv.ready.pin));
      expect(text).toContain(`Paired with ${label}`);
    }
    const stored = JSON.parse(readFileSync(join(senderData, 'pairings.json'), 'utf8'));
    expect(stored.pairings.map((p: { pin_sha256: string }) => p.pin_sha256).sort()).toEqual([a.ready.pin, b.ready.pin].sort());
  }, 60_000);

  it('`kiln build --server` compiles on that server and streams its log', async () => {
    const child = spawnKiln(['build', join(configDir, 'kitchen-plug.yaml'), '--config-dir', configDir, '--data-dir', senderData, '--server', 'server-a', '--esphome', `${process.execPath} ${SIM}`]);
    const { code } = await child.exit;
    expect(code, child.text()).toBe(0);
    expect(child.out.join('\n')).toMatch(/Successfully compiled program|\[SUCCESS\]/);
    expect(child.err.join('\n')).toContain('compiling there');
    // Compiled by receiver A's simulator, not locally.
    expect(readSimLog(recvALog).some((e) => e.role === 'main' && e.argv?.includes('compile'))).toBe(true);
    expect(readSimLog(senderSimLog).some((e) => e.argv?.includes('compile'))).toBe(false);
  }, 60_000);

  it('the app routes a compile to the oldest idle server and completes it there', async () => {
    app = await createApp({
      configDir,
      dataDir: senderData,
      esphome: [process.execPath, SIM],
      report: () => undefined,
      peerLink: { buildServerRole: false, startupGraceMs: 0, backoffBaseMs: 100, backoffCapMs: 500 },
      engine: { terminateGraceMs: 1000, drainMs: 200 },
    });
    const pl = app.peerLink!;
    await waitUntil(() => pl.clients.connectedPins().length === 2, { timeoutMs: 15_000, what: 'both sessions' });
    const before = readSimLog(recvALog).length;
    const job = app.engine.compile({ configuration: 'living-room.yaml' });
    expect(job.source).toBe('remote_pending');
    const done = await waitJob(job.job_id);
    expect(done.status, done.error ?? '').toBe('completed');
    expect(done).toMatchObject({ source: 'remote', source_pin_sha256: a.ready.pin, source_label: 'server-a' });
    expect(readSimLog(recvALog).slice(before).some((e) => e.argv?.includes('compile'))).toBe(true);
    // Artifacts came back and were staged where a local `esphome upload` looks.
    const storage = JSON.parse(readFileSync(join(configDir, '.esphome', 'storage', 'living-room.yaml.json'), 'utf8'));
    expect(existsSync(storage.firmware_bin_path)).toBe(true);
    expect(done.compile_started_at).not.toBeNull();
  }, 60_000);

  it('the remote compile is recorded in the firmware library as built on that server', async () => {
    const { createHash } = await import('node:crypto');
    await app!.firmware.recorder.idle();
    const entry = must((await app!.firmware.library.list('living-room.yaml'))[0]);
    expect(entry).toMatchObject({ built_on: 'remote', built_on_label: 'server-a', device: 'living-room.yaml' });
    const storage = JSON.parse(readFileSync(join(configDir, '.esphome', 'storage', 'living-room.yaml.json'), 'utf8'));
    expect(entry.images.find((i) => i.role === 'ota')!.sha256).toBe(createHash('sha256').update(readFileSync(storage.firmware_bin_path)).digest('hex'));
    expect(entry.esphome_version).toBe(storage.esphome_version);
  }, 30_000);

  it('an unchanged configuration is not bundled again; an edited one is', async () => {
    const { writeFileSync, utimesSync } = await import('node:fs');
    const yaml = join(configDir, 'cached.yaml');
    writeFileSync(yaml, readFileSync(join(configDir, 'kitchen-plug.yaml'), 'utf8').replace(/name: .*/, 'name: cached'));
    const past = new Date(Date.now() - 60_000);
    for (const f of [yaml, join(configDir, 'secrets.yaml')]) utimesSync(f, past, past);
    const bundles = () => readSimLog(senderSimLog).filter((e) => e.role === 'main' && e.argv?.includes('bundle')).length;

    const compilesOnA = () => readSimLog(recvALog).filter((e) => e.role === 'main' && e.argv?.includes('compile')).length;
    const storedOnA = () => readdirSync(join(root, 'recv-a', 'remote_builds')).some((k) => existsSync(join(root, 'recv-a', 'remote_builds', k, '.reuse')) && readdirSync(join(root, 'recv-a', 'remote_builds', k, '.reuse')).length > 0);

    const first = await waitJob(app!.engine.compile({ configuration: 'cached.yaml' }).job_id);
    expect(first.status, first.error ?? '').toBe('completed');
    expect(first.source_label).toBe('server-a');
    const afterFirst = bundles();
    const aAfterFirst = compilesOnA();
    await waitUntil(storedOnA, { timeoutMs: 10_000, what: 'server A keeping the build for reuse' });
    const second = await waitJob(app!.engine.compile({ configuration: 'cached.yaml' }).job_id);
    expect(second.status, second.error ?? '').toBe('completed');
    expect(second.source).toBe('remote');
    expect(bundles()).toBe(afterFirst);
    const secondLog = (await app!.engine.readLog(second.job_id)).join('');
    expect(secondLog).toContain('configuration unchanged since its last bundle');
    // Issue 15: the identical bundle is answered from server A's stored build — no compile there,
    // a plain-words line, and the artifacts staged like any remote build's.
    expect(secondLog).toMatch(/Identical configuration built here .* with ESPHome \S+ — sending the stored firmware, no rebuild/);
    expect(compilesOnA()).toBe(aAfterFirst);
    expect(a.out.some((l) => l.includes('Identical configuration built here'))).toBe(true);
    const staged = JSON.parse(readFileSync(join(configDir, '.esphome', 'storage', 'cached.yaml.json'), 'utf8'));
    expect(existsSync(staged.firmware_bin_path)).toBe(true);

    writeFileSync(yaml, readFileSync(yaml, 'utf8') + '\n# edited\n');
    const third = await waitJob(app!.engine.compile({ configuration: 'cached.yaml' }).job_id);
    expect(third.status, third.error ?? '').toBe('completed');
    expect(bundles()).toBe(afterFirst + 1);
    expect((await app!.engine.readLog(third.job_id)).join('')).not.toContain('configuration unchanged since its last bundle');
    expect(compilesOnA()).toBe(aAfterFirst + 1); // an edited bundle is built
  }, 60_000);

  it('a compile cancelled mid-build ends cancelled and the receiver simulator process group is gone', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(configDir, 'stuck.yaml'), readFileSync(join(configDir, 'living-room.yaml'), 'utf8').replace('name: ${device}', 'name: stuck') + '\n# sim: grandchild\n');
    const before = readSimLog(recvALog).length;
    const job = app!.engine.compile({ configuration: 'stuck.yaml' });
    // Mid-compile: the simulator and its "compiler" grandchild are running on the receiver.
    const entries = await waitUntil(
      () => {
        const e = readSimLog(recvALog).slice(before);
        return e.some((x) => x.role === 'grandchild') && app!.engine.getJob(job.job_id)!.output.some((l) => l.includes('Compiling')) ? e : undefined;
      },
      { timeoutMs: 20_000, what: 'remote compile running' },
    );
    const main = entries.find((e) => e.role === 'main' && e.argv?.includes('compile'))!;
    const grand = entries.find((e) => e.role === 'grandchild')!;
    expect(isAlive(main.pid)).toBe(true);
    expect(isAlive(grand.pid)).toBe(true);
    expect(grand.pgid).toBe(main.pgid);
    await app!.engine.cancel(job.job_id);
    const done = await waitJob(job.job_id, 10_000);
    expect(done.status).toBe('cancelled');
    // The wire cancel made the receiver terminate the whole group.
    await waitUntil(() => !isAlive(main.pid) && !isAlive(grand.pid), { timeoutMs: 10_000, what: 'receiver simulator exit' });
    expect(groupMembers(main.pgid!)).toEqual([]);
    await waitUntil(() => a.out.some((l) => l.includes(`[job `) && l.includes('cancelled')), { timeoutMs: 5000, what: 'receiver reports the cancel' });
  }, 60_000);

  it('a receiver SIGKILLed mid-build: the job is re-routed to the local machine and completes', async () => {
    const pl = app!.peerLink!;
    // Steer the pool to server B (A disabled), whose simulator hangs mid-compile.
    await pl.state.pairings.setEnabled(a.ready.pin, false);
    await waitUntil(() => !pl.clients.connectedPins().includes(a.ready.pin), { timeoutMs: 10_000, what: 'A disconnected' });
    const job = app!.engine.compile({ configuration: 'pico-sensor.yaml' });
    await waitUntil(() => app!.engine.getJob(job.job_id)!.source_pin_sha256 === b.ready.pin && readSimLog(recvBLog).some((e) => e.role === 'main' && e.argv?.includes('compile')), { timeoutMs: 20_000, what: 'compile running on B' });
    await waitUntil(() => app!.engine.getJob(job.job_id)!.output.length > 0, { timeoutMs: 10_000, what: 'remote output' });
    expect(readSimLog(senderSimLog).filter((e) => e.argv?.includes('compile'))).toHaveLength(0);
    b.proc.kill('SIGKILL');
    const done = await waitJob(job.job_id, 30_000);
    expect(done.status, done.error ?? '').toBe('completed');
    expect(done.source).toBe('local');
    // Finished output moves to the sidecar log once stored (jobs/store.ts): read whichever holds it.
    const log = done.output.length > 0 ? done.output.join('') : ((await app!.engine.readLog(done.job_id)) ?? []).join('');
    expect(log).toMatch(/\n\*\*\* Lost server-b mid-build \((peer_hung_up|transport_error).*\) — building it again on the next free build server or this computer \*\*\*\n/);
    // The notice sits between the remote part of the log and the local rebuild.
    expect(log.indexOf('re-routing')).toBeLessThan(log.indexOf('Successfully compiled program'));
    // The rebuild really ran here.
    expect(readSimLog(senderSimLog).some((e) => e.argv?.includes('compile') && e.argv.some((x) => x.endsWith('pico-sensor.yaml')))).toBe(true);
  }, 60_000);
});

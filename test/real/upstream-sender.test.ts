// Upstream sends, Kiln builds: the pinned esphome-device-builder dashboard (its real esphome makes
// the bundles) driven only through its own WebSocket API, as its web UI does, paired with a
// `kiln receiver` process (key mode) that builds with Kiln's simulator.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, SIM } from '../e2e-remote/helpers';
import { waitUntil } from '../support/wait-until';
import { DashboardClient } from './dashboard';
import { envs, notRun } from './envs';
import { alive, descendants, start, type Proc } from './procs';
import { must } from '../support/must';

const KILN = join(REPO_ROOT, 'main/headless/cli/kiln.ts');
const EXAMPLES = join(REPO_ROOT, 'tools/esphome-sim/examples');
const KEY = 'KRNR-EAST-HNGS-2345'; // alphabet ABCDEFGHJKMNPQRSTVWXYZ23456789
const started: Proc[] = [];
const clients: DashboardClient[] = [];
const tmp: string[] = [];
// Build processes run in their own process group: killing the far side with SIGKILL leaves them
// running (nothing can clean up after SIGKILL), so the session-loss tests end them by pid.
const orphans: number[] = [];

interface Job { job_id: string; status: string; source: string; exit_code: number | null; error: string | null; source_pin_sha256: string; configuration: string }
interface Pairing { pin_sha256: string; status: string; connected: boolean; esphome_version: string; label: string }

async function startReceiver(dataDir: string, speed = '0'): Promise<{ proc: Proc; port: number; pin: string }> {
  const proc = start(process.execPath, ['--import', 'tsx', KILN, 'receiver', '--host', '127.0.0.1', '--port', '0', '--no-mdns', '--esphome', SIM, '--data-dir', dataDir, '--pairing-key', KEY], {
    cwd: REPO_ROOT,
    env: { KILN_FROM_SOURCE: '1', ESPHOME_SIM_VERSION: envs.esphomeVersion, ESPHOME_SIM_SPEED: speed, ESPHOME_NOGITIGNORE: '1', ESPHOME_SIM_ORPHAN_TTL: '120' },
  });
  started.push(proc);
  const line = await waitUntil(() => proc.lines.find((l) => l.text.startsWith('KILN_RECEIVER_READY ')), { timeoutMs: 60_000, what: () => `kiln receiver ready (${proc.text()})` });
  const ready = JSON.parse(line.text.slice('KILN_RECEIVER_READY '.length));
  return { proc, port: ready.port, pin: ready.pin };
}

/** Upstream's dashboard on free ports, loopback only (its build-server listener too: it opens one by default). */
async function startDashboard(configDir: string): Promise<{ proc: Proc; client: DashboardClient; port: number }> {
  const proc = start(envs.deviceBuilder.python, ['-m', 'esphome_device_builder', configDir, '--host', '127.0.0.1', '--port', '0', '--remote-build-port', '0', '--remote-build-host', '127.0.0.1'], {
    cwd: configDir, env: { PYTHONUNBUFFERED: '1' },
  });
  started.push(proc);
  const m = await waitUntil(() => /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(proc.text()), { timeoutMs: 90_000, what: () => `upstream dashboard (${proc.text().slice(-2000)})` });
  const port = Number(m[1]);
  const client = await DashboardClient.connect(port);
  clients.push(client);
  await waitUntil(() => client.serverInfo, { what: 'server_info' });
  return { proc, client, port };
}

async function pairAndEnable(client: DashboardClient, recv: { port: number; pin: string }): Promise<Pairing> {
  const preview = await client.call<{ pin_sha256: string; requires_pairing_key: boolean }>('remote_build/preview_pair', { hostname: '127.0.0.1', port: recv.port });
  expect(preview).toEqual({ pin_sha256: recv.pin, requires_pairing_key: true });
  const pairing = await client.call<Pairing>('remote_build/request_pair', {
    hostname: '127.0.0.1', port: recv.port, pin_sha256: preview.pin_sha256, receiver_label: 'kiln', offloader_label: 'upstream-dashboard', pairing_key: KEY,
  });
  expect(pairing.status).toBe('approved');
  await client.call('remote_build/set_offloader_settings', { remote_builds_enabled: true });
  return waitUntil(async () => {
    const s = await client.call<{ pairings: Pairing[] }>('remote_build/get_offloader_settings');
    return s.pairings.find((p) => p.pin_sha256 === recv.pin && p.connected);
  }, { timeoutMs: 60_000, what: 'upstream reports the session to Kiln connected' });
}

function workDirs(): { root: string; cfg: string; recv: string } {
  const root = mkdtempSync(join(tmpdir(), 'kiln-real-dash-'));
  tmp.push(root);
  cpSync(EXAMPLES, join(root, 'cfg'), { recursive: true });
  writeFileSync(join(root, 'cfg', 'stuck.yaml'), readFileSync(join(root, 'cfg', 'kitchen-plug.yaml'), 'utf8').replace('name: kitchen-plug', 'name: stuck') + '\n# sim: hang\n');
  return { root, cfg: join(root, 'cfg'), recv: join(root, 'recv') };
}

const terminal = (client: DashboardClient, jobId: string, timeoutMs = 120_000) => waitUntil(async () => {
  const j = await client.call<Job>('firmware/get_job', { job_id: jobId });
  return ['completed', 'failed', 'cancelled'].includes(j.status) ? j : null;
}, { timeoutMs, what: `upstream job ${jobId} terminal` });

afterEach(async () => {
  for (const pid of orphans.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const c of clients.splice(0)) c.close();
  for (const p of started.splice(0)) await p.stop(5_000);
});
afterAll(() => { for (const d of tmp) rmSync(d, { recursive: true, force: true }); });

describe.skipIf(!envs.ok)(`upstream esphome-device-builder ${envs.deviceBuilderVersion} sends, kiln receiver builds${notRun}`, () => {
  it('preview, pair with the key (a wrong key refused), session, submit, live output, completed, artifacts downloaded and served by upstream', async () => {
    const w = workDirs();
    const recv = await startReceiver(w.recv, '0.2');
    const dash = await startDashboard(w.cfg);
    const c = dash.client;
    // a wrong key changes nothing
    await expect(c.call('remote_build/request_pair', { hostname: '127.0.0.1', port: recv.port, pin_sha256: recv.pin, receiver_label: 'kiln', offloader_label: 'x', pairing_key: 'AAAA-BBBB-CCCC-DDDD' })).rejects.toThrow();
    const pairing = await pairAndEnable(c, recv);
    expect(pairing.esphome_version).toBe(envs.esphomeVersion);
    // Kiln persisted the sender
    const peers = JSON.parse(readFileSync(join(w.recv, 'receiver-peers.json'), 'utf8'));
    expect(JSON.stringify(peers)).toContain('upstream-dashboard');

    const job = await c.call<Job>('firmware/compile', { configuration: 'living-room.yaml' });
    const sub = c.subscribe('firmware/follow_job', { job_id: job.job_id });
    const done = await terminal(c, job.job_id);
    expect(done).toMatchObject({ status: 'completed', exit_code: 0, source: 'remote', source_pin_sha256: recv.pin });
    const out = c.events.filter((e) => e.message_id === sub && e.event === 'output').map((e) => String(e.data));
    const text = out.join('');
    expect(text).toContain('*** building configuration bundle for remote build ***');
    // Kiln's receiver output, live: the simulator ran inside Kiln's workspace
    expect(text).toMatch(/Reading configuration .*remote_builds\/.*living-room\.yaml/);
    expect(text).toContain("Kiln's esphome simulator");
    expect(text).toContain('Successfully compiled program.');
    expect(recv.proc.text()).toMatch(/\[job \w+\]/);

    // download_artifacts: upstream staged Kiln's artifacts locally and serves them
    const bins = await c.call<{ file: string }[]>('firmware/get_binaries', { configuration: 'living-room.yaml' });
    expect(bins.map((b) => b.file)).toEqual(expect.arrayContaining(['firmware.factory.bin', 'firmware.ota.bin', 'firmware.elf']));
    const { token } = await c.call<{ token: string }>('firmware/download_token', { configuration: 'living-room.yaml', file: 'firmware.ota.bin' });
    const res = await fetch(`http://127.0.0.1:${dash.port}/api/firmware/download?token=${token}`);
    expect(res.status).toBe(200);
    const got = Buffer.from(await res.arrayBuffer());
    const kilnBuilt = readFileSync(join(w.recv, 'remote_builds', readdirOne(join(w.recv, 'remote_builds')), '.esphome', 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.ota.bin'));
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(kilnBuilt).digest('hex'));

    // Issue 15: the same unchanged configuration again — Kiln answers from its stored build (no
    // simulator run), in plain words, and upstream accepts the completed job and its artifacts.
    const compilesBefore = recv.proc.text().split('\n').filter((l) => /\] compile .* running$/.test(l)).length;
    const again = await c.call<Job>('firmware/compile', { configuration: 'living-room.yaml' });
    const sub2 = c.subscribe('firmware/follow_job', { job_id: again.job_id });
    expect(await terminal(c, again.job_id)).toMatchObject({ status: 'completed', exit_code: 0, source: 'remote' });
    const text2 = c.events.filter((e) => e.message_id === sub2 && e.event === 'output').map((e) => String(e.data)).join('');
    expect(text2).toMatch(/Identical configuration built here .* with ESPHome .* — sending the stored firmware, no rebuild/);
    expect(text2).not.toContain('Successfully compiled program.');
    expect(recv.proc.text()).toContain('Identical configuration built here');
    expect(recv.proc.text().split('\n').filter((l) => /\] compile .* running$/.test(l)).length).toBe(compilesBefore);
    const { token: token2 } = await c.call<{ token: string }>('firmware/download_token', { configuration: 'living-room.yaml', file: 'firmware.ota.bin' });
    const res2 = await fetch(`http://127.0.0.1:${dash.port}/api/firmware/download?token=${token2}`);
    expect(createHash('sha256').update(Buffer.from(await res2.arrayBuffer())).digest('hex')).toBe(createHash('sha256').update(kilnBuilt).digest('hex'));
  });

  it('cancel from upstream (after the session outlived the heartbeat deadline) stops Kiln\'s build process', async () => {
    const w = workDirs();
    const recv = await startReceiver(w.recv);
    const dash = await startDashboard(w.cfg);
    await pairAndEnable(dash.client, recv);
    const job = await dash.client.call<Job>('firmware/compile', { configuration: 'stuck.yaml' });
    const sim = await waitUntil(() => descendants(recv.proc.pid).find((p) => p.cmdline.includes(' compile ') && p.cmdline.includes('stuck.yaml')),
      { timeoutMs: 60_000, what: () => `Kiln's build process (receiver:\n${recv.proc.text()})` });
    const heldMs = Number(process.env.KILN_REAL_HEARTBEAT_HOLD_MS ?? 95_000);
    await new Promise((r) => setTimeout(r, heldMs)); // a time bound is what is tested here
    const during = await dash.client.call<Job>('firmware/get_job', { job_id: job.job_id });
    expect(during.status).toBe('running');
    await dash.client.call('firmware/cancel', { job_id: job.job_id });
    const done = await terminal(dash.client, job.job_id, 30_000);
    expect(done.status).toBe('cancelled');
    await waitUntil(() => !alive(sim.pid), { timeoutMs: 30_000, what: 'Kiln\'s build process gone' });
    expect(descendants(recv.proc.pid).filter((p) => p.cmdline.includes('stuck.yaml'))).toEqual([]);
    await waitUntil(() => /\[job \w+\] cancelled/.test(recv.proc.text()), { timeoutMs: 10_000, what: 'kiln receiver logs the cancel' });
  }, 300_000);

  it('session loss: the kiln receiver killed mid-build ends upstream\'s job', async () => {
    const w = workDirs();
    const recv = await startReceiver(w.recv);
    const dash = await startDashboard(w.cfg);
    await pairAndEnable(dash.client, recv);
    const job = await dash.client.call<Job>('firmware/compile', { configuration: 'stuck.yaml' });
    await waitUntil(() => descendants(recv.proc.pid).find((p) => p.cmdline.includes(' compile ') && p.cmdline.includes('stuck.yaml')), { timeoutMs: 60_000, what: 'Kiln build running' });
    const sub = dash.client.subscribe('firmware/follow_job', { job_id: job.job_id });
    await waitUntil(() => dash.client.events.some((e) => e.message_id === sub && String(e.data).includes('Compiling')), { timeoutMs: 60_000, what: 'live output from Kiln' });
    const orphan = await waitUntil(() => descendants(recv.proc.pid).find((p) => p.cmdline.includes(' compile ') && p.cmdline.includes('stuck.yaml')), { timeoutMs: 60_000, what: 'the build process' });
    orphans.push(orphan.pid);
    process.kill(-recv.proc.pid, 'SIGKILL');
    const done = await terminal(dash.client, job.job_id, 180_000);
    const text = dash.client.events.filter((e) => e.message_id === sub && e.event === 'output').map((e) => String(e.data)).join('');
    // Upstream's answer to a lost build server: the job goes back to its own queue and builds
    // locally with its own esphome (which fails here at the PlatformIO download).
    expect(done, text).toMatchObject({ status: 'failed', source: 'local', exit_code: 1 });
    expect(text.slice(-4000)).toMatch(/INFO ESPHome|Reading configuration/);
    expect(text).toContain('*** build server lost (peer_hung_up); re-routing to another worker ***');
  }, 300_000);
});

function readdirOne(dir: string): string {
  const names = readdirSync(dir).filter((n) => !n.startsWith('.'));
  expect(names.length).toBe(1);
  return must(names[0]);
}

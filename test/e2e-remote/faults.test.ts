// Reliability suite, faults (issue 11): each scenario on real processes — `kiln receiver`
// children compiling with the esphome simulator, `kiln pair`, a `kiln serve` sender child where
// the sender itself is killed, otherwise a sender composed by createApp in this process.
//   - receiver SIGSTOP mid-build (silent partition): detected within the heartbeat dead-after
//     bound, the job re-routed to this machine and completed;
//   - receiver SIGKILL mid-upload of a 40 MB bundle: the job leaves RUNNING (re-routed), never hangs;
//   - sender SIGKILL mid-remote-build, then restart on the same data dir: the job is recovered
//     and completes, and no build is left running on the receiver;
//   - disk full on the sender while staging artifacts: a clear failure, the earlier firmware
//     and its storage.json byte-for-byte intact.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../preload/contract';
import { openClient } from '../../main/headless/test/ws-client';
import { waitUntil } from '../support/wait-until';
import { canMountTmpfs, compileRunning, FaultRig, HEARTBEAT, NOT_RUN_TMPFS, outputOf, waitJob } from './fault-harness';
import { isAlive, readSimLog, SIM_CMD, spawnKiln, type KilnChild } from './helpers';

const rig = new FaultRig();
afterEach(() => rig.afterEach());
afterAll(() => rig.afterAll());

describe('faults on real processes (issue 11 reliability suite)', () => {
  it('receiver SIGSTOP mid-build: detected within the heartbeat dead-after bound, re-routed here and completed', async () => {
    const s = await rig.setup({ ESPHOME_SIM_SCENARIO: 'hang' });
    const app = await rig.senderApp(s.configDir, s.senderLog);
    let lostAt = 0;
    app.bus.on('job_output', (e) => {
      if (!lostAt && /\*\*\* Lost .* mid-build/.test(e.line)) lostAt = Date.now();
    });
    const job = app.engine.compile({ configuration: 'pico-sensor.yaml' });
    await waitUntil(() => compileRunning(s.recvLog, 'pico-sensor.yaml'), { timeoutMs: 30_000, what: 'the compile on the build server' });
    const stoppedAt = Date.now();
    process.kill(s.recv.proc.pid!, 'SIGSTOP');
    const done = await waitJob(app, job.job_id, 30_000);
    const detectMs = lostAt - stoppedAt;
    console.log(`[faults] SIGSTOP: lost detected after ${detectMs} ms (dead-after ${HEARTBEAT.heartbeatDeadAfterMs} ms, interval ${HEARTBEAT.heartbeatIntervalMs} ms); job ${done.status} on ${done.source}`);
    expect(done.status, done.error ?? '').toBe('completed');
    expect(done.source).toBe('local');
    expect(lostAt).toBeGreaterThan(0);
    // The bound: dead-after plus one heartbeat tick, plus scheduling slack on a loaded machine.
    expect(detectMs).toBeLessThanOrEqual(HEARTBEAT.heartbeatDeadAfterMs + HEARTBEAT.heartbeatIntervalMs + 1500);
    expect(await outputOf(app, done)).toMatch(/Lost .* mid-build \(heartbeat_timeout/);
  }, 90_000);

  it('receiver SIGKILL mid-upload of a 40 MB bundle: the job leaves RUNNING and completes here', async () => {
    const s = await rig.setup();
    writeFileSync(join(s.configDir, 'big.ttf'), Buffer.alloc(40 * 1024 * 1024, 7).map((_, i) => (i * 2654435761) >>> 24));
    writeFileSync(join(s.configDir, 'kitchen-plug.yaml'), readFileSync(join(s.configDir, 'kitchen-plug.yaml'), 'utf8') + 'font:\n  - file: "big.ttf"\n    id: f1\n    size: 10\n');
    // Default heartbeat (30 s / 90 s): the frozen build server must not be declared dead before
    // the upload has begun.
    const app = await rig.senderApp(s.configDir, s.senderLog, {});
    const job = app.engine.compile({ configuration: 'kitchen-plug.yaml' });
    await waitUntil(() => app.engine.getJob(job.job_id)!.source_pin_sha256 === s.recv.ready.pin, { timeoutMs: 30_000, what: 'dispatch to the build server' });
    // Mid-upload: the build server's memory has grown by 8 MB (bundle chunks arriving) and it
    // has not queued the build yet (the whole bundle is needed for that).
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.recv.proc.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    const base = rss();
    const queued = await waitUntil(() => {
      const grown = rss() - base;
      return grown > 8 * 1024 * 1024 && !/queued compile/.test(s.recv.text()) ? grown : null;
    }, { timeoutMs: 60_000, stepMs: 1, what: 'the upload to be under way' });
    s.recv.proc.kill('SIGKILL');
    const done = await waitJob(app, job.job_id, 90_000);
    console.log(`[faults] SIGKILL mid-upload: killed with its memory ${(queued / 1048576).toFixed(1)} MB up, the ~40 MB bundle not complete; job ${done.status} on ${done.source}`);
    expect(s.recv.text()).not.toMatch(/queued compile/);
    expect(readSimLog(s.recvLog).some((e) => e.argv?.includes('compile'))).toBe(false);
    expect(done.status, done.error ?? '').toBe('completed');
    expect(done.source).toBe('local');
    expect(await outputOf(app, done)).toMatch(/Lost .* mid-build|dispatch failed|re-routing/);
  }, 180_000);

  it('sender SIGKILL mid-remote-build and restart: the job is recovered and completes, no build left on the build server', async () => {
    const s = await rig.setup({ ESPHOME_SIM_SPEED: '0.1' });
    const serve = () => {
      const c = spawnKiln(['serve', '--config-dir', s.configDir, '--port', '0', '--no-mdns', '--startup-grace-ms', '0', '--esphome', SIM_CMD], { ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_LOG: s.senderLog, ESPHOME_NOGITIGNORE: '1' });
      rig.children.push(c);
      return c;
    };
    const rpc = async (c: KilnChild) => {
      const line = await waitUntil(() => c.out.find((l) => l.startsWith('KILN_SERVE_URL=')), { timeoutMs: 60_000, what: () => c.text() });
      const url = new URL(line.slice('KILN_SERVE_URL='.length));
      const client = await openClient(`ws://127.0.0.1:${url.port}/rpc`);
      await client.client.call('hello', { protocol: PROTOCOL_VERSION, token: url.hash.slice('#token='.length) });
      return client;
    };
    const first = serve();
    const c1 = await rpc(first);
    await waitUntil(async () => (await c1.client.call('listBuildServers', {})).some((p) => p.connection === 'connected'), { timeoutMs: 20_000, what: 'the session' });
    const job = await c1.client.call('compile', { configuration: 'kitchen-plug.yaml' });
    const firstBuild = await waitUntil(() => compileRunning(s.recvLog, 'kitchen-plug.yaml'), { timeoutMs: 30_000, what: 'the compile on the build server' });
    first.proc.kill('SIGKILL');
    await first.exit;
    c1.ws.terminate();

    const second = serve();
    const c2 = await rpc(second);
    const done = await waitUntil(async () => {
      const j = await c2.client.call('getJob', { jobId: job.job_id });
      return j && ['completed', 'failed', 'cancelled'].includes(j.status) ? j : null;
    }, { timeoutMs: 120_000, what: 'the recovered job to finish' });
    c2.ws.terminate();
    const builds = readSimLog(s.recvLog).filter((e) => e.role === 'main' && e.argv?.includes('compile'));
    console.log(`[faults] sender SIGKILL + restart: job ${done.status} on ${done.source}; build server ran ${builds.length} compile(s); first build pid ${firstBuild.pid} alive: ${isAlive(firstBuild.pid)}`);
    expect(done.status, done.error ?? '').toBe('completed');
    // Nothing left running on the build server: the first build ended (finished or replaced).
    await waitUntil(() => !isAlive(firstBuild.pid), { timeoutMs: 30_000, what: 'the first build to end' });
    await waitUntil(() => readSimLog(s.recvLog).every((e) => !isAlive(e.pid)), { timeoutMs: 30_000, what: 'no simulator left on the build server' });
    expect(builds.length).toBeLessThanOrEqual(2);
  }, 240_000);

  it.skipIf(!canMountTmpfs)(`disk full on the sender while staging artifacts: a clear failure, the earlier firmware intact${NOT_RUN_TMPFS}`, async () => {
    const s = await rig.setup();
    // esphome's data dir on the sender is a small (8 MiB) file system of its own.
    const esphomeDir = join(s.configDir, '.esphome');
    rig.mountTmpfs(esphomeDir, '8m');
    const app = await rig.senderApp(s.configDir, s.senderLog);
    const first = await waitJob(app, app.engine.compile({ configuration: 'living-room.yaml' }).job_id, 60_000);
    expect(first.status, first.error ?? '').toBe('completed');
    expect(first.source).toBe('remote');
    const storagePath = join(esphomeDir, 'storage', 'living-room.yaml.json');
    const storageBefore = readFileSync(storagePath);
    const firmwarePath = JSON.parse(storageBefore.toString()).firmware_bin_path as string;
    const firmwareBefore = readFileSync(firmwarePath);
    // Fill the file system, then build again: staging the new artifacts hits ENOSPC.
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(esphomeDir, 'filler')}`, 'bs=64k', 'count=256'], { stdio: 'ignore' });
    } catch {
      // dd stops at "No space left on device": that is the point
    }
    const second = await waitJob(app, app.engine.compile({ configuration: 'living-room.yaml', forceLocal: false }).job_id, 60_000);
    console.log(`[faults] disk full: second job ${second.status}: ${second.error}`);
    expect(second.status).toBe('failed');
    expect(second.error).toMatch(/ENOSPC|no space/i);
    expect(readFileSync(storagePath).equals(storageBefore)).toBe(true);
    expect(readFileSync(firmwarePath).equals(firmwareBefore)).toBe(true);
  }, 120_000);
});


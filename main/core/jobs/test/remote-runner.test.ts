// The remote runner against a scripted build server on a REAL peer-link session (Noise over
// WebSocket on 127.0.0.1), with the real job engine, client manager and `esphome` driver (a small
// fake CLI for bundle/upload). Covers firmware-jobs.md §16 "Remote runner".
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CoreEventMap } from '../../events';
import { createJob, type FirmwareJob } from '../model';
import type { RemoteRunnerFn, RemoteRunResult } from '../remote';
import { makeArtifactTarball, ScriptedServer, type ScriptedJob, type ScriptedServerOptions } from '../../scheduler/test/harness/scripted-server';
import { TestSender, type OffloaderOptions } from '../../scheduler/test/harness/offloader';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Rig {
  off: TestSender;
  srv: ScriptedServer;
  events: Array<{ name: keyof CoreEventMap; payload: unknown }>;
  /** What the real remote runner returned, in order. */
  results: RemoteRunResult[];
}

async function rig(script: Partial<ScriptedServerOptions> = {}, o: OffloaderOptions = {}): Promise<Rig> {
  // The offloader identity/dashboard_id must exist before the server can approve it.
  const { identityFromPrivateKey } = await import('../../peer-link/identity');
  const { generateX25519KeyPair } = await import('../../peer-link/x25519');
  const { newDashboardId } = await import('../../peer-link/dashboard-id');
  const identity = identityFromPrivateKey(generateX25519KeyPair().privateKey);
  const dashboardId = newDashboardId();
  const srv = await ScriptedServer.start({ sender: { identity, dashboardId }, artifacts: defaultArtifacts, ...script });
  cleanups.push(() => srv.dispose());
  const results: RemoteRunResult[] = [];
  const record = (real: RemoteRunnerFn): RemoteRunnerFn => async (ctx) => {
    const res = await real(ctx);
    results.push(res);
    return res;
  };
  const off = await TestSender.start([{ pin: srv.pin, publicKey: srv.identity.publicKey, port: srv.port, label: 'Attic' }], { identity, dashboardId, wrapRunner: record, ...o });
  cleanups.push(() => off.dispose());
  await off.waitConnected([srv.pin]);
  const events: Rig['events'] = [];
  for (const name of ['job_output', 'job_progress', 'job_completed', 'job_failed', 'job_cancelled', 'job_started'] as const) {
    off.bus.on(name, (payload) => events.push({ name, payload }));
  }
  return { off, srv, events, results };
}

async function defaultArtifacts(): Promise<Buffer> {
  return makeArtifactTarball('kitchen');
}


const terminalEvents = (r: Rig, jobId: string) =>
  r.events.filter((e) => ['job_completed', 'job_failed', 'job_cancelled'].includes(e.name) && (e.payload as { job: FirmwareJob }).job.job_id === jobId);

const linesOf = (r: Rig, jobId: string) => r.events.filter((e) => e.name === 'job_output' && (e.payload as { job_id: string }).job_id === jobId).map((e) => (e.payload as { line: string }).line);

describe('remote runner: happy path and translation', () => {
  it('bundles, submits with the job id, re-fires output in order and completes exactly once', async () => {
    const r = await rig({
      onSubmit: async (j) => {
        await j.ack(true);
        await j.state('running');
        for (const l of ['INFO Reading configuration...\n', 'Compiling .pioenvs/kitchen/src/main.cpp.o\n', 'progress\r', 'done\r\n']) await j.output(l);
        await j.state('completed');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    expect(job.source).toBe('remote');
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('completed');
    expect(done.error).toBeNull();
    expect(done.exit_code).toBe(0);
    expect(linesOf(r, job.job_id)).toEqual(['INFO Reading configuration...\n', 'Compiling .pioenvs/kitchen/src/main.cpp.o\n', 'progress\r', 'done\r\n']);
    expect(terminalEvents(r, job.job_id).map((e) => e.name)).toEqual(['job_completed']);
    // Submit: the job's own id, target compile, leaf filename, exactly the bytes `esphome bundle` wrote.
    const sj = must(r.srv.jobs[0]);
    expect(sj.jobId).toBe(job.job_id);
    expect(sj.header.target).toBe('compile');
    expect(sj.header.configuration_filename).toBe('kitchen.yaml');
    const members = await tarMembers(sj.bundle);
    expect([...members.keys()]).toEqual(['manifest.json', 'kitchen.yaml']);
    expect(JSON.parse(members.get('manifest.json')!.toString())).toMatchObject({ manifest_version: 1, config_filename: 'kitchen.yaml' });
    expect(members.get('kitchen.yaml')!.toString()).toBe(readFileSync(join(r.off.configDir, 'kitchen.yaml'), 'utf8'));
    // Compile: the artifacts were downloaded and staged in the local build tree.
    const storage = JSON.parse(readFileSync(join(r.off.configDir, '.esphome', 'storage', 'kitchen.yaml.json'), 'utf8'));
    expect(readFileSync(storage.firmware_bin_path, 'utf8')).toBe('firmware of kitchen');
    expect(r.srv.received.filter((m) => m.type === 'download_artifacts').map((m) => m.job_id)).toEqual([job.job_id]);
  });

  it('sends the device names the YAML declares and the esphome version with the submit', async () => {
    // The names are also what the artifacts are checked against: the device is "kitchen".
    const r = await rig({}, { remote: { deviceNames: (c) => ({ device_name: c.replace(/\.yaml$/, ''), device_friendly_name: 'Kitchen Lights' }) }, localEsphomeVersion: '2026.5.1' });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    expect((await r.off.waitDone(job.job_id)).status).toBe('completed');
    expect(must(r.srv.jobs[0]).header).toMatchObject({ device_name: 'kitchen', device_friendly_name: 'Kitchen Lights', target_esphome_version: '2026.5.1' });
  });

  it('parses progress from wire output: [ 47%] Compiling … → 47', async () => {
    const r = await rig({
      onSubmit: async (j) => {
        await j.ack(true);
        await j.output('[ 12%] Compiling a.o\n');
        await j.output('[ 47%] Compiling .pioenvs/kitchen/src/main.cpp.o\n');
        await j.output('Downloading [####] 100%\n');
        await j.state('completed');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const done = await r.off.waitDone(job.job_id);
    const progress = r.events.filter((e) => e.name === 'job_progress').map((e) => (e.payload as { progress: number }).progress);
    expect(progress).toEqual([12, 47]);
    expect(done.progress).toBe(47);
  });

  it('ignores frames for another job id and does not end on them', async () => {
    const r = await rig({
      onSubmit: async (j) => {
        await j.ack(true);
        await j.session.send({ type: 'job_output', job_id: 'ffffffffffff', stream: 'stdout', line: 'stray line\n' });
        await j.session.send({ type: 'job_state_changed', job_id: 'ffffffffffff', status: 'failed', error_message: 'not yours' });
        await j.output('mine\n');
        await j.state('completed');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('completed');
    expect(linesOf(r, job.job_id)).toEqual(['mine\n']);
  });

  it('ignores frames with our job id from another build server (stray pin)', async () => {
    // Two servers paired; the job runs on A, B sends frames with A's job id.
    const { identityFromPrivateKey } = await import('../../peer-link/identity');
    const { generateX25519KeyPair } = await import('../../peer-link/x25519');
    const { newDashboardId } = await import('../../peer-link/dashboard-id');
    const identity = identityFromPrivateKey(generateX25519KeyPair().privateKey);
    const dashboardId = newDashboardId();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = await ScriptedServer.start({
      sender: { identity, dashboardId },
      artifacts: defaultArtifacts,
      onSubmit: async (j) => {
        await j.ack(true);
        await gate;
        await j.output('from A\n');
        await j.state('completed');
      },
    });
    const b = await ScriptedServer.start({ sender: { identity, dashboardId } });
    cleanups.push(() => a.dispose(), () => b.dispose());
    const off = await TestSender.start(
      [
        { pin: a.pin, publicKey: a.identity.publicKey, port: a.port },
        { pin: b.pin, publicKey: b.identity.publicKey, port: b.port },
      ],
      { identity, dashboardId },
    );
    cleanups.push(() => off.dispose());
    await off.waitConnected([a.pin, b.pin]);
    const lines: string[] = [];
    off.bus.on('job_output', (e) => lines.push(e.line));
    off.writeYaml('kitchen.yaml');
    const job = off.compileOn('kitchen.yaml', a.pin);
    await a.nextJob();
    await b.send({ type: 'job_output', job_id: job.job_id, stream: 'stdout', line: 'from B\n' });
    await b.send({ type: 'job_state_changed', job_id: job.job_id, status: 'failed', error_message: 'B says failed' });
    await new Promise((r) => setTimeout(r, 50));
    expect(off.engine.getJob(job.job_id)!.status).toBe('running');
    release();
    const done = await off.waitDone(job.job_id);
    expect(done.status).toBe('completed');
    expect(lines).toEqual(['from A\n']);
  });
});

describe('remote runner: scoped subscriptions', () => {
  it('releases its bus listeners on every exit path (completed, rejected, failed, cancelled, lost)', async () => {
    const verdicts = ['complete', 'reject', 'fail', 'cancel', 'drop'];
    const r = await rig({
      onSubmit: async (j) => {
        const mode = verdicts[r.srv.jobs.indexOf(j)];
        if (mode === 'reject') return j.ack(false, 'queue_rejected');
        await j.ack(true);
        if (mode === 'complete') return j.state('completed');
        if (mode === 'fail') return j.state('failed', 'nope');
        if (mode === 'cancel') return j.state('cancelled', 'stopped there');
        await j.session.close('server_shutting_down');
      },
    });
    const events = ['offloader_job_output', 'offloader_job_state_changed', 'peer_link_closed'] as const;
    const baseline = events.map((e) => r.off.bus.listenerCount(e));
    r.off.writeYaml('kitchen.yaml');
    const seen: string[] = [];
    for (let i = 0; i < verdicts.length; i++) {
      const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
      // While it runs, the runner's three listeners are attached…
      await waitUntil(() => r.off.bus.listenerCount('offloader_job_output') === must(baseline[0]) + 1 || r.off.engine.getJob(job.job_id)!.status !== 'running');
      const done = await r.off.waitDone(job.job_id);
      seen.push(done.status);
      // …and after it ended, none is left behind.
      expect(events.map((e) => r.off.bus.listenerCount(e))).toEqual(baseline);
    }
    expect(seen).toEqual(['completed', 'failed', 'failed', 'cancelled', 'failed']);
  });
});

describe('remote runner: failures', () => {
  it('receiver failed → failed with the receiver text', async () => {
    const r = await rig({
      onSubmit: async (j) => {
        await j.ack(true);
        await j.output('ERROR boom\n');
        await j.state('failed', 'Compilation failed: exit 1');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('Compilation failed: exit 1');
    expect(terminalEvents(r, job.job_id).map((e) => e.name)).toEqual(['job_failed']);
  });

  it('receiver failed without a message → "compile failed"', async () => {
    const r = await rig({ onSubmit: async (j) => (await j.ack(true), await j.state('failed', '')) });
    r.off.writeYaml('kitchen.yaml');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin).job_id);
    expect(done.error).toBe('compile failed');
  });

  it('rejected ack → failed with the reason', async () => {
    const r = await rig({ onSubmit: (j) => j.ack(false, 'duplicate_submit') });
    r.off.writeYaml('kitchen.yaml');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin).job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('remote build: receiver rejected job: duplicate_submit');
  });

  it('no session with the server → "receiver not reachable: …"', async () => {
    const r = await rig();
    await r.srv.stop();
    await waitUntil(() => !r.off.clients.connectedPins().includes(r.srv.pin), { timeoutMs: 5000, what: 'disconnect' });
    r.off.writeYaml('kitchen.yaml');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin).job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/^remote build: receiver not reachable: No open peer-link session with build server [0-9a-f]{16}…: /);
  });

  it('unsupported job type → failed naming the type, nothing submitted', async () => {
    const r = await rig();
    const job = createJob({ configuration: '', job_type: 'reset_build_env', source: 'remote', source_pin_sha256: r.srv.pin });
    r.off.engine.enqueue([job]);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('remote build: job type RESET_BUILD_ENV cannot run on a build server (only COMPILE, UPLOAD, INSTALL and CLEAN)');
    expect(r.srv.received.filter((m) => m.type === 'submit_job')).toHaveLength(0);
  });

  it('missing source_pin_sha256 → failed naming the field', async () => {
    const r = await rig();
    r.off.writeYaml('kitchen.yaml');
    const job = createJob({ configuration: 'kitchen.yaml', job_type: 'compile', source: 'remote', source_pin_sha256: '' });
    r.off.engine.enqueue([job]);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('remote build: job has no source_pin_sha256: it is not bound to a build server');
  });

  it('missing YAML → failed naming the file', async () => {
    const r = await rig();
    const job = r.off.compileOn('nowhere.yaml', r.srv.pin);
    const done = await r.off.waitDone(job.job_id);
    expect(done.error).toBe('remote build: configuration not found: nowhere.yaml');
  });

  it('failing `esphome bundle` → failed with the CLI output', async () => {
    const r = await rig();
    r.off.writeYaml('kitchen.yaml', 'broken: [unclosed\n');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin).job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/^remote build: bundle failed: INFO ESPHome .*\nINFO Reading configuration .*kitchen\.yaml\.\.\.\nERROR Error while reading config: Invalid YAML syntax:/s);
    expect(done.error).not.toMatch(/\\033|\x1b/); // esphome's colours are not part of the message
  });

  it('session closed mid-build → synthetic line (leading newline after an unterminated chunk) + failed with reason', async () => {
    const r = await rig({
      onSubmit: async (j) => {
        await j.ack(true);
        await j.output('Compiling half a li');
        await j.session.close('server_shutting_down');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('failed');
    // The peer-link reports the wire reason plus its own detail.
    expect(done.error).toBe('remote build: peer-link session lost (server_shutting_down: peer sent terminate{server_shutting_down})');
    expect(linesOf(r, job.job_id)).toEqual([
      'Compiling half a li',
      '\n*** remote build session closed (server_shutting_down: peer sent terminate{server_shutting_down}); the build was aborted ***\n',
    ]);
  });

  it('session closed mid-build after a terminated line → no doubled newline; detail included', async () => {
    const r = await rig({
      onSubmit: async (j) => {
        await j.ack(true);
        await j.output('Compiling a line\n');
        await j.session.close('server_shutting_down', 'maintenance');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const done = await r.off.waitDone(job.job_id);
    const lines = linesOf(r, job.job_id);
    expect(lines[1]).toMatch(/^\*\*\* remote build session closed \(server_shutting_down(: .+)?\); the build was aborted \*\*\*\n$/);
    expect(done.error).toBe(`remote build: peer-link session lost (${must(lines[1]).slice('*** remote build session closed ('.length, must(lines[1]).indexOf('); the build'))})`);
  });
});

describe('remote runner: cancel', () => {
  /** A server that answers a wire cancel with `cancelled`. */
  const cancellable = (onCancel: (j: ScriptedJob) => Promise<void> = (j) => j.state('cancelled', 'cancelled by the offloader')) =>
    async (j: ScriptedJob) => {
      await j.ack(true);
      await j.state('running');
      await j.output('Compiling...\n');
      await j.cancelled;
      await onCancel(j);
    };

  it('local cancel → exactly one wire cancel_job → receiver cancelled → cancelled', async () => {
    const r = await rig({ onSubmit: cancellable() });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const sj = await r.srv.nextJob();
    await waitUntil(() => linesOf(r, job.job_id).length > 0);
    await r.off.engine.cancel(job.job_id);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('cancelled');
    expect(sj.cancelCount()).toBe(1);
    expect(r.srv.received.filter((m) => m.type === 'cancel_job')).toEqual([{ type: 'cancel_job', job_id: job.job_id }]);
    expect(terminalEvents(r, job.job_id).map((e) => e.name)).toEqual(['job_cancelled']);
  });

  it('cancel then completed → cancelled, no completed event (user intent wins)', async () => {
    const r = await rig({ onSubmit: cancellable((j) => j.state('completed')) });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    await r.srv.nextJob();
    await waitUntil(() => linesOf(r, job.job_id).length > 0);
    await r.off.engine.cancel(job.job_id);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('cancelled');
    expect(terminalEvents(r, job.job_id).map((e) => e.name)).toEqual(['job_cancelled']);
    expect(r.srv.received.filter((m) => m.type === 'download_artifacts')).toHaveLength(0);
  });

  it('cancel then the receiver fails → cancelled', async () => {
    const r = await rig({ onSubmit: cancellable((j) => j.state('failed', 'killed')) });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    await r.srv.nextJob();
    await waitUntil(() => linesOf(r, job.job_id).length > 0);
    await r.off.engine.cancel(job.job_id);
    expect((await r.off.waitDone(job.job_id)).status).toBe('cancelled');
  });

  it('receiver-initiated cancelled → cancelled with its message, cancelledBy remote', async () => {
    const r = await rig({ onSubmit: async (j) => (await j.ack(true), await j.state('running'), await j.state('cancelled', 'superseded by a newer submit')) });
    const { results } = r;
    r.off.writeYaml('kitchen.yaml');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin).job_id);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBe('superseded by a newer submit');
    expect(results).toEqual([{ status: 'cancelled', error: 'superseded by a newer submit', cancelledBy: 'remote' }]);
    expect(done.cancelled_by).toBe('remote');
    expect(r.srv.received.filter((m) => m.type === 'cancel_job')).toHaveLength(0);
  });

  it('a local cancel confirmed by the server is not reported as a remote cancel', async () => {
    const r = await rig({ onSubmit: cancellable() });
    const { results } = r;
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    await r.srv.nextJob();
    await waitUntil(() => linesOf(r, job.job_id).length > 0);
    await r.off.engine.cancel(job.job_id);
    const done = await r.off.waitDone(job.job_id);
    expect(done).toMatchObject({ status: 'cancelled', cancelled_by: 'user' });
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ status: 'cancelled' });
    expect(must(results[0]).cancelledBy).toBeUndefined();
  });

  it('cancel before the runner starts → cancelled, nothing submitted', async () => {
    const r = await rig();
    r.off.writeYaml('kitchen.yaml');
    const off = r.off.bus.on('job_started', (e) => void r.off.engine.cancel(e.job.job_id));
    cleanups.push(async () => off());
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('cancelled');
    expect(r.srv.received.filter((m) => m.type === 'submit_job')).toHaveLength(0);
  });

  it('cancel while the submit is still unacknowledged → cancelled at once, wire cancel_job sent after the ack', async () => {
    let ack!: () => void;
    const acked = new Promise<void>((r) => (ack = r));
    const r = await rig({
      onSubmit: async (j) => {
        await acked;
        await j.ack(true);
        await j.state('running');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const sj = await r.srv.nextJob();
    await r.off.engine.cancel(job.job_id);
    expect((await r.off.waitDone(job.job_id, 2000)).status).toBe('cancelled');
    ack();
    await sj.cancelled;
    expect(sj.cancelCount()).toBe(1);
  });

  it('cancel during bundling → cancelled, the bundle process is terminated', async () => {
    const r = await rig();
    r.off.jobEnv.ESPHOME_SIM_STALL_BUNDLE = '1';
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const { pid } = await waitUntil(() => r.off.simRuns().find((x) => x.argv.includes('bundle')), { timeoutMs: 5000, what: 'bundle spawn' });
    const t0 = Date.now();
    await r.off.engine.cancel(job.job_id);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(2000);
    await waitUntil(() => !alive(pid), { timeoutMs: 3000, what: 'bundle process exit' });
    expect(r.srv.received.filter((m) => m.type === 'submit_job')).toHaveLength(0);
  });

  it('cancel racing the session loss → cancelled locally at once, no wire cancel', async () => {
    const r = await rig({ onSubmit: async (j) => (await j.ack(true), await j.state('running')) });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    await r.srv.nextJob();
    await waitUntil(() => r.off.engine.getJob(job.job_id)?.status === 'running' && r.srv.received.some((m) => m.type === 'submit_job'));
    await new Promise((res) => setTimeout(res, 20));
    // The Stop lands in the same turn the link drops, before the runner hears about it.
    const first = r.off.bus.on('peer_link_closed', () => void r.off.engine.cancel(job.job_id));
    cleanups.push(async () => first());
    await r.srv.dropSession('server_shutting_down');
    const done = await r.off.waitDone(job.job_id, 2000);
    expect(done.status).toBe('cancelled');
    expect(r.srv.received.filter((m) => m.type === 'cancel_job')).toHaveLength(0);
  });

  it('session lost with no cancel → failed; a Stop after that is a benign terminal race', async () => {
    const r = await rig({ onSubmit: async (j) => (await j.ack(true), await j.state('running')) }, { remote: { cancelConfirmTimeoutMs: 60_000 } });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    await r.srv.nextJob();
    await waitUntil(() => r.srv.received.some((m) => m.type === 'submit_job'));
    // Kill the listener's sockets without a terminate frame: the offloader notices a hang-up.
    await r.srv.stop();
    const done = await r.off.waitDone(job.job_id, 3000);
    // Session loss alone ends it failed; a cancel after that is refused as a terminal-job race.
    expect(done.status).toBe('failed');
    await expect(r.off.engine.cancel(job.job_id)).rejects.toMatchObject({ code: 'invalid_args' });
  });

  it('a server that never confirms the cancel cannot hold the Stop hostage', async () => {
    const r = await rig({ onSubmit: async (j) => (await j.ack(true), await j.state('running')) }, { remote: { cancelConfirmTimeoutMs: 150 } });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    const sj = await r.srv.nextJob();
    await waitUntil(() => r.srv.received.some((m) => m.type === 'submit_job'));
    await new Promise((res) => setTimeout(res, 20));
    await r.off.engine.cancel(job.job_id);
    expect((await r.off.waitDone(job.job_id, 2000)).status).toBe('cancelled');
    expect(sj.cancelCount()).toBe(1);
  });

  it('engine shutdown → running remote job ends cancelled ("runner shutdown"), no wire cancel', async () => {
    const r = await rig({ onSubmit: async (j) => (await j.ack(true), await j.state('running')) });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin);
    await r.srv.nextJob();
    await waitUntil(() => r.srv.received.some((m) => m.type === 'submit_job'));
    await new Promise((res) => setTimeout(res, 20));
    await r.off.engine.stop();
    const j = r.off.engine.getJob(job.job_id)!;
    expect(j.status).toBe('cancelled');
    expect(j.error).toBe('runner shutdown');
    await new Promise((res) => setTimeout(res, 50));
    expect(r.srv.received.filter((m) => m.type === 'cancel_job')).toHaveLength(0);
  });
});

describe('remote runner: install / upload via artifacts', () => {
  const installScript = async (j: ScriptedJob) => {
    await j.ack(true);
    await j.output('[ 80%] Compiling x.o\n');
    await j.state('completed');
  };

  it('completed → artifacts staged → progress reset to 0 → local upload exit 0 → completed', async () => {
    const r = await rig({ onSubmit: installScript });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin, { port: 'OTA' });
    expect(job.job_type).toBe('install');
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('completed');
    const progress = r.events.filter((e) => e.name === 'job_progress').map((e) => (e.payload as { progress: number }).progress);
    // The compile's progress, the reset at the seam, then the upload's own (rising to 100).
    expect(progress.slice(0, 2)).toEqual([80, 0]);
    expect(progress.at(-1)).toBe(100);
    expect(progress.slice(1)).toEqual([...progress.slice(1)].sort((a, b) => a - b));
    const lines = linesOf(r, job.job_id).join('');
    expect(lines).toContain('INFO Uploading ');
    expect(lines).toContain('INFO OTA successful');
    // The upload ran on the staged firmware (the simulator refuses an upload without one).
    expect(lines).toMatch(/\.esphome\/build\/kitchen\/\.pioenvs\/kitchen\/firmware\.bin/);
    expect(r.off.simRuns().filter((x) => x.argv.includes('upload'))).toHaveLength(1);
  });

  it('local upload fails (OTA refused) → failed "local upload failed (exit 1)"', async () => {
    const r = await rig({ onSubmit: installScript });
    r.off.writeYaml('kitchen.yaml', '# sim: ota-fail\n');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin, { port: 'OTA' }).job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('remote build: local upload failed (exit 1)');
    expect(done.exit_code).toBe(1);
    expect(linesOf(r, done.job_id).join('')).toContain('ERROR Connection failed.');
  });

  it('artifact download refused → failed with the reason', async () => {
    const r = await rig({ onSubmit: installScript, artifacts: () => ({ reason: 'build_dir_missing', detail: 'no .pioenvs' }) });
    r.off.writeYaml('kitchen.yaml');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin, { port: 'OTA' }).job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('remote build: artifact download failed: receiver refused the artifact download: build_dir_missing (no .pioenvs)');
  });

  it('malformed artifact tarball → failed with its message', async () => {
    const { gzipSync } = await import('node:zlib');
    const r = await rig({ onSubmit: installScript, artifacts: () => gzipSync(Buffer.from('not a tar archive at all')) });
    r.off.writeYaml('kitchen.yaml');
    const done = await r.off.waitDone(r.off.compileOn('kitchen.yaml', r.srv.pin, { port: 'OTA' }).job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/^remote build: could not stage the build artifacts: /);
  });

  it('cancel during the artifact download → cancelled, upload never spawned', async () => {
    let serve!: () => void;
    const gate = new Promise<void>((r) => (serve = r));
    const r = await rig({
      onSubmit: installScript,
      artifacts: async () => {
        await gate;
        return makeArtifactTarball('kitchen');
      },
    });
    r.off.writeYaml('kitchen.yaml');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin, { port: 'OTA' });
    await waitUntil(() => r.srv.received.some((m) => m.type === 'download_artifacts'));
    await r.off.engine.cancel(job.job_id);
    const done = await r.off.waitDone(job.job_id);
    serve();
    expect(done.status).toBe('cancelled');
    await new Promise((res) => setTimeout(res, 100));
    expect(r.off.simRuns().map((x) => x.argv.find((a) => a === 'bundle' || a === 'upload'))).toEqual(['bundle']);
  });

  it('cancel during the local upload → cancelled, upload process terminated', async () => {
    const r = await rig({ onSubmit: installScript });
    // `slow` at half speed: the OTA transfer takes ~7 s, long enough to cancel in the middle.
    r.off.jobEnv.ESPHOME_SIM_SPEED = '0.5';
    r.off.writeYaml('kitchen.yaml', '# sim: slow\n');
    const job = r.off.compileOn('kitchen.yaml', r.srv.pin, { port: 'OTA' });
    await waitUntil(() => linesOf(r, job.job_id).some((l) => l.includes('INFO Uploading')), { timeoutMs: 20_000, what: 'upload start' });
    const { pid } = r.off.simRuns().find((x) => x.argv.includes('upload'))!;
    expect(alive(pid)).toBe(true);
    await r.off.engine.cancel(job.job_id);
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBeNull();
    await waitUntil(() => !alive(pid), { timeoutMs: 3000, what: 'upload process exit' });
  });

  it('clean on a server → target clean, completed without artifacts', async () => {
    const r = await rig();
    r.off.writeYaml('kitchen.yaml');
    const job = createJob({ configuration: 'kitchen.yaml', job_type: 'clean', source: 'remote', source_pin_sha256: r.srv.pin });
    r.off.engine.enqueue([job], { supersede: false });
    const done = await r.off.waitDone(job.job_id);
    expect(done.status).toBe('completed');
    expect(must(r.srv.jobs[0]).header.target).toBe('clean');
    expect(r.srv.received.filter((m) => m.type === 'download_artifacts')).toHaveLength(0);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Members of a .tar.gz in archive order. */
async function tarMembers(bundle: Buffer): Promise<Map<string, Buffer>> {
  const { extract } = await import('tar-stream');
  const { gunzipSync } = await import('node:zlib');
  const members = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(Buffer.from(c as Uint8Array)));
      stream.on('end', () => {
        members.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(gunzipSync(bundle));
  await done;
  return members;
}


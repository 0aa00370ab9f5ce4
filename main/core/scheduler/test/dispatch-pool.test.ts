// The dispatch pool over the real engine, real peer-link sessions and scripted build servers
// (firmware-jobs.md §11.3 and §16 "Dispatch pool and scheduler").
import { afterEach, describe, expect, it } from 'vitest';
import type { FirmwareJob } from '../../jobs/model';
import { createJob } from '../../jobs/model';
import { holdingScript, startRig, type Rig } from './harness/rig';
import type { ScriptedJob } from './harness/scripted-server';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.dispose();
});

/** A build server that takes every submit, starts it, then drops the session (a lost server). */
const droppingMidBuild = () => ({
  onSubmit: async (j: ScriptedJob) => {
    await j.ack(true);
    await j.state('running');
    await j.output('compiling\n');
    await j.session.close('heartbeat_timeout');
  },
});

async function rig(o: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig(o);
  rigs.push(r);
  return r;
}

const job = (r: Rig, id: string): FirmwareJob => r.off.engine.getJob(id)!;
const onServer = (r: Rig, i: number): string[] => must(r.servers[i]).jobs.map((j) => j.jobId);
const allSubmitted = (r: Rig): string[] => r.servers.flatMap((s) => s.jobs.map((j) => j.jobId));

describe('dispatch pool', () => {
  it('3 idle servers + 4 jobs → 3 bound to distinct pins, 1 waits; a freed server takes it', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 3, server: () => ({ onSubmit: hold.onSubmit }) });
    const ids = ['a', 'b', 'c', 'd'].map((n) => {
      r.off.writeYaml(`${n}.yaml`);
      return r.off.engine.compile({ configuration: `${n}.yaml` }).job_id;
    });
    for (const id of ids) expect(['remote_pending', 'remote']).toContain(job(r, id).source);
    await waitUntil(() => allSubmitted(r).length === 3, { timeoutMs: 5000, what: '3 submits' });
    const bound = ids.filter((id) => job(r, id).source === 'remote');
    expect(bound).toHaveLength(3);
    expect(new Set(bound.map((id) => job(r, id).source_pin_sha256)).size).toBe(3);
    for (const id of bound) expect(job(r, id).status).toBe('running');
    const waiting = ids.find((id) => !bound.includes(id))!;
    expect(job(r, waiting)).toMatchObject({ status: 'queued', source: 'remote_pending', source_pin_sha256: '' });
    expect(r.off.remote.pool.busyPins().size).toBe(3);
    // Free the server of the first job: the waiting one goes there.
    const freedPin = job(r, must(bound[0])).source_pin_sha256;
    hold.release(must(bound[0]));
    await r.off.waitDone(must(bound[0]));
    await waitUntil(() => job(r, waiting).status === 'running', { timeoutMs: 5000, what: 'waiting job dispatched' });
    expect(job(r, waiting)).toMatchObject({ source: 'remote', source_pin_sha256: freedPin });
    for (const id of [...bound.slice(1), waiting]) hold.release(id);
    for (const id of ids) expect((await r.off.waitDone(id)).status).toBe('completed');
    // Bound at dispatch: label and version stamped.
    const srvIndex = r.servers.findIndex((s) => s.pin === freedPin);
    expect(job(r, waiting).source_label).toBe(`srv${srvIndex}`);
    expect(job(r, waiting).source_esphome_version).toBe('2026.5.0');
  });

  it('busy single server → the second job waits (not local), then runs there', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    expect(b.source).toBe('remote_pending'); // busy servers still take work
    await new Promise((res) => setTimeout(res, 50));
    expect(job(r, b.job_id)).toMatchObject({ status: 'queued', source: 'remote_pending' });
    hold.release(a.job_id);
    await waitUntil(() => onServer(r, 0).length === 2, { timeoutMs: 5000, what: 'second submit' });
    hold.release(b.job_id);
    expect((await r.off.waitDone(b.job_id)).status).toBe('completed');
  });

  it('include_local_in_pool: overflow builds locally while the server is busy', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }), offloader: { settings: { include_local_in_pool: true } } });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    const done = await r.off.waitDone(b.job_id);
    expect(done).toMatchObject({ status: 'completed', source: 'local' });
    expect(done.output.join('')).toContain('INFO Successfully compiled program.'); // the local simulator, not a server
    hold.release(a.job_id);
    await r.off.waitDone(a.job_id);
  });

  it('a server added while a job waits takes it', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 2, server: () => ({ onSubmit: hold.onSubmit }) });
    // Only server 0 is paired at first.
    await r.off.store.setEnabled(must(r.servers[1]).pin, false);
    await waitUntil(() => !r.off.clients.connectedPins().includes(must(r.servers[1]).pin));
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    await new Promise((res) => setTimeout(res, 30));
    expect(job(r, b.job_id).status).toBe('queued');
    await r.off.store.setEnabled(must(r.servers[1]).pin, true);
    await waitUntil(() => onServer(r, 1).length === 1, { timeoutMs: 5000, what: 'submit to the added server' });
    expect(job(r, b.job_id).source_pin_sha256).toBe(must(r.servers[1]).pin);
    hold.release(a.job_id);
    hold.release(b.job_id);
    await r.off.waitDone(b.job_id);
  });

  it('no connected server → local at enqueue; all servers gone while pending → local at dispatch', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    expect(b.source).toBe('remote_pending');
    // Disable the pairing (its link closes): the pending job falls back to local.
    await r.off.store.setEnabled(must(r.servers[0]).pin, false);
    const doneB = await r.off.waitDone(b.job_id);
    expect(doneB).toMatchObject({ status: 'completed', source: 'local' });
    const c = r.off.engine.compile({ configuration: 'b.yaml' });
    expect(c.source).toBe('local');
    await r.off.waitDone(c.job_id);
  });

  it('server lost mid-build → re-routed (notice line) to another server', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 2, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => allSubmitted(r).length === 1);
    const first = r.servers.findIndex((s) => s.jobs.length === 1);
    const other = 1 - first;
    await must(r.servers[first]).stop();
    await waitUntil(() => onServer(r, other).length === 1, { timeoutMs: 5000, what: 're-routed submit' });
    expect(job(r, a.job_id).source_pin_sha256).toBe(must(r.servers[other]).pin);
    expect(must(must(r.servers[other]).jobs[0]).jobId).toBe(a.job_id);
    hold.release(a.job_id);
    const done = await r.off.waitDone(a.job_id);
    expect(done.status).toBe('completed');
    const log = done.output.join('');
    expect(log).toMatch(/\n\*\*\* Lost .+ mid-build \(server_shutting_down[^)]*\) — building it again on the next free build server or this computer \*\*\*\n/);
    expect(log.indexOf('re-routing')).toBeLessThan(log.lastIndexOf(`building ${a.job_id} here`));
  });

  it('server lost 3 times → re-routed each time; the 4th loss fails the job', async () => {
    // exact_required keeps the job waiting (not local) while the dropped server reconnects.
    const r = await rig({
      servers: 1,
      offloader: { settings: { version_match_policy: 'exact_required' } },
      server: droppingMidBuild,
    });
    r.off.writeYaml('a.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    const done = await r.off.waitDone(a.job_id, 15_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/^remote build: lost .+ mid-build 4x \(heartbeat_timeout[^)]*\)$/);
    expect(must(r.servers[0]).jobs.map((j) => j.jobId)).toEqual([a.job_id, a.job_id, a.job_id, a.job_id]);
    expect(done.output.join('').match(/ mid-build \(/g)).toHaveLength(3);
  });

  it('with the re-route budget (RemoteBuildsOptions.maxServerLossRetries) at 2, the third loss fails the job', async () => {
    const r = await rig({
      servers: 1,
      offloader: { settings: { version_match_policy: 'exact_required' }, remote: { maxServerLossRetries: 2 } },
      server: droppingMidBuild,
    });
    r.off.writeYaml('a.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    const done = await r.off.waitDone(a.job_id, 15_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/^remote build: lost .+ mid-build 3x \(heartbeat_timeout[^)]*\)$/);
    expect(must(r.servers[0]).jobs).toHaveLength(3);
    expect(done.output.join('').match(/ mid-build \(/g)).toHaveLength(2);
  });

  it('re-route to local when no other server is left; the job completes locally', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    await must(r.servers[0]).stop();
    const done = await r.off.waitDone(a.job_id);
    expect(done).toMatchObject({ status: 'completed', source: 'local', source_pin_sha256: '' });
    expect(done.output.join('')).toContain(' mid-build (');
    expect(done.output.join('')).toContain('INFO Successfully compiled program.'); // the local simulator, not a server
  });

  it('provision failure → rebuilt locally', async () => {
    const r = await rig({
      servers: 1,
      server: () => ({
        onSubmit: async (j) => {
          await j.ack(true);
          await j.state('failed', 'could not provision esphome 2026.5.0', { failure_reason: 'provision' });
        },
      }),
    });
    r.off.writeYaml('a.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    const done = await r.off.waitDone(a.job_id);
    expect(done).toMatchObject({ status: 'completed', source: 'local', failure_reason: '' });
    expect(done.output.join('')).toContain('rebuilding locally');
    expect(must(r.servers[0]).jobs).toHaveLength(1);
  });

  it('supersede removes a pending remote compile; it is never dispatched', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    const b1 = r.off.engine.compile({ configuration: 'b.yaml' });
    const b2 = r.off.engine.compile({ configuration: 'b.yaml' });
    await waitUntil(() => job(r, b1.job_id).status === 'cancelled');
    hold.release(a.job_id);
    await waitUntil(() => onServer(r, 0).length === 2, { timeoutMs: 5000, what: 'b2 submit' });
    hold.release(b2.job_id);
    await r.off.waitDone(b2.job_id);
    expect(onServer(r, 0)).toEqual([a.job_id, b2.job_id]);
  });

  it('cancel of a pending job never dispatches it', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    await r.off.engine.cancel(b.job_id);
    expect(job(r, b.job_id).status).toBe('cancelled');
    hold.release(a.job_id);
    await r.off.waitDone(a.job_id);
    await new Promise((res) => setTimeout(res, 50));
    expect(onServer(r, 0)).toEqual([a.job_id]);
  });

  it('cancel of a bound job frees its server for the next waiting job', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    await waitUntil(() => job(r, a.job_id).status === 'running');
    await r.off.engine.cancel(a.job_id);
    expect((await r.off.waitDone(a.job_id)).status).toBe('cancelled');
    await waitUntil(() => onServer(r, 0).includes(b.job_id), { timeoutMs: 5000, what: 'b dispatched' });
    hold.release(b.job_id);
    expect((await r.off.waitDone(b.job_id)).status).toBe('completed');
  });

  it('a runner exception fails the job and frees the server', async () => {
    const r = await rig({
      servers: 1,
      offloader: {
        wrapRunner: () => async () => {
          throw new Error('driver exploded');
        },
      },
    });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    expect(await r.off.waitDone(a.job_id)).toMatchObject({ status: 'failed', error: 'driver exploded' });
    expect(await r.off.waitDone(b.job_id)).toMatchObject({ status: 'failed', error: 'driver exploded', source: 'remote' });
    expect(r.off.remote.pool.busyPins().size).toBe(0);
  });

  it('exact_required: connected-but-incompatible → no_compatible_peer at enqueue and at dispatch', async () => {
    const r = await rig({
      servers: 1,
      server: () => ({ esphomeVersion: '2026.4.0' }),
      pairing: () => ({ esphomeVersion: '2026.4.0' }),
      offloader: { settings: { version_match_policy: 'exact_required' } },
    });
    r.off.writeYaml('a.yaml');
    expect(() => r.off.engine.compile({ configuration: 'a.yaml' })).toThrow(/version policy 'exact_required' with 1 intended peer\(s\) but none eligible \(1 on version mismatch, 0 on closed peer-link; offloader='2026.5.0'\)/);
    // A job already pending (e.g. from before a policy change) fails in the pool.
    const pending = createJob({ configuration: 'a.yaml', job_type: 'compile', source: 'remote_pending' });
    r.off.engine.enqueue([pending]);
    const done = await r.off.waitDone(pending.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toContain("refusing to fall back to LOCAL");
  });

  it('exact_required: a disconnected intended server → the pending job waits', async () => {
    const r = await rig({ servers: 1, offloader: { settings: { version_match_policy: 'exact_required' } } });
    await must(r.servers[0]).stop();
    await waitUntil(() => r.off.clients.connectedPins().length === 0);
    r.off.writeYaml('a.yaml');
    const pending = createJob({ configuration: 'a.yaml', job_type: 'compile', source: 'remote_pending' });
    r.off.engine.enqueue([pending]);
    await new Promise((res) => setTimeout(res, 100));
    expect(job(r, pending.job_id)).toMatchObject({ status: 'queued', source: 'remote_pending' });
    await must(r.servers[0]).restart();
    expect((await r.off.waitDone(pending.job_id)).status).toBe('completed');
  });

  it('startup grace: nothing is dispatched (or sent local) before it ends', async () => {
    const r = await rig({ servers: 1, offloader: { remote: { startupGraceMs: 300 } } });
    r.off.writeYaml('a.yaml');
    const t0 = Date.now();
    const pending = createJob({ configuration: 'a.yaml', job_type: 'compile', source: 'remote_pending' });
    r.off.engine.enqueue([pending]);
    await new Promise((res) => setTimeout(res, 100));
    expect(job(r, pending.job_id).status).toBe('queued');
    const done = await r.off.waitDone(pending.job_id);
    expect(done).toMatchObject({ status: 'completed', source: 'remote' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('paused queue → a woken pool binds nothing; resume dispatches the waiting compile', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.engine.pause();
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    expect(a.source).toBe('remote_pending');
    // Wake the pool explicitly (any peer-link / queue-status event does the same) while paused.
    const passesBefore = r.off.remote.pool.passes;
    r.off.remote.pool.wake();
    await new Promise((res) => setTimeout(res, 60));
    // Not bound (a bound job would be source 'remote' with the pin, held by the engine).
    expect(job(r, a.job_id)).toMatchObject({ status: 'queued', source: 'remote_pending', source_pin_sha256: '' });
    expect(r.off.remote.pool.busyPins().size).toBe(0);
    expect(r.off.remote.pool.passes).toBe(passesBefore);
    expect(onServer(r, 0)).toEqual([]);
    r.off.engine.resume();
    await waitUntil(() => onServer(r, 0).length === 1, { timeoutMs: 5000, what: 'submit after resume' });
    expect(job(r, a.job_id)).toMatchObject({ status: 'running', source: 'remote', source_pin_sha256: must(r.servers[0]).pin });
    hold.release(a.job_id);
    expect((await r.off.waitDone(a.job_id)).status).toBe('completed');
  });

  it('remote builds stopped → pending compiles run locally', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => onServer(r, 0).length === 1);
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    r.off.remote.stop();
    expect(await r.off.waitDone(b.job_id)).toMatchObject({ status: 'completed', source: 'local' });
    hold.release(a.job_id);
    await r.off.waitDone(a.job_id);
  });

  it('"Build locally instead" cancels the remote install and re-submits it locally with its options', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    const compile = r.off.engine.install({ configuration: 'a.yaml', port: '192.168.1.50', bootloader: true });
    await waitUntil(() => onServer(r, 0).length === 1 && must(must(r.servers[0]).jobs[0]).jobId === compile.job_id);
    await new Promise((res) => setTimeout(res, 20));
    const upload = r.off.engine.getJobs().find((j) => j.depends_on === compile.job_id)!;
    const local = await r.off.remote.buildLocallyInstead(compile.job_id);
    expect(local.source).toBe('local');
    expect((await r.off.waitDone(compile.job_id)).status).toBe('cancelled');
    expect((await r.off.waitDone(upload.job_id)).status).toBe('cancelled');
    // The remote side was told to stop.
    await waitUntil(() => must(r.servers[0]).received.some((m) => m.type === 'cancel_job' && m.job_id === compile.job_id));
    const newUpload = r.off.engine.getJobs().find((j) => j.depends_on === local.job_id)!;
    expect(newUpload).toMatchObject({ port: '192.168.1.50', flash_bootloader: true });
    expect((await r.off.waitDone(local.job_id)).status).toBe('completed');
    await r.off.engine.cancel(newUpload.job_id).catch(() => undefined);
  });
});

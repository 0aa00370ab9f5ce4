// Who cancelled a job: `job_cancelled {job, by}` and the persisted `cancelled_by` field, for every
// origin the engine knows (user, superseded, clean, reset, shutdown, prerequisite, remote), with
// real subprocesses of the fake esphome fixture.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { PREREQUISITE_FAILED, RUNNER_SHUTDOWN, type EngineOptions } from '../engine';
import type { CancelledBy, FirmwareJob } from '../model';
import { Harness } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { readPersistedState } from '../journal';

const PIN = 'c'.repeat(64);
let h: Harness;
let bus: EventBus;
let cancels: Array<{ job_id: string; by: CancelledBy | undefined; field: string }>;
beforeEach(() => {
  h = new Harness();
  bus = new EventBus();
  cancels = [];
  bus.on('job_cancelled', (e) => cancels.push({ job_id: e.job.job_id, by: e.by, field: e.job.cancelled_by }));
});
afterEach(async () => {
  await h.cleanup();
});

// Sleeping jobs sleep long enough to be cancelled while running.
const engine = (opts: Partial<EngineOptions> = {}) => h.engine({ bus, jobEnv: () => ({ FAKE_SLEEP_MS: '20000' }), ...opts });
const byOf = (job: FirmwareJob) => cancels.filter((c) => c.job_id === job.job_id).map((c) => [c.by, c.field]);
const persisted = (id: string) =>
  (readPersistedState(h.dataDir) as unknown as { jobs: FirmwareJob[] }).jobs.find((j) => j.job_id === id);

async function running(e: Awaited<ReturnType<typeof engine>>, name: string): Promise<FirmwareJob> {
  const job = e.compile({ configuration: h.fake(name, 'sleep') });
  await waitUntil(() => job.status === 'running' && job.output.join('').includes('sleeping'));
  return job;
}

describe('cancelled_by', () => {
  it("user: queued and running cancels; cancel(id, {by:'remote'}) records the caller's origin", async () => {
    const e = await engine();
    const run = await running(e, 'run.yaml');
    const queued = e.compile({ configuration: h.fake('q.yaml', 'success') });
    await e.cancel(queued.job_id);
    expect(byOf(queued)).toEqual([['user', 'user']]);
    await e.cancel(run.job_id);
    const done = await e.whenDone(run.job_id);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBeNull();
    expect(byOf(run)).toEqual([['user', 'user']]);
    await waitUntil(() => persisted(run.job_id)?.cancelled_by === 'user');

    const other = e.compile({ configuration: h.fake('o.yaml', 'success') });
    await e.cancel(other.job_id, { by: 'remote' });
    expect(byOf(other)).toEqual([['remote', 'remote']]);
  });

  it('superseded: a newer job for the same configuration cancels the running and the queued one', async () => {
    const e = await engine();
    const first = await running(e, 'dev.yaml');
    const second = e.compile({ configuration: 'dev.yaml' });
    await e.whenDone(first.job_id);
    expect(first.error).toBe(`superseded by job ${second.job_id}`);
    expect(byOf(first)).toEqual([['superseded', 'superseded']]);
    await waitUntil(() => second.status === 'running');
    e.pause(); // keep the next ones queued
    const third = e.compile({ configuration: 'dev.yaml' });
    const fourth = e.compile({ configuration: 'dev.yaml' });
    await e.whenDone(third.job_id);
    expect(byOf(third)).toEqual([['superseded', 'superseded']]);
    expect(fourth.status).toBe('queued');
    expect(fourth.cancelled_by).toBe('');
  });

  it('clean: the device\'s active jobs are cancelled by the clean', async () => {
    const e = await engine();
    const job = await running(e, 'dev.yaml');
    const clean = e.clean({ configuration: 'dev.yaml' });
    await e.whenDone(job.job_id);
    expect(job.error).toBe(`cancelled by clean job ${clean.job_id}`);
    expect(byOf(job)).toEqual([['clean', 'clean']]);
  });

  it('reset: every other active job is cancelled by reset_build_env', async () => {
    const e = await engine();
    const job = await running(e, 'a.yaml');
    const queued = e.upload({ configuration: h.fake('b.yaml', 'success'), port: 'OTA' });
    e.resetBuildEnv();
    await Promise.all([e.whenDone(job.job_id), e.whenDone(queued.job_id)]);
    expect(byOf(job)).toEqual([['reset', 'reset']]);
    // The upload may have started before the reset (upload lane): running or queued, it is 'reset'.
    expect(byOf(queued)).toEqual([['reset', 'reset']]);
  });

  it('shutdown: stop() ends running jobs cancelled by shutdown, persisted', async () => {
    const e = await engine();
    const job = await running(e, 'a.yaml');
    await e.stop();
    expect(job.status).toBe('cancelled');
    expect(job.error).toBe(RUNNER_SHUTDOWN);
    expect(byOf(job)).toEqual([['shutdown', 'shutdown']]);
    expect(persisted(job.job_id)?.cancelled_by).toBe('shutdown');
  });

  it('prerequisite: a failed or cancelled compile cancels its held upload; survives reload', async () => {
    const e = await engine();
    const failed = e.install({ configuration: h.fake('bad.yaml', 'fail'), port: 'OTA' });
    const upload1 = e.getJobs({ configuration: 'bad.yaml' }).find((j) => j.job_type === 'upload')!;
    await e.whenDone(upload1.job_id);
    expect(failed.status).toBe('failed');
    expect(failed.cancelled_by).toBe('');
    expect(upload1.error).toBe(PREREQUISITE_FAILED);
    expect(byOf(upload1)).toEqual([['prerequisite', 'prerequisite']]);

    e.pause();
    const compile = e.install({ configuration: h.fake('ok.yaml', 'success'), port: 'OTA' });
    const upload2 = e.getJobs({ configuration: 'ok.yaml' }).find((j) => j.job_type === 'upload')!;
    await e.cancel(compile.job_id);
    expect(byOf(compile)).toEqual([['user', 'user']]);
    expect(byOf(upload2)).toEqual([['prerequisite', 'prerequisite']]);
    await e.stop();

    const again = await h.engine();
    expect(again.getJob(upload2.job_id)?.cancelled_by).toBe('prerequisite');
    expect(again.getJob(compile.job_id)?.cancelled_by).toBe('user');
    expect(again.getJob(failed.job_id)?.cancelled_by).toBe('');
  });

  it('prerequisite on restart: a dependent whose prerequisite is gone is cancelled by prerequisite', async () => {
    const e = await engine();
    e.pause();
    const compile = e.install({ configuration: h.fake('x.yaml', 'success'), port: 'OTA' });
    const upload = e.getJobs({ configuration: 'x.yaml' }).find((j) => j.job_type === 'upload')!;
    await e.stop();
    const file = join(h.dataDir, 'jobs.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { jobs: FirmwareJob[] };
    doc.jobs = doc.jobs.filter((j) => j.job_id !== compile.job_id);
    writeFileSync(file, JSON.stringify(doc));
    const again = await h.engine();
    expect(again.getJob(upload.job_id)?.status).toBe('cancelled');
    expect(again.getJob(upload.job_id)?.cancelled_by).toBe('prerequisite');
  });

  it('remote: the runner says the build server cancelled it; a local cancel request still wins', async () => {
    let mode: 'server' | 'server-implicit' | 'user' | 'bogus' = 'server';
    const e = await engine({
      buildPathPicker: () => 'remote_pending',
      dispatchPool: { wake: () => undefined },
      remoteRunner: async (ctx) => {
        if (mode === 'user' && !ctx.cancelSignal.aborted) await new Promise((r) => ctx.cancelSignal.addEventListener('abort', r, { once: true }));
        if (mode === 'bogus') return { status: 'cancelled', cancelledBy: 'clean' as unknown as 'remote' };
        return mode === 'server-implicit' ? { status: 'cancelled', error: 'server shutting down' } : { status: 'cancelled', cancelledBy: 'remote' };
      },
    });
    const a = e.compile({ configuration: h.fake('a.yaml', 'success') });
    await e.dispatchRemote(a.job_id, { pin: PIN });
    expect(byOf(a)).toEqual([['remote', 'remote']]);

    mode = 'server-implicit';
    const b = e.compile({ configuration: h.fake('b.yaml', 'success') });
    await e.dispatchRemote(b.job_id, { pin: PIN });
    expect(b.error).toBe('server shutting down');
    expect(byOf(b)).toEqual([['remote', 'remote']]);

    mode = 'user';
    const c = e.compile({ configuration: h.fake('c.yaml', 'success') });
    const run = e.dispatchRemote(c.job_id, { pin: PIN });
    await waitUntil(() => c.status === 'running');
    await e.cancel(c.job_id);
    await run;
    expect(byOf(c)).toEqual([['user', 'user']]);

    // A runner cannot claim an engine-side origin: it is the build server's cancel.
    mode = 'bogus';
    const d = e.compile({ configuration: h.fake('d.yaml', 'success') });
    await e.dispatchRemote(d.job_id, { pin: PIN });
    expect(byOf(d)).toEqual([['remote', 'remote']]);
  });

  it('completed and failed jobs carry cancelled_by ""', async () => {
    const e = await engine();
    const ok = await e.whenDone(e.compile({ configuration: h.fake('ok.yaml', 'success') }).job_id);
    const bad = await e.whenDone(e.compile({ configuration: h.fake('bad.yaml', 'fail') }).job_id);
    expect([ok.status, bad.status]).toEqual(['completed', 'failed']);
    expect([ok.cancelled_by, bad.cancelled_by]).toEqual(['', '']);
    await e.stop();
    expect(persisted(ok.job_id)?.cancelled_by).toBe('');
    expect(cancels).toEqual([]);
  });
});

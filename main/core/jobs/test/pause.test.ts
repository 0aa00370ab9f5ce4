// Queue pause / resume against real subprocesses (the fake esphome fixture): nothing queued starts
// on any lane while paused, the running job is unaffected, resume starts waiting jobs in order,
// the pool is not woken, and the flag survives a restart (jobs.json "paused").
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../errors';
import { EventBus } from '../../events';
import type { RemoteRunContext } from '../remote';
import { Harness } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { readPersistedState } from '../journal';

const PIN = 'b'.repeat(64);
let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = () => h.events.filter((e) => e.name === 'job_started').map((e) => e.job_id);
const readMeta = () => readPersistedState(h.dataDir) as unknown as { paused?: boolean; jobs: Array<{ job_id: string; status: string }> };

function pausedEvents(bus: EventBus): boolean[] {
  const seen: boolean[] = [];
  bus.on('queue_paused_changed', (e) => seen.push(e.paused));
  return seen;
}

describe('pause / resume', () => {
  it('while paused nothing starts on either lane; resume runs the waiting jobs in order', async () => {
    const bus = new EventBus();
    const seen = pausedEvents(bus);
    const engine = await h.engine({ bus });
    expect(engine.isPaused()).toBe(false);
    engine.pause();
    engine.pause(); // idempotent: one event
    expect(engine.isPaused()).toBe(true);
    expect(seen).toEqual([true]);

    const a = engine.compile({ configuration: h.fake('a.yaml', 'success') });
    const b = engine.compile({ configuration: h.fake('b.yaml', 'success') });
    const up = engine.upload({ configuration: h.fake('c.yaml', 'success'), port: 'OTA' });
    await sleep(300);
    expect(started()).toEqual([]);
    expect([a.status, b.status, up.status]).toEqual(['queued', 'queued', 'queued']);
    expect(engine.queueStatus('compile')).toEqual({ idle: false, running: false, queue_depth: 2 });
    expect(engine.queueStatus('upload')).toEqual({ idle: false, running: false, queue_depth: 1 });
    await waitUntil(() => readMeta().paused === true);

    engine.resume();
    expect(seen).toEqual([true, false]);
    const done = await Promise.all([a, b, up].map((j) => engine.whenDone(j.job_id)));
    expect(done.map((j) => j.status)).toEqual(['completed', 'completed', 'completed']);
    // compile lane (one slot): a then b, in queue order; the upload ran on its own lane.
    const compileLane = h.names(undefined, (n) => n === 'job_started' || n === 'job_completed').filter((n) => !n.endsWith(up.job_id));
    expect(compileLane).toEqual([`job_started:${a.job_id}`, `job_completed:${a.job_id}`, `job_started:${b.job_id}`, `job_completed:${b.job_id}`]);
    expect(started()).toContain(up.job_id);
    await waitUntil(() => readMeta().paused === false);
  });

  it('the running job is not affected by a pause; the next one waits for resume', async () => {
    const engine = await h.engine({ jobEnv: () => ({ FAKE_SLEEP_MS: '400' }) });
    const running = engine.compile({ configuration: h.fake('slow.yaml', 'sleep') });
    await waitUntil(() => running.status === 'running');
    engine.pause();
    const next = engine.compile({ configuration: h.fake('next.yaml', 'success') });
    const first = await engine.whenDone(running.job_id);
    expect(first.status).toBe('completed');
    expect(first.output.join('')).toContain('woke\n');
    await sleep(250);
    expect(next.status).toBe('queued');
    expect(started()).toEqual([running.job_id]);
    engine.resume();
    expect((await engine.whenDone(next.job_id)).status).toBe('completed');
  });

  it('cancel and enqueue still work while paused (a cancelled job never starts)', async () => {
    const engine = await h.engine();
    engine.pause();
    const a = engine.compile({ configuration: h.fake('a.yaml', 'success') });
    const b = engine.compile({ configuration: h.fake('b.yaml', 'success') });
    await engine.cancel(a.job_id);
    expect(a.status).toBe('cancelled');
    engine.resume();
    expect((await engine.whenDone(b.job_id)).status).toBe('completed');
    expect(started()).toEqual([b.job_id]);
  });

  it('the paused flag survives a restart (jobs.json "paused"); queued jobs wait for resume', async () => {
    const e1 = await h.engine();
    e1.pause();
    const job = e1.compile({ configuration: h.fake('a.yaml', 'success') });
    await e1.stop();
    expect(readMeta().paused).toBe(true);
    expect(readMeta().jobs.find((j) => j.job_id === job.job_id)?.status).toBe('queued');

    const bus = new EventBus();
    const seen = pausedEvents(bus);
    const e2 = await h.engine({ bus });
    expect(e2.isPaused()).toBe(true);
    expect(seen).toEqual([true]); // announced at start
    await sleep(250);
    expect(e2.getJob(job.job_id)?.status).toBe('queued');
    e2.resume();
    expect((await e2.whenDone(job.job_id)).status).toBe('completed');
    await e2.stop();
    expect(readMeta().paused).toBe(false);

    // A file without the key (older Kiln) starts unpaused.
    const e3 = await h.engine();
    expect(e3.isPaused()).toBe(false);
  });

  it('an invalid "paused" value is reported and ignored; an invalid cancelled_by skips the entry', async () => {
    mkdirSync(h.dataDir, { recursive: true });
    const ok = { job_id: '0123456789ab', configuration: 'a.yaml', job_type: 'compile', status: 'cancelled', created_at: '2026-01-01T00:00:00Z', cancelled_by: 'clean' };
    const bad = { ...ok, job_id: '0123456789ac', cancelled_by: 'aliens' };
    writeFileSync(join(h.dataDir, 'jobs.json'), JSON.stringify({ version: 1, paused: 'yes', jobs: [ok, bad] }));
    const e = await h.engine();
    expect(e.isPaused()).toBe(false);
    expect(e.startupWarnings.some((w) => w.includes('invalid "paused" value'))).toBe(true);
    expect(e.startupWarnings.some((w) => w.includes('0123456789ac') && w.includes('cancelled_by'))).toBe(true);
    expect(e.getJob('0123456789ab')?.cancelled_by).toBe('clean');
    expect(e.getJob('0123456789ac')).toBeUndefined();
  });

  it('pause()/resume() before start() override the saved flag; after stop() they are refused', async () => {
    const e1 = await h.engine();
    e1.pause();
    await e1.stop();
    const e2 = await h.engine({}, { start: false });
    e2.resume();
    await e2.start();
    expect(e2.isPaused()).toBe(false);
    const job = e2.compile({ configuration: h.fake('a.yaml', 'success') });
    expect((await e2.whenDone(job.job_id)).status).toBe('completed');
    await e2.stop();
    expect(readMeta().paused).toBe(false);
    expect(() => e2.pause()).toThrow(ApiError);
  });

  it('the dispatch pool is not woken while paused; a dispatch that still arrives is held until resume', async () => {
    let wakes = 0;
    const calls: RemoteRunContext[] = [];
    const engine = await h.engine({
      buildPathPicker: () => 'remote_pending',
      dispatchPool: { wake: () => wakes++ },
      remoteRunner: async (ctx) => {
        calls.push(ctx);
        return { status: 'completed', exitCode: 0 };
      },
    });
    engine.pause();
    const job = engine.compile({ configuration: h.fake('r.yaml', 'success') });
    await sleep(100);
    expect(wakes).toBe(0);
    expect(engine.pendingRemoteJobs().map((j) => j.job_id)).toEqual([job.job_id]);

    let ran = false;
    const dispatched = engine.dispatchRemote(job.job_id, { pin: PIN, label: 'srv' }).then(() => (ran = true));
    await sleep(100);
    expect(calls).toHaveLength(0);
    expect(ran).toBe(false);
    expect(job.status).toBe('queued');
    expect(job.source_pin_sha256).toBe(PIN);
    expect(engine.pendingRemoteJobs()).toEqual([]); // bound: the pool will not pick it again

    engine.resume();
    await dispatched;
    expect(calls.map((c) => c.job.job_id)).toEqual([job.job_id]);
    expect(job.status).toBe('completed');
    await waitUntil(() => wakes > 0);
  });

  it('cancelling a held dispatch ends it without running it', async () => {
    let calls = 0;
    const engine = await h.engine({
      buildPathPicker: () => 'remote_pending',
      dispatchPool: { wake: () => undefined },
      remoteRunner: async () => {
        calls++;
        return { status: 'completed' };
      },
    });
    engine.pause();
    const job = engine.compile({ configuration: h.fake('r.yaml', 'success') });
    const dispatched = engine.dispatchRemote(job.job_id, { pin: PIN });
    await engine.cancel(job.job_id);
    await dispatched;
    engine.resume();
    await sleep(100);
    expect(job.status).toBe('cancelled');
    expect(calls).toBe(0);
  });
});

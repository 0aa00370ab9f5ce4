// The remote-runner hook (upstream PR #560 shape) with a small fake runner: it translates
// offloader_* bus events for its (pin, job_id) into the shared ingest, turns a local cancel into
// one "wire cancel", and uses ctx.runEsphome for a local flash step.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { NO_REMOTE_RUNNER, RUNNER_SHUTDOWN } from '../engine';
import { createJob, type FirmwareJob } from '../model';
import type { RemoteRunContext, RemoteRunnerFn, RemoteRunResult } from '../remote';
import { Harness } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { readPersistedState } from '../journal';
import { must } from '../../../../test/support/must';

const PIN = 'a'.repeat(64);
let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

interface FakeRunnerLog {
  calls: RemoteRunContext[];
  wireCancels: string[];
  persistedAtCall: string[];
}

/** A miniature remote runner: waits for a terminal offloader state; a cancel sends one wire cancel. */
function fakeRunner(h: Harness, log: FakeRunnerLog, after?: (ctx: RemoteRunContext) => Promise<RemoteRunResult>) {
  return async (ctx: RemoteRunContext): Promise<RemoteRunResult> => {
    log.calls.push(ctx);
    const meta = readPersistedState(h.dataDir);
    log.persistedAtCall.push(meta.jobs.find((j) => j.job_id === ctx.job.job_id)?.status ?? '');
    const ours = (e: { pin: string; job_id: string }): boolean => e.pin === ctx.job.source_pin_sha256 && e.job_id === ctx.job.job_id;
    let resolveTerminal!: (r: RemoteRunResult) => void;
    const terminal = new Promise<RemoteRunResult>((r) => (resolveTerminal = r));
    const result = await ctx.bus.listening(
      {
        offloader_job_output: (e) => {
          if (ours(e)) ctx.ingest(e.line);
        },
        offloader_job_state_changed: (e) => {
          if (!ours(e)) return;
          if (e.status === 'completed') resolveTerminal({ status: 'completed', exitCode: 0 });
          else if (e.status === 'failed') resolveTerminal({ status: 'failed', error: `remote build: ${e.error_message || 'compile failed'}`, failureReason: e.failure_reason ?? '' });
          else if (e.status === 'cancelled') resolveTerminal({ status: 'cancelled' });
        },
      },
      async () => {
        const onCancel = (): void => {
          log.wireCancels.push(ctx.job.job_id);
        };
        if (ctx.cancelSignal.aborted) onCancel();
        else ctx.cancelSignal.addEventListener('abort', onCancel, { once: true });
        return Promise.race([
          terminal,
          new Promise<RemoteRunResult>((r) => ctx.shutdownSignal.addEventListener('abort', () => r({ status: 'cancelled' }), { once: true })),
        ]);
      },
    );
    if (result.status === 'completed' && after) return after(ctx);
    return result;
  };
}

function remoteJob(configuration: string, extra: Partial<FirmwareJob> = {}): FirmwareJob {
  return createJob({ configuration, job_type: 'compile', source: 'remote', source_pin_sha256: PIN, ...extra });
}

function newLog(): FakeRunnerLog {
  return { calls: [], wireCancels: [], persistedAtCall: [] };
}

describe('remote runner hook', () => {
  it('runs after mark_running + job_started + persist; ingest re-fires output and progress; one terminal event; slot released first', async () => {
    const log = newLog();
    const engine = await h.engine({ remoteRunner: fakeRunner(h, log) });
    const job = remoteJob(h.fake('dev.yaml', 'success'));
    let laneAtTerminal: unknown = null;
    engine.bus.on('job_completed', () => (laneAtTerminal = engine.queueStatus()));
    engine.enqueue([job]);
    await waitUntil(() => log.calls.length === 1);
    expect(log.persistedAtCall).toEqual(['running']);
    expect(h.names(job.job_id)).toEqual(['job_queued', 'job_started']);
    const ctx = must(log.calls[0]);
    expect(ctx.yamlPath).toBe(join(h.configDir, 'dev.yaml'));
    expect(ctx.configDir).toBe(h.configDir);
    // Frames for another job or pin are ignored and do not end the runner.
    engine.bus.emit('offloader_job_output', { pin: PIN, job_id: 'ffffffffffff', line: 'other\n' });
    engine.bus.emit('offloader_job_state_changed', { pin: 'b'.repeat(64), job_id: job.job_id, status: 'completed', error_message: '' });
    engine.bus.emit('offloader_job_output', { pin: PIN, job_id: job.job_id, line: '[ 47%] Compiling foo.cpp.o\n' });
    engine.bus.emit('offloader_job_output', { pin: PIN, job_id: job.job_id, line: 'bar 1\r' });
    engine.bus.emit('offloader_job_output', { pin: PIN, job_id: job.job_id, line: 'bar 2\r' });
    expect(job.status).toBe('running');
    engine.bus.emit('offloader_job_state_changed', { pin: PIN, job_id: job.job_id, status: 'completed', error_message: '' });
    const done = await engine.whenDone(job.job_id);
    expect(done.status).toBe('completed');
    expect(done.exit_code).toBe(0);
    expect(done.progress).toBe(47);
    expect(done.compile_started_at).not.toBeNull();
    expect(h.output(job.job_id)).toEqual(['[ 47%] Compiling foo.cpp.o\n', 'bar 1\r', 'bar 2\r']);
    expect(await engine.readLog(job.job_id)).toEqual(['[ 47%] Compiling foo.cpp.o\n', 'bar 2\r']);
    expect(h.names(job.job_id)).toEqual(['job_queued', 'job_started', 'job_progress', 'job_completed']);
    expect(laneAtTerminal).toEqual({ idle: true, running: false, queue_depth: 0 });
    expect(engine.bus.listenerCount('offloader_job_output')).toBe(0); // scoped subscription detached
  });

  it('failed → failed with the receiver text and failure_reason; a throwing runner → failed with its message', async () => {
    const log = newLog();
    let runner: RemoteRunnerFn = fakeRunner(h, log);
    const engine = await h.engine({ remoteRunner: (ctx) => runner(ctx) });
    const job = remoteJob(h.fake('dev.yaml', 'success'));
    engine.enqueue([job]);
    await waitUntil(() => log.calls.length === 1);
    engine.bus.emit('offloader_job_state_changed', { pin: PIN, job_id: job.job_id, status: 'failed', error_message: 'no toolchain', failure_reason: 'provision' });
    const done = await engine.whenDone(job.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('remote build: no toolchain');
    expect(done.failure_reason).toBe('provision');

    runner = async () => {
      throw new Error('remote build: receiver not reachable: no session');
    };
    const j2 = remoteJob('dev.yaml');
    engine.enqueue([j2]);
    const d2 = await engine.whenDone(j2.job_id);
    expect(d2.status).toBe('failed');
    expect(d2.error).toBe('remote build: receiver not reachable: no session');
  });

  it('without a registered runner a remote job fails with a clear error', async () => {
    const engine = await h.engine();
    const job = remoteJob(h.fake('dev.yaml', 'success'));
    engine.enqueue([job]);
    const done = await engine.whenDone(job.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe(NO_REMOTE_RUNNER);
  });

  it('a local cancel → exactly one wire cancel; then even a completed frame ends cancelled (user intent wins)', async () => {
    const log = newLog();
    const engine = await h.engine({ remoteRunner: fakeRunner(h, log) });
    const job = remoteJob(h.fake('dev.yaml', 'success'));
    engine.enqueue([job]);
    await waitUntil(() => log.calls.length === 1);
    await engine.cancel(job.job_id);
    await engine.cancel(job.job_id); // a second click
    expect(must(log.calls[0]).cancelRequested()).toBe(true);
    expect(must(log.calls[0]).cancelSignal.aborted).toBe(true);
    expect(log.wireCancels).toEqual([job.job_id]);
    engine.bus.emit('offloader_job_state_changed', { pin: PIN, job_id: job.job_id, status: 'completed', error_message: '' });
    const done = await engine.whenDone(job.job_id);
    expect(done.status).toBe('cancelled');
    expect(h.names(job.job_id)).toEqual(['job_queued', 'job_started', 'job_cancelled']);
  });

  it('a cancel that arrives before the runner is called is replayed through the signal', async () => {
    const log = newLog();
    const engine = await h.engine({ remoteRunner: fakeRunner(h, log) });
    const job = remoteJob(h.fake('dev.yaml', 'success'));
    engine.bus.on('job_started', ({ job: j }) => {
      if (j.job_id === job.job_id) void engine.cancel(j.job_id);
    });
    engine.enqueue([job]);
    await waitUntil(() => log.calls.length === 1);
    expect(must(log.calls[0]).cancelSignal.aborted).toBe(true);
    expect(log.wireCancels).toEqual([job.job_id]);
    engine.bus.emit('offloader_job_state_changed', { pin: PIN, job_id: job.job_id, status: 'cancelled', error_message: '' });
    expect((await engine.whenDone(job.job_id)).status).toBe('cancelled');
  });

  it('install tail: resetProgress at the seam, then a tracked local flash via runEsphome', async () => {
    const log = newLog();
    const flashes: Array<{ exitCode: number | null; skipped: boolean }> = [];
    const engine = await h.engine({
      remoteRunner: fakeRunner(h, log, async (ctx) => {
        ctx.resetProgress();
        const res = await ctx.runEsphome(['--dashboard', 'upload', ctx.yamlPath, '--device', ctx.job.port]);
        flashes.push(res);
        return res.exitCode === 0 ? { status: 'completed', exitCode: 0 } : { status: 'failed', error: `remote build: local upload failed (exit ${res.exitCode})`, exitCode: res.exitCode };
      }),
    });
    const job = remoteJob(h.fake('dev.yaml', 'success'), { job_type: 'install', port: 'OTA' });
    engine.enqueue([job]);
    await waitUntil(() => log.calls.length === 1);
    engine.bus.emit('offloader_job_output', { pin: PIN, job_id: job.job_id, line: '[ 90%] Linking\n' });
    engine.bus.emit('offloader_job_state_changed', { pin: PIN, job_id: job.job_id, status: 'completed', error_message: '' });
    const done = await engine.whenDone(job.job_id);
    expect(done.status).toBe('completed');
    expect(flashes).toEqual([{ exitCode: 0, signal: null, skipped: false }]);
    const progress = h.events.filter((e) => e.job_id === job.job_id && e.name === 'job_progress').map((e) => e.progress);
    expect(progress).toEqual([90, 0, 25, 50, 75, 100]);
    expect(h.output(job.job_id)).toContain('INFO OTA successful\n');
  });

  it('runEsphome: a cancel during the flash terminates it and the job ends cancelled; after a cancel it skips the spawn', async () => {
    process.env.FAKE_SLEEP_MS = '20000';
    try {
      const results: Array<{ skipped: boolean; signal: string | null }> = [];
      const engine = await h.engine({
        remoteRunner: async (ctx) => {
          const first = await ctx.runEsphome(['--dashboard', 'upload', ctx.yamlPath, '--device', 'OTA']);
          results.push(first);
          const second = await ctx.runEsphome(['--dashboard', 'upload', ctx.yamlPath, '--device', 'OTA']);
          results.push(second);
          return { status: 'failed', error: 'remote build: local upload failed' };
        },
      });
      const job = remoteJob(h.fake('dev.yaml', 'sleep'), { job_type: 'upload', port: 'OTA' });
      engine.enqueue([job]);
      await waitUntil(() => h.output(job.job_id).includes('sleeping\n'));
      await engine.cancel(job.job_id);
      const done = await engine.whenDone(job.job_id);
      expect(done.status).toBe('cancelled');
      expect(results).toEqual([
        { exitCode: null, signal: 'SIGTERM', skipped: false },
        { exitCode: null, signal: null, skipped: true },
      ]);
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });

  it('stop(): the runner sees the shutdown signal (not a cancel) and the job ends "runner shutdown"', async () => {
    const log = newLog();
    const engine = await h.engine({ remoteRunner: fakeRunner(h, log) });
    const job = remoteJob(h.fake('dev.yaml', 'success'));
    engine.enqueue([job]);
    await waitUntil(() => log.calls.length === 1);
    await engine.stop();
    expect(job.status).toBe('cancelled');
    expect(job.error).toBe(RUNNER_SHUTDOWN);
    expect(must(log.calls[0]).shutdownSignal.aborted).toBe(true);
    expect(must(log.calls[0]).cancelSignal.aborted).toBe(false);
    expect(log.wireCancels).toEqual([]);
  });
});

describe('scheduler hooks', () => {
  it('build path picker → remote_pending; without a pool it runs locally', async () => {
    const engine = await h.engine({ buildPathPicker: () => 'remote_pending' });
    const local = engine.compile({ configuration: h.fake('a.yaml', 'success') });
    expect(local.source).toBe('local'); // no dispatch pool
    expect((await engine.whenDone(local.job_id)).status).toBe('completed');
  });

  it('build path picker → remote_pending; a pool that is not accepting runs it locally, an accepting one makes it wait for dispatch', async () => {
    const wakes: number[] = [];
    let accepting = false;
    const log = newLog();
    const engine = await h.engine({
      buildPathPicker: () => 'remote_pending',
      dispatchPool: { wake: () => wakes.push(1), accepting: () => accepting },
      remoteRunner: fakeRunner(h, log),
    });
    const local = engine.compile({ configuration: h.fake('a.yaml', 'success') });
    expect(local.source).toBe('local'); // the pool is not accepting (not started, or stopped)
    expect((await engine.whenDone(local.job_id)).status).toBe('completed');
    expect(wakes.length).toBe(0);

    accepting = true;
    const head = engine.install({ configuration: h.fake('b.yaml', 'success') });
    const upload = engine.getJobs().find((j) => j.depends_on === head.job_id)!;
    expect(head.source).toBe('remote_pending');
    expect(upload.source).toBe('local');
    expect(wakes.length).toBe(0); // never inside enqueue's bookkeeping
    await new Promise((r) => setImmediate(r));
    expect(wakes.length).toBeGreaterThan(0);
    expect(engine.pendingRemoteJobs().map((j) => j.job_id)).toEqual([head.job_id]);
    expect(engine.queueStatus()).toEqual({ idle: true, running: false, queue_depth: 0 }); // not on the compile lane
    const forced = engine.compile({ configuration: h.fake('c.yaml', 'success'), forceLocal: true });
    expect(forced.source).toBe('local');

    const run = engine.dispatchRemote(head.job_id, { pin: PIN, label: 'build box', esphomeVersion: '2025.12.2' });
    await waitUntil(() => log.calls.length === 1);
    expect(head.source).toBe('remote');
    expect(head.source_label).toBe('build box');
    engine.bus.emit('offloader_job_state_changed', { pin: PIN, job_id: head.job_id, status: 'completed', error_message: '' });
    await run;
    expect(head.status).toBe('completed');
    expect((await engine.whenDone(upload.job_id)).status).toBe('completed'); // the local flash of the chain
    await engine.whenDone(forced.job_id);
  });

  it('reroute puts the job back to remote_pending with a phase reset and job_queued; failQueued fails a pending job', async () => {
    let calls = 0;
    const engine = await h.engine({
      buildPathPicker: () => 'remote_pending',
      dispatchPool: { wake: () => undefined },
      remoteRunner: async (ctx) => {
        calls++;
        ctx.ingest('[ 30%] Compiling\n');
        ctx.ingest('\n*** Lost the build server mid-build (gone) — building it again on the next free build server or this computer ***\n');
        return { status: 'reroute' };
      },
    });
    const job = engine.compile({ configuration: h.fake('a.yaml', 'success') });
    await engine.dispatchRemote(job.job_id, { pin: PIN });
    expect(calls).toBe(1);
    expect(job.status).toBe('queued');
    expect(job.source).toBe('remote_pending');
    expect(job.source_pin_sha256).toBe('');
    expect(job.progress).toBe(0);
    expect(h.names(job.job_id)).toEqual(['job_queued', 'job_started', 'job_progress', 'job_progress', 'job_queued']);
    expect(engine.pendingRemoteJobs().map((j) => j.job_id)).toEqual([job.job_id]);
    await engine.failQueued(job.job_id, 'no compatible build server');
    expect(job.status).toBe('failed');
    expect((await engine.readLog(job.job_id)).join('')).toContain('mid-build (gone)');
  });

  it('bus passed in is the one used', async () => {
    const bus = new EventBus();
    const engine = await h.engine({ bus });
    expect(engine.bus).toBe(bus);
  });
});

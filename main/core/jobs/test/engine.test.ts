// JobEngine against real subprocesses (the fake esphome fixture): verdicts, cancel semantics,
// supersede, install chains, lanes, the build gate, argv/env, and shutdown.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../errors';
import { FORCED_ENV } from '../../esphome/argv';
import { NO_ESPHOME_MODULE_MESSAGE, EXIT0_ERROR_MESSAGE } from '../error-scrape';
import { PREREQUISITE_FAILED, RUNNER_SHUTDOWN } from '../engine';
import { Harness, pidAlive, processDead } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { readPersistedState } from '../journal';
import { must } from '../../../../test/support/must';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

describe('verdicts', () => {
  it('happy compile: output streamed, progress to 100, completed, stamps, artifact, log sidecar', async () => {
    const artifact = join(h.configDir, '.esphome/build/dev/.pioenvs/dev/firmware.bin');
    process.env.FAKE_ARTIFACT = artifact;
    try {
      const engine = await h.engine();
      const job = engine.compile({ configuration: h.fake('dev.yaml', 'success') });
      const done = await engine.whenDone(job.job_id);
      expect(done.status).toBe('completed');
      expect(done.exit_code).toBe(0);
      expect(done.error).toBeNull();
      expect(done.progress).toBe(100);
      const progress = h.events.filter((e) => e.name === 'job_progress').map((e) => e.progress);
      expect(progress.at(-1)).toBe(100);
      expect(progress).toEqual([...progress].sort((a, b) => a! - b!)); // monotonic
      expect(progress.length).toBeGreaterThan(2);
      expect(done.compile_started_at).not.toBeNull();
      expect(done.compile_ended_at).not.toBeNull();
      expect(existsSync(artifact)).toBe(true);
      expect(h.output(job.job_id)).toContain('INFO Successfully compiled program.\n');
      expect(h.names(job.job_id)).toEqual(['job_queued', 'job_started', ...progress.map(() => 'job_progress'), 'job_completed']);
      await engine.stop();
      const log = readFileSync(join(h.dataDir, 'logs', `${job.job_id}.log`), 'utf8');
      expect(log).toContain('INFO Successfully compiled program.\n');
      const meta = JSON.parse(readFileSync(join(h.dataDir, 'jobs.json'), 'utf8'));
      const entry = meta.jobs.find((j: { job_id: string }) => j.job_id === job.job_id);
      expect(entry.status).toBe('completed');
      expect(entry.output).toEqual([]);
      expect(entry).not.toHaveProperty('ninja_total');
      expect((await engine.readLog(job.job_id)).join('')).toBe(log);
    } finally {
      delete process.env.FAKE_ARTIFACT;
    }
  });

  it('compile error → failed with the exit code', async () => {
    const engine = await h.engine();
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('bad.yaml', 'fail') }).job_id);
    expect(job.status).toBe('failed');
    expect(job.exit_code).toBe(1);
    expect(job.error).toBe('Process exited with code 1');
    expect(job.output.join('')).toContain('[FAILED]');
  });

  it('config error → failed with exit 2', async () => {
    const engine = await h.engine();
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('cfg.yaml', 'config-error') }).job_id);
    expect(job.status).toBe('failed');
    expect(job.exit_code).toBe(2);
  });

  it('exit 0 with ModuleNotFoundError → failed with the actionable message; other patterns → generic', async () => {
    const engine = await h.engine();
    const a = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'modnotfound') }).job_id);
    expect(a.status).toBe('failed');
    expect(a.exit_code).toBe(0);
    expect(a.error).toBe(NO_ESPHOME_MODULE_MESSAGE);
    const b = await engine.whenDone(engine.compile({ configuration: h.fake('b.yaml', 'importerror') }).job_id);
    expect(b.status).toBe('failed');
    expect(b.error).toBe(EXIT0_ERROR_MESSAGE);
  });

  it('a missing esphome executable fails the job naming the command and how to set it', async () => {
    const engine = await h.engine({ esphome: ['kiln-missing-esphome-cmd', '-x'] });
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
    expect(job.status).toBe('failed');
    expect(job.error).toContain("'kiln-missing-esphome-cmd -x'");
    expect(job.error).toMatch(/not found/);
    expect(job.error).toContain('--esphome');
    expect(job.error).toContain('KILN_ESPHOME');
  });

  it('CR output collapses in the buffer, terminators kept, trailing partial flushed', async () => {
    const engine = await h.engine();
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('cr.yaml', 'cr') }).job_id);
    const streamed = h.output(job.job_id).filter((l) => !l.startsWith('INFO'));
    expect(streamed).toEqual(['a\r', 'b\r', 'c\n', 'x\r\n', 'y\n', 'tail-no-terminator']);
    const lines = await engine.readLog(job.job_id);
    expect(lines.filter((l) => !l.startsWith('INFO'))).toEqual(['c\n', 'x\r\n', 'y\n', 'tail-no-terminator']);
  });

  it('huge output is capped at 2000 retained entries with the notice', async () => {
    process.env.FAKE_LINES = '4500';
    try {
      const engine = await h.engine();
      const job = await engine.whenDone(engine.compile({ configuration: h.fake('huge.yaml', 'huge') }).job_id);
      expect(h.output(job.job_id).length).toBe(4502); // two INFO lines + 4500
      const lines = await engine.readLog(job.job_id);
      expect(lines.length).toBe(2001);
      expect(lines[0]).toBe('... [output trimmed: 2502 earlier line(s) elided]\n');
      expect(lines.at(-1)).toBe('line 4499\n');
    } finally {
      delete process.env.FAKE_LINES;
    }
  });
});

describe('argv and env (esphome-cli.md §6)', () => {
  it('runs <esphome> --dashboard <cmd> <abs yaml> [--device] with the forced env, stdin closed', async () => {
    const dump = join(h.root, 'dump.jsonl');
    process.env.FAKE_DUMP = dump;
    process.env.KILN_TEST_INHERITED = 'yes';
    process.env.FORCE_COLOR = '0';
    try {
      const engine = await h.engine();
      const yaml = h.fake('sub/dev.yaml', 'success');
      const c = engine.compile({ configuration: yaml });
      await engine.whenDone(c.job_id);
      const u = engine.upload({ configuration: yaml, port: '192.168.1.7', bootloader: true });
      await engine.whenDone(u.job_id);
      const u2 = engine.upload({ configuration: yaml });
      await engine.whenDone(u2.job_id);
      const cl = engine.clean({ configuration: yaml });
      await engine.whenDone(cl.job_id);
      const r = engine.resetBuildEnv();
      await engine.whenDone(r.job_id);
      const rows = readFileSync(dump, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const abs = join(h.configDir, 'sub/dev.yaml');
      expect(rows.map((r) => r.argv)).toEqual([
        ['--dashboard', 'compile', abs],
        ['--dashboard', 'upload', abs, '--device', '192.168.1.7', '--bootloader'],
        ['--dashboard', 'upload', abs],
        ['--dashboard', 'clean', abs],
        ['--dashboard', 'clean-all', h.configDir],
      ]);
      for (const row of rows) {
        expect(row.env).toEqual({ ...FORCED_ENV, KILN_TEST_INHERITED: 'yes' });
        expect(row.cwd).toBe(process.cwd());
        expect(row.stdinIsTTY).toBe(false);
      }
    } finally {
      delete process.env.FAKE_DUMP;
      delete process.env.KILN_TEST_INHERITED;
      delete process.env.FORCE_COLOR;
    }
  });

  it('install runs compile then upload --device OTA; the job env provider adds and removes variables', async () => {
    const dump = join(h.root, 'dump.jsonl');
    process.env.FAKE_DUMP = dump;
    process.env.ESPHOME_IS_HA_ADDON = 'true';
    try {
      const engine = await h.engine({ jobEnv: (job) => ({ ESPHOME_DATA_DIR: join(h.root, 'data', job.configuration), ESPHOME_IS_HA_ADDON: undefined }) });
      const c = engine.install({ configuration: h.fake('dev.yaml', 'success') });
      const upload = engine.getJobs().find((j) => j.depends_on === c.job_id)!;
      await engine.whenDone(upload.job_id);
      const rows = readFileSync(dump, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const abs = join(h.configDir, 'dev.yaml');
      expect(rows.map((r) => r.argv)).toEqual([
        ['--dashboard', 'compile', abs],
        ['--dashboard', 'upload', abs, '--device', 'OTA'],
      ]);
      for (const row of rows) {
        expect(row.env.ESPHOME_DATA_DIR).toBe(join(h.root, 'data', 'dev.yaml'));
        expect(row.env).not.toHaveProperty('ESPHOME_IS_HA_ADDON');
      }
    } finally {
      delete process.env.FAKE_DUMP;
      delete process.env.ESPHOME_IS_HA_ADDON;
    }
  });

  it('rejects configurations outside the config dir and bad ports', async () => {
    const engine = await h.engine();
    for (const configuration of ['../x.yaml', '/etc/passwd', 'a/../../x.yaml', '']) {
      expect(() => engine.compile({ configuration })).toThrow(ApiError);
    }
    expect(() => engine.upload({ configuration: 'a.yaml', port: '--help' })).toThrow(/invalid port/);
    expect(() => engine.install({ configuration: 'a.yaml', port: '/dev/ttyUSB0', bootloader: true })).toThrow(/OTA/);
    expect(engine.getJobs()).toEqual([]);
  });
});

describe('cancel', () => {
  it('unknown → not_found, terminal → invalid_args', async () => {
    const engine = await h.engine();
    await expect(engine.cancel('000000000000')).rejects.toMatchObject({ code: 'not_found', message: 'Job not found: 000000000000' });
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
    await expect(engine.cancel(job.job_id)).rejects.toMatchObject({ code: 'invalid_args', message: 'Cannot cancel a completed job' });
  });

  it('queued → cancelled at once, persisted before job_cancelled, never runs; dependents cascade', async () => {
    process.env.FAKE_SLEEP_MS = '10000';
    try {
      const engine = await h.engine();
      const blocker = engine.compile({ configuration: h.fake('block.yaml', 'sleep') });
      await waitUntil(() => blocker.status === 'running');
      const head = engine.install({ configuration: h.fake('dev.yaml', 'success') });
      const dep = engine.getJobs().find((j) => j.depends_on === head.job_id)!;
      let onDisk: Record<string, string> | null = null;
      engine.bus.on('job_cancelled', ({ job }) => {
        if (job.job_id !== head.job_id) return;
        const meta = readPersistedState(h.dataDir);
        onDisk = Object.fromEntries(meta.jobs.map((j: { job_id: string; status: string }) => [j.job_id, j.status]));
      });
      const p = engine.cancel(head.job_id);
      expect(head.status).toBe('cancelled'); // at once
      expect(dep.status).toBe('cancelled');
      expect(dep.error).toBe(PREREQUISITE_FAILED);
      await p;
      expect(onDisk).toMatchObject({ [head.job_id]: 'cancelled', [dep.job_id]: 'cancelled' });
      expect(h.names(head.job_id)).toEqual(['job_queued', 'job_cancelled']);
      expect(h.names(dep.job_id)).toEqual(['job_queued', 'job_cancelled']);
      await engine.cancel(blocker.job_id);
      await engine.whenDone(blocker.job_id);
      await new Promise((r) => setTimeout(r, 100));
      expect(h.names(head.job_id)).toEqual(['job_queued', 'job_cancelled']); // never started
      expect(engine.queueStatus()).toEqual({ idle: true, running: false, queue_depth: 0 });
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });

  it('running → SIGTERM to the group, SIGKILL after 3 s: child and grandchild ignoring SIGTERM are gone within 3.5 s', async () => {
    const pidfile = join(h.root, 'gc.pid');
    process.env.FAKE_PIDFILE = pidfile;
    try {
      const engine = await h.engine({ terminateGraceMs: 3000, drainMs: 1000 });
      let pid = 0;
      engine.bus.on('job_output', (e) => {
        if (e.line === 'running\n') pid = -1;
      });
      const job = engine.compile({ configuration: h.fake('stubborn.yaml', 'ignore-term') });
      await waitUntil(() => pid === -1 && existsSync(pidfile));
      const gc = Number(readFileSync(pidfile, 'utf8'));
      expect(pidAlive(gc)).toBe(true);
      const t0 = Date.now();
      await engine.cancel(job.job_id);
      expect(job.status).toBe('running'); // cancel of a running job is a request
      const done = await engine.whenDone(job.job_id);
      const took = Date.now() - t0;
      expect(done.status).toBe('cancelled');
      expect(done.error).toBeNull();
      expect(took).toBeGreaterThanOrEqual(2900);
      expect(took).toBeLessThan(3500);
      await waitUntil(() => processDead(gc), Math.max(0, 3500 - took));
      expect(h.output(job.job_id)).toContain('child ignoring SIGTERM\n');
    } finally {
      delete process.env.FAKE_PIDFILE;
    }
  }, 15_000);

  it('user intent wins: a process that fails when signalled still ends cancelled', async () => {
    const engine = await h.engine();
    const job = engine.compile({ configuration: h.fake('t.yaml', 'term-exit1') });
    await waitUntil(() => h.output(job.job_id).includes('running\n'));
    await engine.cancel(job.job_id);
    const done = await engine.whenDone(job.job_id);
    expect(done.status).toBe('cancelled');
    expect(done.exit_code).toBe(1);
    expect(h.output(job.job_id)).toContain('ERROR compile failed because we were interrupted\n');
    expect(h.names(job.job_id)).toEqual(['job_queued', 'job_started', 'job_cancelled']);
  });
});

describe('supersede', () => {
  it('job_queued of the new job fires before job_cancelled of the old one (queued and running)', async () => {
    process.env.FAKE_SLEEP_MS = '10000';
    try {
      const engine = await h.engine();
      const yaml = h.fake('dev.yaml', 'sleep');
      const running = engine.compile({ configuration: yaml });
      await waitUntil(() => running.status === 'running');
      const other = engine.compile({ configuration: h.fake('other.yaml', 'success') }); // waits on the lane
      const newer = engine.compile({ configuration: yaml });
      await engine.whenDone(running.job_id);
      expect(running.status).toBe('cancelled');
      expect(running.error).toBe(`superseded by job ${newer.job_id}`);
      const order = h.names();
      expect(order.indexOf(`job_queued:${newer.job_id}`)).toBeLessThan(order.indexOf(`job_cancelled:${running.job_id}`));
      expect(other.status).not.toBe('cancelled');

      const third = engine.compile({ configuration: yaml }); // supersedes `newer` (queued or running)
      await engine.whenDone(newer.job_id);
      expect(newer.status).toBe('cancelled');
      const order2 = h.names();
      expect(order2.indexOf(`job_queued:${third.job_id}`)).toBeLessThan(order2.indexOf(`job_cancelled:${newer.job_id}`));
      await engine.cancel(third.job_id);
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });

  it('reset (empty configuration) never supersedes, enqueue with supersede:false does not either', async () => {
    const engine = await h.engine();
    const a = engine.compile({ configuration: h.fake('a.yaml', 'success') });
    const { createJob } = await import('../model');
    const b = createJob({ configuration: a.configuration, job_type: 'clean' });
    engine.enqueue([b], { supersede: false });
    expect(a.status).toBe('queued');
    await engine.whenDone(b.job_id);
    expect((await engine.whenDone(a.job_id)).status).toBe('completed');
  });
});

describe('install chain', () => {
  it('upload is held until the compile completes, then runs', async () => {
    const engine = await h.engine();
    const head = engine.install({ configuration: h.fake('dev.yaml', 'success'), port: '10.0.0.5' });
    const dep = engine.getJobs().find((j) => j.depends_on === head.job_id)!;
    expect(dep.job_type).toBe('upload');
    expect(dep.port).toBe('10.0.0.5');
    expect(dep.source).toBe('local');
    expect(dep.dependency_released).toBe(false);
    const up = await engine.whenDone(dep.job_id);
    expect(up.status).toBe('completed');
    expect(up.dependency_released).toBe(true);
    const order = h.names();
    expect(order.indexOf(`job_completed:${head.job_id}`)).toBeLessThan(order.indexOf(`job_started:${dep.job_id}`));
    expect(up.progress).toBe(100);
  });

  it('a failed compile cancels the upload with the prerequisite message', async () => {
    const engine = await h.engine();
    const head = engine.install({ configuration: h.fake('dev.yaml', 'fail') });
    const dep = engine.getJobs().find((j) => j.depends_on === head.job_id)!;
    const up = await engine.whenDone(dep.job_id);
    expect(head.status).toBe('failed');
    expect(up.status).toBe('cancelled');
    expect(up.error).toBe(PREREQUISITE_FAILED);
    expect(h.names(dep.job_id)).toEqual(['job_queued', 'job_cancelled']);
  });

  it('a cancelled running compile cancels the upload', async () => {
    process.env.FAKE_SLEEP_MS = '10000';
    try {
      const engine = await h.engine();
      const head = engine.install({ configuration: h.fake('dev.yaml', 'sleep') });
      const dep = engine.getJobs().find((j) => j.depends_on === head.job_id)!;
      await waitUntil(() => head.status === 'running');
      await engine.cancel(head.job_id);
      const up = await engine.whenDone(dep.job_id);
      expect(head.status).toBe('cancelled');
      expect(up.status).toBe('cancelled');
      expect(up.error).toBe(PREREQUISITE_FAILED);
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });
});

describe('lanes and the build gate', () => {
  it('compile lane runs one job at a time while uploads run in parallel up to the slot count', async () => {
    process.env.FAKE_SLEEP_MS = '400';
    try {
      const engine = await h.engine({ uploadSlots: 2 });
      const c1 = engine.compile({ configuration: h.fake('c1.yaml', 'sleep') });
      const c2 = engine.compile({ configuration: h.fake('c2.yaml', 'sleep') });
      const ups = ['u1', 'u2', 'u3'].map((n) => engine.upload({ configuration: h.fake(`${n}.yaml`, 'sleep'), port: 'OTA' }));
      let maxCompile = 0;
      let maxUpload = 0;
      const all = [c1, c2, ...ups];
      while (!all.every((j) => ['completed', 'failed', 'cancelled'].includes(j.status))) {
        maxCompile = Math.max(maxCompile, [c1, c2].filter((j) => j.status === 'running').length);
        maxUpload = Math.max(maxUpload, ups.filter((j) => j.status === 'running').length);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(all.map((j) => j.status)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);
      expect(maxCompile).toBe(1);
      expect(maxUpload).toBe(2);
      const order = h.names();
      expect(order.indexOf(`job_started:${c2.job_id}`)).toBeGreaterThan(order.indexOf(`job_completed:${c1.job_id}`));
      expect(order.indexOf(`job_started:${must(ups[0]).job_id}`)).toBeLessThan(order.indexOf(`job_completed:${c1.job_id}`));
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });

  it('a flash waits while a clean of the same configuration is active; other devices are not blocked', async () => {
    process.env.FAKE_SLEEP_MS = '300';
    try {
      const engine = await h.engine();
      const { createJob } = await import('../model');
      const blocker = engine.compile({ configuration: h.fake('busy.yaml', 'sleep') });
      await waitUntil(() => blocker.status === 'running');
      const clean = engine.clean({ configuration: h.fake('dev.yaml', 'clean') }); // waits behind the blocker
      // A normal upload would supersede the clean; fan-out style enqueues keep it.
      const flash = createJob({ configuration: 'dev.yaml', job_type: 'upload', port: 'OTA' });
      engine.enqueue([flash], { supersede: false });
      const other = engine.upload({ configuration: h.fake('other.yaml', 'success'), port: 'OTA' });
      await engine.whenDone(other.job_id);
      expect(clean.status).toBe('queued');
      expect(flash.status).toBe('queued'); // held by the gate although an upload slot is free
      await engine.whenDone(flash.job_id);
      expect(flash.status).toBe('completed');
      const order = h.names();
      expect(order.indexOf(`job_started:${flash.job_id}`)).toBeGreaterThan(order.indexOf(`job_completed:${clean.job_id}`));
      expect(order.indexOf(`job_completed:${other.job_id}`)).toBeLessThan(order.indexOf(`job_started:${clean.job_id}`));
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });

  it('a clean cancels the device\'s active jobs, and a later upload supersedes a queued clean', async () => {
    process.env.FAKE_SLEEP_MS = '10000';
    try {
      const engine = await h.engine();
      const running = engine.compile({ configuration: h.fake('dev.yaml', 'sleep') });
      await waitUntil(() => running.status === 'running');
      const clean = engine.clean({ configuration: 'dev.yaml' });
      await engine.whenDone(running.job_id);
      expect(running.status).toBe('cancelled');
      expect(running.error).toBe(`cancelled by clean job ${clean.job_id}`);
      const up = engine.upload({ configuration: 'dev.yaml', port: 'OTA' });
      await engine.whenDone(clean.job_id);
      expect(clean.status).toBe('cancelled');
      expect(clean.error).toBe(`superseded by job ${up.job_id}`);
      await engine.cancel(up.job_id).catch(() => undefined);
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });

  it('reset build env cancels every other active job and blocks all flashes until it ends', async () => {
    process.env.FAKE_SLEEP_MS = '10000';
    try {
      const engine = await h.engine();
      const a = engine.compile({ configuration: h.fake('a.yaml', 'sleep') });
      await waitUntil(() => a.status === 'running');
      const b = engine.upload({ configuration: h.fake('b.yaml', 'success'), port: 'OTA' });
      await engine.whenDone(b.job_id);
      const reset = engine.resetBuildEnv();
      const { createJob } = await import('../model');
      const flash = createJob({ configuration: 'b.yaml', job_type: 'upload', port: 'OTA' });
      engine.enqueue([flash]);
      await engine.whenDone(a.job_id);
      expect(a.status).toBe('cancelled');
      expect(reset.configuration).toBe('');
      await engine.whenDone(flash.job_id);
      const order = h.names();
      expect(order.indexOf(`job_started:${flash.job_id}`)).toBeGreaterThan(order.indexOf(`job_completed:${reset.job_id}`));
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });
});

describe('stop()', () => {
  it('finalises the running job cancelled ("runner shutdown"), kills its group, persists; queued jobs survive', async () => {
    const pidfile = join(h.root, 'gc.pid');
    process.env.FAKE_PIDFILE = pidfile;
    try {
      const engine = await h.engine();
      const job = engine.compile({ configuration: h.fake('a.yaml', 'ignore-term') });
      const waiting = engine.compile({ configuration: h.fake('b.yaml', 'success') });
      await waitUntil(() => h.output(job.job_id).includes('running\n') && existsSync(pidfile));
      const gc = Number(readFileSync(pidfile, 'utf8'));
      await engine.stop();
      expect(job.status).toBe('cancelled');
      expect(job.error).toBe(RUNNER_SHUTDOWN);
      expect(h.names(job.job_id)).toEqual(['job_queued', 'job_started', 'job_cancelled']);
      await waitUntil(() => processDead(gc), 2000);
      const meta = JSON.parse(readFileSync(join(h.dataDir, 'jobs.json'), 'utf8'));
      const st = Object.fromEntries(meta.jobs.map((j: { job_id: string; status: string }) => [j.job_id, j.status]));
      expect(st).toEqual({ [job.job_id]: 'cancelled', [waiting.job_id]: 'queued' });
      expect(() => engine.compile({ configuration: 'b.yaml' })).toThrow(/stopped/);

      const again = await h.engine();
      const w = await again.whenDone(waiting.job_id);
      expect(w.status).toBe('completed');
      expect(again.getJob(job.job_id)!.status).toBe('cancelled');
    } finally {
      delete process.env.FAKE_PIDFILE;
    }
  });
});

describe('history', () => {
  it('getJobs newest first with filters; clear removes terminal jobs only and emits jobs_changed', async () => {
    process.env.FAKE_SLEEP_MS = '10000';
    try {
      const engine = await h.engine();
      const a = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
      const b = await engine.whenDone(engine.compile({ configuration: h.fake('b.yaml', 'fail') }).job_id);
      const c = engine.compile({ configuration: h.fake('c.yaml', 'sleep') });
      await waitUntil(() => c.status === 'running');
      expect(engine.getJobs().map((j) => j.job_id)).toEqual([c.job_id, b.job_id, a.job_id]);
      expect(engine.getJobs({ status: 'failed' }).map((j) => j.job_id)).toEqual([b.job_id]);
      expect(engine.getJobs({ configuration: 'a.yaml' }).map((j) => j.job_id)).toEqual([a.job_id]);
      const changes: string[] = [];
      engine.bus.on('jobs_changed', (e) => changes.push(e.reason));
      expect(engine.clear('failed')).toBe(1);
      expect(engine.clear()).toBe(1);
      expect(changes).toEqual(['cleared', 'cleared']);
      expect(engine.getJobs().map((j) => j.job_id)).toEqual([c.job_id]);
      expect(() => engine.clear('running' as 'failed')).toThrow(ApiError);
      await engine.cancel(c.job_id);
    } finally {
      delete process.env.FAKE_SLEEP_MS;
    }
  });

  it('prunes: newest terminal per (configuration, job_type), at most 5 aux jobs; logs of pruned jobs deleted', async () => {
    const engine = await h.engine();
    const first = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
    await new Promise((r) => setTimeout(r, 5));
    const second = await engine.whenDone(engine.compile({ configuration: 'a.yaml' }).job_id);
    expect(engine.getJob(first.job_id)).toBeUndefined();
    expect(engine.getJob(second.job_id)).toBeDefined();
    const cleans: string[] = [];
    for (let i = 0; i < 7; i++) {
      const j = engine.clean({ configuration: h.fake(`c${i}.yaml`, 'clean') });
      cleans.push(j.job_id);
      await engine.whenDone(j.job_id);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(engine.getJobs({}).filter((j) => j.job_type === 'clean').map((j) => j.job_id)).toEqual(cleans.slice(2).reverse());
    await engine.stop();
    expect(existsSync(join(h.dataDir, 'logs', `${first.job_id}.log`))).toBe(false);
    expect(existsSync(join(h.dataDir, 'logs', `${second.job_id}.log`))).toBe(true);
    expect(existsSync(join(h.dataDir, 'logs', `${cleans[0]}.log`))).toBe(false);
  });
});

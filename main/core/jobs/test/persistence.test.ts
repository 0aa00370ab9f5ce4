// Loading and saving under dataDir: corrupt file and entries, orphan logs, stale temp files,
// restart recovery of chains and remote jobs (§13).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { PREREQUISITE_FAILED } from '../engine';
import { createJob, RESTART_NOTICE, serializeJob, type FirmwareJob } from '../model';
import { Harness } from './helpers';
import { must } from '../../../../test/support/must';

let h: Harness;
beforeEach(() => {
  h = new Harness();
  mkdirSync(h.dataDir, { recursive: true });
});
afterEach(async () => {
  await h.cleanup();
});

function writeJobs(jobs: unknown[]): void {
  writeFileSync(
    join(h.dataDir, 'jobs.json'),
    JSON.stringify({ version: 1, jobs: jobs.map((j) => (j && typeof j === 'object' && 'ninja_total' in j ? serializeJob(j as FirmwareJob) : j)) }),
  );
}

describe('corrupt state', () => {
  it('a corrupt jobs file is moved aside, reported, and the engine starts empty', async () => {
    writeFileSync(join(h.dataDir, 'jobs.json'), '{"version":1,"jobs":[{"job_id": "abc", trunc');
    const bus = new EventBus();
    const warnings: string[] = [];
    bus.on('engine_warning', (e) => warnings.push(e.message));
    const reported: string[] = [];
    const engine = await h.engine({ bus, report: (m) => reported.push(m) });
    expect(engine.getJobs()).toEqual([]);
    expect(engine.startupWarnings).toHaveLength(1);
    expect(engine.startupWarnings[0]).toMatch(/jobs file .* is corrupt .* moved it aside to .*jobs\.json\.corrupt-/);
    expect(warnings).toEqual(engine.startupWarnings);
    expect(reported).toEqual(engine.startupWarnings);
    const aside = readdirSync(h.dataDir).filter((n) => n.startsWith('jobs.json.corrupt-') && !n.endsWith('.logs'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(h.dataDir, must(aside[0])), 'utf8')).toContain('trunc');
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
    expect(job.status).toBe('completed');
    await engine.stop();
    expect(JSON.parse(readFileSync(join(h.dataDir, 'jobs.json'), 'utf8')).jobs).toHaveLength(1);
  });

  it('a file with the wrong shape counts as corrupt too', async () => {
    writeFileSync(join(h.dataDir, 'jobs.json'), '{"hello": 1}');
    const engine = await h.engine();
    expect(engine.startupWarnings[0]).toMatch(/corrupt/);
  });

  it('corrupt entries are skipped and reported, good ones kept', async () => {
    const good = createJob({ configuration: 'a.yaml', job_type: 'compile', status: 'completed', completed_at: new Date().toISOString() });
    writeJobs([
      good,
      { job_id: 'nothex!!!!!!', configuration: 'b.yaml', job_type: 'compile', status: 'queued', created_at: 'x' },
      { ...serializeJob(createJob({ configuration: 'c.yaml', job_type: 'compile' })), status: 'exploded' },
      42,
      serializeJob(good),
    ]);
    const engine = await h.engine();
    expect(engine.getJobs().map((j) => j.job_id)).toEqual([good.job_id]);
    expect(engine.startupWarnings).toHaveLength(4);
    expect(engine.startupWarnings.join('\n')).toMatch(/#1.*job_id/);
    expect(engine.startupWarnings.join('\n')).toMatch(/#2 .*status/);
    expect(engine.startupWarnings.join('\n')).toMatch(/duplicate/);
  });

  it('older entries missing newer fields get defaults', async () => {
    const job = createJob({ configuration: 'a.yaml', job_type: 'compile', status: 'failed', error: 'x' });
    const { source: _s, failure_reason: _f, output: _o, ...old } = serializeJob(job);
    writeJobs([old]);
    const engine = await h.engine();
    const loaded = engine.getJob(job.job_id)!;
    expect(loaded.source).toBe('local');
    expect(loaded.failure_reason).toBe('');
    expect(loaded.ninja_total).toBe(0);
  });
});

describe('files', () => {
  it('deletes orphan logs and stale temp files; writes the log of a terminal job left with inline output', async () => {
    mkdirSync(join(h.dataDir, 'logs'), { recursive: true });
    const done = createJob({ configuration: 'a.yaml', job_type: 'compile', status: 'completed', output: ['one\n', 'two\n'] });
    writeJobs([done]);
    writeFileSync(join(h.dataDir, 'logs', 'aaaaaaaaaaaa.log'), 'orphan\n');
    writeFileSync(join(h.dataDir, 'jobs.json.tmp-1-deadbeef'), 'half');
    writeFileSync(join(h.dataDir, 'logs', `${done.job_id}.log.tmp-1-beef`), 'half');
    const engine = await h.engine();
    expect(await engine.readLog(done.job_id)).toEqual(['one\n', 'two\n']);
    await engine.stop();
    expect(readdirSync(join(h.dataDir, 'logs')).sort()).toEqual([`${done.job_id}.log`]);
    expect(readdirSync(h.dataDir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(readFileSync(join(h.dataDir, 'logs', `${done.job_id}.log`), 'utf8')).toBe('one\ntwo\n');
    const meta = JSON.parse(readFileSync(join(h.dataDir, 'jobs.json'), 'utf8'));
    expect(meta.jobs[0].output).toEqual([]);
    const again = await h.engine();
    expect(again.getJob(done.job_id)!.output).toEqual([]);
    expect(await again.readLog(done.job_id)).toEqual(['one\n', 'two\n']);
  });

  it('persist: false touches nothing on disk', async () => {
    const engine = await h.engine({ persist: false });
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
    expect((await engine.readLog(job.job_id)).length).toBeGreaterThan(0);
    await engine.stop();
    expect(existsSync(join(h.dataDir, 'jobs.json'))).toBe(false);
  });
});

describe('restart recovery (§13)', () => {
  it('re-links dependents: running head re-queued, held upload runs after it; orphaned or failed prerequisites cancel', async () => {
    const head = createJob({ configuration: h.fake('dev.yaml', 'success'), job_type: 'compile', status: 'running', output: ['old run\n'], progress: 40 });
    head.started_at = new Date().toISOString();
    const dep = createJob({ configuration: 'dev.yaml', job_type: 'upload', port: 'OTA', depends_on: head.job_id });
    const orphan = createJob({ configuration: h.fake('o.yaml', 'success'), job_type: 'upload', port: 'OTA', depends_on: 'bbbbbbbbbbbb' });
    const failedHead = createJob({ configuration: h.fake('f.yaml', 'fail'), job_type: 'compile', status: 'failed' });
    const failedDep = createJob({ configuration: 'f.yaml', job_type: 'upload', port: 'OTA', depends_on: failedHead.job_id });
    const released = createJob({ configuration: h.fake('r.yaml', 'success'), job_type: 'upload', port: 'OTA', depends_on: 'cccccccccccc', dependency_released: true });
    writeJobs([head, dep, orphan, failedHead, failedDep, released]);
    const engine = await h.engine();
    const h2 = engine.getJob(head.job_id)!;
    expect(h2.output.slice(0, 2)).toEqual(['old run\n', RESTART_NOTICE]);
    expect(engine.getJob(orphan.job_id)!.status).toBe('cancelled');
    expect(engine.getJob(orphan.job_id)!.error).toBe(PREREQUISITE_FAILED);
    expect(engine.getJob(failedDep.job_id)!.status).toBe('cancelled');
    expect((await engine.whenDone(released.job_id)).status).toBe('completed');
    expect((await engine.whenDone(dep.job_id)).status).toBe('completed');
    expect(engine.getJob(head.job_id)!.status).toBe('completed');
    const order = h.names();
    expect(order.indexOf(`job_completed:${head.job_id}`)).toBeLessThan(order.indexOf(`job_started:${dep.job_id}`));
  });

  it('a remote compile returns to remote_pending with its pin cleared; a remote clean keeps its pin', async () => {
    const compile = createJob({ configuration: h.fake('a.yaml', 'success'), job_type: 'compile', status: 'running', source: 'remote', source_pin_sha256: 'p'.repeat(64), source_label: 'srv' });
    const clean = createJob({ configuration: h.fake('b.yaml', 'clean'), job_type: 'clean', source: 'remote', source_pin_sha256: 'q'.repeat(64) });
    writeJobs([compile, clean]);
    const pool = { wakes: 0, wake() { this.wakes++; } };
    const bus = new EventBus();
    const seen: string[] = [];
    const engine = new (await import('../engine')).JobEngine({
      configDir: h.configDir,
      bus,
      esphome: ['/bin/false'],
      report: () => undefined,
      dispatchPool: pool,
      remoteRunner: async (ctx) => {
        seen.push(`${ctx.job.job_type}:${ctx.job.source_pin_sha256}`);
        return { status: 'completed' };
      },
    });
    h.engines.push(engine);
    await engine.start();
    const c = engine.getJob(compile.job_id)!;
    expect(c.status).toBe('queued');
    expect(c.source).toBe('remote_pending');
    expect(c.source_pin_sha256).toBe('');
    expect(c.source_label).toBe('');
    expect(engine.pendingRemoteJobs().map((j) => j.job_id)).toEqual([compile.job_id]);
    await new Promise((r) => setImmediate(r)); // the pool is woken on a later tick
    expect(pool.wakes).toBeGreaterThan(0);
    await engine.whenDone(clean.job_id);
    expect(seen).toEqual([`clean:${'q'.repeat(64)}`]);
    engine.dispatchLocal(compile.job_id); // /bin/false: fails locally, proving it ran on the compile lane
    expect((await engine.whenDone(compile.job_id)).status).toBe('failed');
  });
});

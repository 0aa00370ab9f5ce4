// Crash recovery with a real crash: the engine runs in a child process that is killed with
// SIGKILL mid-job; a new engine on the same dataDir re-queues the job with the notice and runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RESTART_NOTICE } from '../model';
import { FAKE_ESPHOME, Harness, liveGroupMembers } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { readPersistedState } from '../journal';
import { must } from '../../../../test/support/must';

const CHILD = resolve(__dirname, 'fixtures/crash-child.ts');
let h: Harness;
let child: ChildProcess | null = null;
const strayGroups: number[] = [];

beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  for (const pid of strayGroups.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  delete process.env.FAKE_SLEEP_MS;
  await h.cleanup();
});

describe('crash recovery', () => {
  it('a job left RUNNING by kill -9 is re-queued with the restart notice and runs to completion', async () => {
    const configuration = h.fake('dev.yaml', 'sleep');
    const dump = join(h.root, 'dump.jsonl');
    child = spawn(process.execPath, ['--import', 'tsx', CHILD, h.configDir, FAKE_ESPHOME, configuration], {
      cwd: resolve(__dirname, '../../../..'),
      env: { ...process.env, FAKE_SLEEP_MS: '60000', FAKE_DUMP: dump },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await waitUntil(() => /RUNNING ([0-9a-f]{12})/.test(out), 20_000);
    const jobId = must(/RUNNING ([0-9a-f]{12})/.exec(out)?.[1], 'a RUNNING line');
    const esphomePid = JSON.parse(must(readFileSync(dump, 'utf8').trim().split('\n')[0])).pid as number;
    strayGroups.push(esphomePid);

    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // The crashed engine's esphome does not outlive it: its process spawner ends the group (was:
    // an orphan left running in its own group).
    await waitUntil(() => liveGroupMembers(esphomePid).length === 0, { what: "the crashed engine's esphome ended" });

    const meta = readPersistedState(h.dataDir); // intact (snapshot + journal)
    const entry = meta.jobs.find((j: { job_id: string }) => j.job_id === jobId)!;
    expect(entry.status).toBe('running');
    expect(entry.output).toContain('sleeping\n');

    process.env.FAKE_SLEEP_MS = '20';
    const engine = await h.engine();
    expect(engine.startupWarnings).toEqual([]);
    const job = engine.getJob(jobId)!;
    expect(job).toBeDefined();
    expect(['queued', 'running']).toContain(job.status);
    const done = await engine.whenDone(jobId);
    expect(done.status).toBe('completed');
    const log = await engine.readLog(jobId);
    const notice = log.indexOf(RESTART_NOTICE);
    expect(notice).toBeGreaterThan(0);
    expect(log.slice(0, notice)).toContain('sleeping\n'); // the previous run's log is above
    expect(log.slice(notice + 1)).toContain('woke\n'); // the rebuild below
    expect(h.names(jobId)).toEqual(['job_started', 'job_completed']);
    await engine.stop();
    expect(existsSync(join(h.dataDir, 'logs', `${jobId}.log`))).toBe(true);
  }, 40_000);
});

// The job store's journal (issue 18 §3) with real files: a save appends only what changed, a
// torn last line is ignored with a notice and cut before the next append, compaction folds the
// journal into jobs.json, and a kill -9 mid-append loses at most the record being written.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { JOURNAL_FILE } from '../journal';
import { createJob, type FirmwareJob } from '../model';
import { JobStore } from '../store';
import { must } from '../../../../test/support/must';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-journal-'));
  dirs.push(d);
  return d;
}
function finished(i: number): FirmwareJob {
  const j = createJob({ configuration: `dev-${i}.yaml`, job_type: 'compile' });
  j.status = 'completed';
  j.completed_at = j.created_at;
  return j;
}
const journalLines = (d: string): string[] => readFileSync(join(d, JOURNAL_FILE), 'utf8').split('\n').filter(Boolean);

describe('job store journal', () => {
  it('after the first snapshot, a save appends only the changed job; the journal is 0600', async () => {
    const d = dataDir();
    const store = new JobStore(d, { report: () => undefined });
    await store.load();
    const jobs = Array.from({ length: 200 }, (_, i) => finished(i));
    await store.save(() => jobs);
    expect(store.stats.snapshots).toBe(1);
    const snapshot = readFileSync(join(d, 'jobs.json'), 'utf8');
    const queued = createJob({ configuration: 'new.yaml', job_type: 'compile' });
    jobs.push(queued);
    await store.save(() => jobs);
    queued.status = 'running';
    await store.save(() => jobs);
    expect(readFileSync(join(d, 'jobs.json'), 'utf8')).toBe(snapshot); // not rewritten
    const lines = journalLines(d);
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => JSON.parse(l).job.status)).toEqual(['queued', 'running']);
    expect(statSync(join(d, JOURNAL_FILE)).mode & 0o777).toBe(0o600);
    // Removing a job is one delete record.
    jobs.splice(0, 1);
    await store.save(() => jobs);
    expect(JSON.parse(must(journalLines(d)[2]))).toEqual({ op: 'del', id: expect.stringMatching(/^[0-9a-f]{12}$/) });
    // A fresh store sees snapshot + journal.
    const again = await new JobStore(d, { report: () => undefined }).load();
    expect(again.jobs).toHaveLength(200);
    expect(again.jobs.at(-1)).toMatchObject({ job_id: queued.job_id, status: 'running' });
    expect(again.warnings).toEqual([]);
  });

  it('a torn last line is ignored with a notice and cut off before the next append', async () => {
    const d = dataDir();
    const store = new JobStore(d, { report: () => undefined });
    await store.load();
    const jobs = [finished(0)];
    await store.save(() => jobs);
    const next = createJob({ configuration: 'b.yaml', job_type: 'compile' });
    jobs.push(next);
    await store.save(() => jobs);
    appendFileSync(join(d, JOURNAL_FILE), '{"op":"put","job":{"job_id":"abcdefabcdef","configur');
    const s2 = new JobStore(d, { report: () => undefined });
    const loaded = await s2.load();
    expect(loaded.jobs.map((j) => j.job_id)).toEqual([must(jobs[0]).job_id, next.job_id]);
    expect(loaded.warnings).toEqual([expect.stringMatching(/ignored a torn last record in .*jobs\.journal \(line 2, \d+ bytes\)/)]);
    // The next save replaces the torn tail instead of gluing a record onto it. (The first save
    // after a load is a compaction; force an append after it.)
    await s2.save(() => loaded.jobs);
    must(loaded.jobs[1]).status = 'running';
    await s2.save(() => loaded.jobs);
    expect(journalLines(d).map((l) => JSON.parse(l).job.status)).toEqual(['running']);
    const third = await new JobStore(d, { report: () => undefined }).load();
    expect(third.warnings).toEqual([]);
    expect(must(third.jobs[1]).status).toBe('running');
  });

  it('the records before a torn one are kept', async () => {
    const d = dataDir();
    writeFileSync(join(d, 'jobs.json'), JSON.stringify({ version: 1, jobs: [] }));
    const good = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    writeFileSync(join(d, JOURNAL_FILE), `{"op":"put","job":${JSON.stringify({ ...good, ninja_total: undefined })}}\n{"op":"put","jo`, { mode: 0o600 });
    const store = new JobStore(d, { report: () => undefined });
    const { jobs, warnings } = await store.load();
    expect(jobs.map((j) => j.job_id)).toEqual([good.job_id]);
    expect(warnings[0]).toMatch(/torn last record/);
  });

  it('compaction: the journal is folded into jobs.json once it outgrows half the snapshot, and on compact()', async () => {
    const d = dataDir();
    const store = new JobStore(d, { report: () => undefined });
    await store.load();
    const jobs = Array.from({ length: 100 }, (_, i) => finished(i));
    await store.save(() => jobs);
    let appends = 0;
    for (let i = 0; store.stats.snapshots === 1; i++) {
      const j = createJob({ configuration: `n-${i}.yaml`, job_type: 'compile' });
      j.output = ['x'.repeat(500) + '\n'];
      jobs.push(j);
      await store.save(() => jobs);
      appends++;
      expect(appends).toBeLessThan(1000);
    }
    expect(store.stats.snapshots).toBe(2);
    expect(readFileSync(join(d, JOURNAL_FILE), 'utf8')).toBe('');
    expect(JSON.parse(readFileSync(join(d, 'jobs.json'), 'utf8')).jobs).toHaveLength(jobs.length);
    must(jobs[0]).status = 'failed';
    await store.save(() => jobs);
    expect(journalLines(d)).toHaveLength(1);
    await store.compact(() => jobs);
    expect(readFileSync(join(d, JOURNAL_FILE), 'utf8')).toBe('');
    expect(JSON.parse(readFileSync(join(d, 'jobs.json'), 'utf8')).jobs[0].status).toBe('failed');
  });

  it('a corrupt snapshot goes aside with its logs and its journal', async () => {
    const d = dataDir();
    writeFileSync(join(d, 'jobs.json'), '{"version":1,"jobs":[{"job_id": "abc", trunc');
    writeFileSync(join(d, JOURNAL_FILE), '{"op":"del","id":"abcabcabcabc"}\n');
    const { jobs, warnings } = await new JobStore(d, { report: () => undefined }).load();
    expect(jobs).toEqual([]);
    expect(warnings[0]).toMatch(/is corrupt .* moved it aside .* with its logs/);
    const { readdirSync } = await import('node:fs');
    const names = readdirSync(d);
    expect(names.some((n) => /^jobs\.json\.corrupt-.*\.journal$/.test(n))).toBe(true);
    expect(names).not.toContain(JOURNAL_FILE);
  });

  it('kill -9 while appending loses at most the record being written', async () => {
    const d = dataDir();
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'journal-writer-child.ts'), d], {
      cwd: resolve(__dirname, '../../../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let acked = 0;
    let buf = '';
    child.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      for (const m of buf.matchAll(/SAVED (\d+)\n/g)) acked = Math.max(acked, Number(m[1]));
    });
    // Past at least one compaction (the journal outgrows 64 KiB), then kill mid-stream.
    await waitUntil(() => acked >= 80, { timeoutMs: 60_000, what: '80 acknowledged saves' });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const { jobs, warnings } = await new JobStore(d, { report: () => undefined }).load();
    // Every acknowledged save is there; at most one more (written but not yet acknowledged).
    expect(jobs.length).toBeGreaterThanOrEqual(acked);
    expect(jobs.length).toBeLessThanOrEqual(acked + 1);
    expect(warnings.every((w) => /torn last record/.test(w))).toBe(true);
  }, 90_000);
});

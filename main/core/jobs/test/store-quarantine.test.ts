// Issue 11 defect 10: a corrupt jobs.json is moved aside WITH its logs (they belong to the
// quarantined jobs); before the fix the first save after the quarantine deleted every
// logs/*.log as an orphan. Also defect 4 for the job store: jobs.json, logs/ and every log are
// private (0700 / 0600) whatever the umask.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness } from './helpers';

let h: Harness;
const OLD_A = 'aaaaaaaaaaaa';
const OLD_B = 'bbbbbbbbbbbb';
beforeEach(() => {
  h = new Harness();
  mkdirSync(join(h.dataDir, 'logs'), { recursive: true });
  writeFileSync(join(h.dataDir, 'logs', `${OLD_A}.log`), 'INFO old build A\n');
  writeFileSync(join(h.dataDir, 'logs', `${OLD_B}.log`), 'INFO old build B\n');
});
afterEach(async () => {
  await h.cleanup();
});

const mode = (p: string) => statSync(p).mode & 0o777;

describe('corrupt jobs.json keeps its logs (issue 11 defect 10)', () => {
  it('the logs go aside with the quarantined file and survive the next save', async () => {
    writeFileSync(join(h.dataDir, 'jobs.json'), `{"version":1,"jobs":[{"job_id":"${OLD_A}", trunc`);
    const engine = await h.engine();
    expect(engine.startupWarnings[0]).toMatch(/is corrupt .* moved it aside to .*jobs\.json\.corrupt-.* with its logs/);
    // A new job runs and is saved: the save that used to sweep "orphan" logs.
    const job = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
    expect(job.status).toBe('completed');
    await engine.stop();
    const aside = readdirSync(h.dataDir).find((n) => /^jobs\.json\.corrupt-.*\.logs$/.test(n));
    expect(aside).toBeDefined();
    expect(readFileSync(join(h.dataDir, aside!, `${OLD_A}.log`), 'utf8')).toBe('INFO old build A\n');
    expect(readFileSync(join(h.dataDir, aside!, `${OLD_B}.log`), 'utf8')).toBe('INFO old build B\n');
    expect(readdirSync(join(h.dataDir, 'logs'))).toEqual([`${job.job_id}.log`]);
  });

  it('an unreadable jobs.json (here: a directory) deletes no log either', async () => {
    mkdirSync(join(h.dataDir, 'jobs.json'));
    const engine = await h.engine();
    expect(engine.startupWarnings[0]).toMatch(/could not read .*existing logs are kept/);
    engine.compile({ configuration: h.fake('a.yaml', 'success') });
    await engine.stop();
    expect(readdirSync(join(h.dataDir, 'logs')).sort()).toEqual([`${OLD_A}.log`, `${OLD_B}.log`]);
  });
});

describe('job store files are private (issue 11 defect 4, sender side)', () => {
  it('jobs.json 0600, logs/ 0700, each log 0600 under umask 022', async () => {
    const old = process.umask(0o022);
    try {
      const engine = await h.engine();
      const job = await engine.whenDone(engine.compile({ configuration: h.fake('a.yaml', 'success') }).job_id);
      await engine.stop();
      expect(mode(join(h.dataDir, 'jobs.json'))).toBe(0o600);
      expect(mode(join(h.dataDir, 'logs'))).toBe(0o700);
      expect(mode(join(h.dataDir, 'logs', `${job.job_id}.log`))).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });
});

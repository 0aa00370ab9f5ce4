// The engine against Kiln's esphome simulator (tools/esphome-sim, esphome-cli.md §7) with
// ESPHOME_SIM_SPEED=0: real subprocesses, real output shapes, real artifacts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FORCED_ENV } from '../../esphome/argv';
import { liveGroupMembers, processDead, SIM_ESPHOME, type Harness } from './helpers';
import { newSimHarness, useSimEnv } from './sim-fixture';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

let h: Harness;
let simLog: string;

useSimEnv({ ESPHOME_SIM_ORPHAN_TTL: '30' }); // a leaked grandchild cannot outlive the run for long
beforeEach(() => {
  ({ h, simLog } = newSimHarness());
});
afterEach(async () => {
  await h.cleanup();
});

interface SimLogEntry {
  pid: number;
  pgid: number | null;
  role: string;
  argv: string[];
  env: Record<string, string | null>;
  stdin: string;
  cwd: string;
}
function simEntries(): SimLogEntry[] {
  if (!existsSync(simLog)) return [];
  return readFileSync(simLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SimLogEntry);
}

/** Copy of an example YAML with a `# sim: <scenario>` marker. */
function scenario(example: string, name: string, sim: string): string {
  const text = readFileSync(join(h.configDir, example), 'utf8');
  writeFileSync(join(h.configDir, name), `# sim: ${sim}\n${text}`);
  return name;
}

const engine = () => h.engine({ esphome: [SIM_ESPHOME] });

describe('esphome simulator scenarios', () => {
  it('ESP-IDF compile: ninja progress to 100 (bootloader counter ignored), stamps, artifacts', async () => {
    const e = await engine();
    const job = await e.whenDone(e.compile({ configuration: 'garage-idf.yaml' }).job_id);
    expect(job.status).toBe('completed');
    expect(job.exit_code).toBe(0);
    const progress = h.events.filter((ev) => ev.name === 'job_progress' && ev.job_id === job.job_id).map((ev) => ev.progress!);
    expect(progress.at(-1)).toBe(100);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(must(progress[i - 1]));
    expect(progress.length).toBeGreaterThan(10);
    expect(job.compile_started_at).not.toBeNull();
    expect(job.compile_ended_at).not.toBeNull();
    expect(job.compile_ended_at! >= job.compile_started_at!).toBe(true);
    const out = h.output(job.job_id);
    expect(out.some((l) => l.includes('[1/125]'))).toBe(true); // the bootloader sub-build was there
    expect(out.some((l) => l.includes('\\033['))).toBe(true); // literal ANSI kept in the stream
    const env = join(h.configDir, '.esphome/build/garage-idf/.pioenvs/garage-idf');
    for (const f of ['firmware.bin', 'firmware.factory.bin', 'firmware.ota.bin', 'firmware.elf']) expect(existsSync(join(env, f))).toBe(true);
    expect(existsSync(join(h.configDir, '.esphome/storage/garage-idf.yaml.json'))).toBe(true);
  });

  it('Arduino compile: completes; download bars and RAM/Flash lines are not progress', async () => {
    const e = await engine();
    const job = await e.whenDone(e.compile({ configuration: 'kitchen-plug.yaml' }).job_id);
    expect(job.status).toBe('completed');
    const out = h.output(job.job_id).join('');
    expect(out).toMatch(/RAM:\s+\[/);
    expect(h.events.filter((ev) => ev.name === 'job_progress' && ev.job_id === job.job_id && ev.progress! > 0 && ev.progress! < 100).length).toBe(0);
    expect(existsSync(join(h.configDir, '.esphome/build/kitchen-plug/.pioenvs/kitchen-plug/firmware.bin'))).toBe(true);
  });

  it.each([
    ['compile-error', 1],
    ['link-error', 1],
    ['config-error', 2],
    ['yaml-error', 2],
  ])('%s → failed with exit %i', async (sim, code) => {
    const e = await engine();
    const job = await e.whenDone(e.compile({ configuration: scenario('living-room.yaml', `${sim}.yaml`, sim) }).job_id);
    expect(job.status).toBe('failed');
    expect(job.exit_code).toBe(code);
    expect(job.error).toBe(`Process exited with code ${code}`);
  });

  it('install: compile then OTA upload with the bar to 100; argv/env/stdin/process group exactly as §6', async () => {
    const e = await engine();
    const head = e.install({ configuration: 'living-room.yaml' });
    const upload = e.getJobs().find((j) => j.depends_on === head.job_id)!;
    const up = await e.whenDone(upload.job_id);
    expect(head.status).toBe('completed');
    expect(up.status).toBe('completed');
    expect(up.progress).toBe(100);
    expect(h.output(upload.job_id).some((l) => l.startsWith('Uploading: ['))).toBe(true);
    const mains = simEntries().filter((x) => x.role === 'main');
    const yaml = join(h.configDir, 'living-room.yaml');
    expect(mains.map((x) => x.argv)).toEqual([
      ['--dashboard', 'compile', yaml],
      ['--dashboard', 'upload', yaml, '--device', 'OTA'],
    ]);
    for (const m of mains) {
      for (const [k, v] of Object.entries(FORCED_ENV)) expect(m.env[k]).toBe(v);
      expect(m.stdin).toBe('devnull');
      expect(m.pgid).toBe(m.pid); // own process group
      expect(m.cwd).toBe(process.cwd());
    }
  });

  it('serial upload: esptool v5 "Writing at" progress reaches 100', async () => {
    const e = await engine();
    await e.whenDone(e.compile({ configuration: 'living-room.yaml' }).job_id);
    const up = await e.whenDone(e.upload({ configuration: 'living-room.yaml', port: '/dev/ttyUSB0' }).job_id);
    expect(up.status).toBe('completed');
    expect(up.progress).toBe(100);
    expect(h.output(up.job_id).some((l) => l.includes('Writing at 0x'))).toBe(true);
  });

  it('ota-fail: the install chain ends with the upload failed', async () => {
    const e = await engine();
    const head = e.install({ configuration: scenario('living-room.yaml', 'flaky.yaml', 'ota-fail') });
    const upload = e.getJobs().find((j) => j.depends_on === head.job_id)!;
    const up = await e.whenDone(upload.job_id);
    expect(head.status).toBe('completed');
    expect(up.status).toBe('failed');
    expect(up.exit_code).toBe(1);
  });

  it('cancel with ignore-term: SIGKILL to the group after 3 s; simulator and grandchild gone within 3.5 s', async () => {
    const e = await h.engine({ esphome: [SIM_ESPHOME], terminateGraceMs: 3000, drainMs: 1000 });
    const job = e.compile({ configuration: scenario('garage-idf.yaml', 'stubborn.yaml', 'ignore-term') });
    await waitUntil(() => simEntries().some((x) => x.role === 'grandchild'), 10_000);
    await waitUntil(() => h.output(job.job_id).some((l) => l.includes('Compiling .pioenvs/')), 5000);
    const main = simEntries().find((x) => x.role === 'main')!;
    const gc = simEntries().find((x) => x.role === 'grandchild')!;
    expect(gc.pgid).toBe(main.pid);
    const t0 = Date.now();
    await e.cancel(job.job_id);
    const done = await e.whenDone(job.job_id);
    expect(done.status).toBe('cancelled');
    await waitUntil(() => processDead(gc.pid) && processDead(main.pid) && liveGroupMembers(main.pid).length === 0, Math.max(0, 3500 - (Date.now() - t0)));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(3500);
  }, 20_000);

  it('cancel with a grandchild holding the pipe: the run ends promptly and the group is gone', async () => {
    const e = await engine();
    const job = e.compile({ configuration: scenario('garage-idf.yaml', 'gc.yaml', 'grandchild') });
    await waitUntil(() => simEntries().some((x) => x.role === 'grandchild'), 10_000);
    const main = simEntries().find((x) => x.role === 'main')!;
    const t0 = Date.now();
    await e.cancel(job.job_id);
    expect((await e.whenDone(job.job_id)).status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(1500);
    await waitUntil(() => liveGroupMembers(main.pid).length === 0, 2000);
  });

  it('hang: cancel ends it cancelled', async () => {
    const e = await engine();
    const job = e.compile({ configuration: scenario('kitchen-plug.yaml', 'hang.yaml', 'hang') });
    await waitUntil(() => job.status === 'running' && h.output(job.job_id).length > 3, 10_000);
    await e.cancel(job.job_id);
    const done = await e.whenDone(job.job_id);
    expect(done.status).toBe('cancelled');
  });

  it('clean and reset build env run esphome clean / clean-all', async () => {
    const e = await engine();
    await e.whenDone(e.compile({ configuration: 'kitchen-plug.yaml' }).job_id);
    const c = await e.whenDone(e.clean({ configuration: 'kitchen-plug.yaml' }).job_id);
    expect({ status: c.status, out: c.status === 'completed' ? '' : h.output(c.job_id).join('') }).toEqual({ status: 'completed', out: '' });
    expect(existsSync(join(h.configDir, '.esphome/build/kitchen-plug/.pioenvs'))).toBe(false);
    const r = await e.whenDone(e.resetBuildEnv().job_id);
    expect(r.status).toBe('completed');
    expect(simEntries().filter((x) => x.role === 'main').map((x) => x.argv.slice(0, 2))).toEqual([
      ['--dashboard', 'compile'],
      ['--dashboard', 'clean'],
      ['--dashboard', 'clean-all'],
    ]);
  });
});

// `kiln build` as a user runs it: a real `node --import tsx main/headless/cli/kiln.ts build …`
// process driving Kiln's esphome simulator (tools/esphome-sim).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { liveGroupMembers, processDead } from '../../../core/jobs/test/helpers';
import { createJob, serializeJob } from '../../../core/jobs/model';
import { parseBuildArgs } from '../build-command';

const ROOT = resolve(__dirname, '../../../..');
const KILN = join(ROOT, 'main/headless/cli/kiln.ts');
const SIM = join(ROOT, 'tools/esphome-sim/esphome');
const EXAMPLES = join(ROOT, 'tools/esphome-sim/examples');
const simEnv = { ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_ORPHAN_TTL: '30' };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A file at `name` (only its path matters: argument parsing). */
function yaml(name: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, 'esphome:\n  name: dev\n');
  return p;
}

/** The simulator's ESP-IDF example (with OTA and secrets) at `name`, steered by `# sim: <scenario>`. */
function simYaml(name: string, scenario: string): string {
  cpSync(EXAMPLES, dir, { recursive: true, filter: (src) => !src.includes('.esphome') });
  const p = join(dir, name);
  writeFileSync(p, `# sim: ${scenario}\n${readFileSync(join(dir, 'garage-idf.yaml'), 'utf8')}`);
  return p;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kiln(args: string[], opts: { env?: Record<string, string>; onStdout?: (s: string, kill: (sig: NodeJS.Signals) => void) => void } = {}): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--import', 'tsx', KILN, ...args], {
      cwd: ROOT,
      env: { ...process.env, KILN_ESPHOME: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      opts.onStdout?.(stdout, (sig) => child.kill(sig));
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe('kiln build (real process)', () => {
  it('exit 0 on completed: stdout is the log, progress lines go to stderr', async () => {
    const r = await kiln(['build', simYaml('dev.yaml', 'success'), '--esphome', SIM], { env: simEnv });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Successfully compiled program.');
    expect(r.stdout).not.toMatch(/progress \d+%/);
    expect(r.stderr).toMatch(/^progress 100%$/m);
    expect(r.stderr).toContain('compile completed');
  }, 30_000);

  it('exit 1 on failed with the error printed; install stops at the failed compile', async () => {
    const r = await kiln(['build', simYaml('bad.yaml', 'compile-error'), '--target', 'install', '--device', '10.0.0.9'], { env: { ...simEnv, KILN_ESPHOME: SIM } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('kiln: compile failed (exit 1): Process exited with code 1');
    expect(r.stdout).toMatch(/\[(?:\\033\[[\d;]*m)?FAILED/); // `--dashboard`: the colour codes are literal text
  }, 30_000);

  it('exit 1 with an actionable message when the esphome command does not exist', async () => {
    const r = await kiln(['build', simYaml('dev.yaml', 'success'), '--esphome', 'kiln-no-such-esphome --flag']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("esphome command not found: 'kiln-no-such-esphome --flag'");
    expect(r.stderr).toContain('KILN_ESPHOME');
  }, 30_000);

  it('Ctrl-C (SIGINT) cancels the running job and exits 130; the esphome process group is gone', async () => {
    const simLog = join(dir, 'sim.jsonl');
    let sent = false;
    // `grandchild`: the build hangs with a compiler grandchild in the simulator's process group.
    const r = await kiln(['build', simYaml('slow.yaml', 'grandchild'), '--esphome', SIM], {
      env: { ...simEnv, ESPHOME_SIM_LOG: simLog },
      onStdout: (s, kill) => {
        if (!sent && s.includes('Compiling app')) {
          sent = true;
          kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('kiln: compile cancelled');
    expect(r.stdout).not.toContain('Successfully compiled');
    const runs = readFileSync(simLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { role: string; pid: number });
    const main = runs.find((e) => e.role === 'main')!;
    expect(processDead(main.pid)).toBe(true);
    for (const gc of runs.filter((e) => e.role === 'grandchild')) expect(processDead(gc.pid)).toBe(true);
    expect(liveGroupMembers(main.pid)).toEqual([]);
  }, 30_000);

  it('install runs compile then upload and exits 0; --data-dir keeps history', async () => {
    const data = join(dir, 'state');
    const r = await kiln(['build', simYaml('dev.yaml', 'success'), '--esphome', SIM, '--target', 'install', '--data-dir', data], { env: simEnv });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Successfully compiled program.');
    expect(r.stdout).toContain('OTA successful');
    expect(r.stderr).toContain('compile + upload completed');
    const meta = JSON.parse(readFileSync(join(data, 'jobs.json'), 'utf8'));
    expect(meta.jobs.map((j: { job_type: string; status: string }) => `${j.job_type}:${j.status}`).sort()).toEqual(['compile:completed', 'upload:completed']);
  }, 30_000);

  it('--data-dir with a paused queue: refused with exit 2 and a message; nothing runs, the pause stays', async () => {
    const data = join(dir, 'state');
    mkdirSync(data);
    simYaml('other.yaml', 'success');
    const waiting = createJob({ configuration: 'other.yaml', job_type: 'compile' });
    writeFileSync(join(data, 'jobs.json'), JSON.stringify({ version: 1, paused: true, jobs: [serializeJob(waiting, { withOutput: true })] }));
    const r = await kiln(['build', simYaml('dev.yaml', 'success'), '--esphome', SIM, '--data-dir', data], { env: simEnv });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the job queue in ${data} is paused`);
    expect(r.stderr).toContain('Resume queue');
    expect(r.stdout).toBe('');
    const meta = JSON.parse(readFileSync(join(data, 'jobs.json'), 'utf8'));
    expect(meta.paused).toBe(true);
    expect(meta.jobs.map((j: { job_id: string; status: string }) => `${j.job_id}:${j.status}`)).toEqual([`${waiting.job_id}:queued`]);
  }, 30_000);

  it('exit 2 on usage errors; --version and --help', async () => {
    expect((await kiln(['build'])).code).toBe(2);
    expect((await kiln(['build', join(dir, 'missing.yaml')])).stderr).toContain('no such YAML file');
    const v = await kiln(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^kiln \d+\.\d+\.\d+/);
    const help = await kiln(['--help']);
    expect(help.stdout).toContain('build');
    expect((await kiln(['nope'])).code).toBe(2);
  }, 30_000);
});

describe('kiln build with the esphome simulator: more outcomes', () => {
  it('0 on success (ESP-IDF compile, progress to 100), artifacts in the YAML dir', async () => {
    const r = await kiln(['build', simYaml('garage.yaml', 'success'), '--esphome', SIM], { env: simEnv });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Successfully compiled program.');
    expect(r.stderr).toMatch(/^progress 100%$/m);
    expect(existsSync(join(dir, '.esphome/build/garage-idf/.pioenvs/garage-idf/firmware.bin'))).toBe(true);
  }, 30_000);

  it('1 on a compile error', async () => {
    const r = await kiln(['build', simYaml('broken.yaml', 'compile-error'), '--esphome', SIM], { env: simEnv });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('kiln: compile failed (exit 1)');
  }, 30_000);

  it('130 on Ctrl-C during a hanging build', async () => {
    let sent = false;
    const r = await kiln(['build', simYaml('stuck.yaml', 'hang'), '--esphome', SIM], {
      env: simEnv,
      onStdout: (s, kill) => {
        if (!sent && s.includes('Compiling app')) {
          sent = true;
          kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('kiln: compile cancelled');
  }, 30_000);
});

describe('parseBuildArgs', () => {
  it('defaults the config dir to the YAML directory and derives the configuration', () => {
    const p = yaml('sub/kitchen.yaml');
    const a = parseBuildArgs([p], {}, '/');
    expect(a.configDir).toBe(join(dir, 'sub'));
    expect(a.configuration).toBe('kitchen.yaml');
    expect(a.esphome).toEqual(['esphome']);
    expect(a.target).toBe('compile');
    const b = parseBuildArgs(['sub/kitchen.yaml', '--config-dir', dir, '--esphome', 'python3 -m esphome'], {}, dir);
    expect(b.configDir).toBe(dir);
    expect(b.configuration).toBe('sub/kitchen.yaml');
    expect(b.esphome).toEqual(['python3', '-m', 'esphome']);
    const c = parseBuildArgs(['kitchen.yaml', '--config-dir', join(dir, 'sub')], { KILN_ESPHOME: '/opt/esphome' }, '/');
    expect(c.configuration).toBe('kitchen.yaml');
    expect(c.esphome).toEqual(['/opt/esphome']);
  });

  it('rejects a YAML outside an explicit config dir, bad targets and --device with compile', () => {
    const p = yaml('a/x.yaml');
    mkdirSync(join(dir, 'b'));
    expect(() => parseBuildArgs([p, '--config-dir', join(dir, 'b')])).toThrow(/outside the config directory/);
    expect(() => parseBuildArgs([p, '--target', 'flash'])).toThrow(/--target/);
    expect(() => parseBuildArgs([p, '--device', 'OTA'])).toThrow(/--device/);
    expect(() => parseBuildArgs([p, '--bogus'])).toThrow();
    expect(existsSync(p)).toBe(true);
  });
});

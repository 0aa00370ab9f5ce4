// `kiln build --target install [--rebuild]`, `kiln devices`, `kiln firmware list|export|flash` as
// a user runs them: real `kiln` processes driving the esphome simulator, its invocation log
// (ESPHOME_SIM_LOG) showing which esphome commands ran.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must } from '../../../../test/support/must';

const ROOT = resolve(__dirname, '../../../..');
const KILN = join(ROOT, 'main/headless/cli/kiln.ts');
const SIM = join(ROOT, 'tools/esphome-sim/esphome');
const EXAMPLES = join(ROOT, 'tools/esphome-sim/examples');

let dir: string;
let simLog: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-fwcli-'));
  cpSync(EXAMPLES, dir, { recursive: true, filter: (src) => !src.includes('.esphome') });
  simLog = join(dir, 'sim.jsonl');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kiln(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', KILN, ...args], {
      cwd: ROOT,
      env: { ...process.env, KILN_ESPHOME: SIM, ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_LOG: simLog, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const commands = (): string[] =>
  existsSync(simLog)
    ? readFileSync(simLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { role: string; argv: string[] }).filter((x) => x.role === 'main').map((x) => x.argv[1]).filter((c) => c === 'compile' || c === 'upload')
    : [];
const yaml = (): string => join(dir, 'living-room.yaml');

describe('firmware library on the command line (real processes)', () => {
  it('kiln build --target install: compiles once, then flashes the kept build; --rebuild compiles', async () => {
    const first = await kiln(['build', yaml(), '--target', 'install']);
    expect(first.code).toBe(0);
    expect(commands()).toEqual(['compile', 'upload']);
    const second = await kiln(['build', yaml(), '--target', 'install']);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^Firmware library: installing build [0-9a-z]+-[0-9a-f]{8} \(built (just now|\d+ min ago) on this computer, ESPHome [^)]+\) without compiling\.$/m);
    expect(second.stderr).toContain('kiln: upload completed');
    expect(commands()).toEqual(['compile', 'upload', 'upload']);
    const third = await kiln(['build', yaml(), '--target', 'install', '--rebuild']);
    expect(third.code).toBe(0);
    expect(commands()).toEqual(['compile', 'upload', 'upload', 'compile', 'upload']);
    expect((await kiln(['build', yaml(), '--rebuild'])).code).toBe(2);
  }, 90_000);

  it('kiln devices --json / kiln firmware list --json / export', async () => {
    const devices = await kiln(['devices', '--config-dir', dir, '--json']);
    expect(devices.code).toBe(0);
    const parsed = JSON.parse(devices.stdout) as { devices: Array<{ configuration: string; status: string }> };
    expect(parsed.devices.find((d) => d.configuration === 'living-room.yaml')?.status).toBe('up-to-date');
    expect(parsed.devices.find((d) => d.configuration === 'kitchen-plug.yaml')?.status).toBe('never-built');
    const list = await kiln(['firmware', 'list', yaml(), '--json']);
    const builds = JSON.parse(list.stdout) as Array<{ id: string; images: Array<{ kind: string; sha256: string }> }>;
    expect(builds.length).toBe(2);
    const out = join(dir, 'exported.bin');
    const exp = await kiln(['firmware', 'export', yaml(), '--out', out, '--build', must(builds[1]).id]);
    expect(exp.code).toBe(0);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(must(builds[1]).images.find((i) => i.kind === 'ota')!.sha256);
    expect((await kiln(['firmware', 'export', yaml(), '--out', out, '--image', 'bogus'])).code).toBe(2);
    appendFileSync(yaml(), '\n# changed\n');
    const after = JSON.parse((await kiln(['devices', '--config-dir', dir, '--json'])).stdout) as typeof parsed;
    expect(after.devices.find((d) => d.configuration === 'living-room.yaml')?.status).toBe('config-changed');
    const human = await kiln(['devices', '--config-dir', dir]);
    expect(human.stdout).toMatch(/^living-room\.yaml\s+config-changed\s+built .* on this computer, ESPHome /m);
  }, 90_000);

  it('kiln firmware flash uploads a kept build without compiling', async () => {
    const builds = JSON.parse((await kiln(['firmware', 'list', yaml(), '--json'])).stdout) as Array<{ id: string }>;
    const before = commands().length;
    const r = await kiln(['firmware', 'flash', yaml(), '--build', must(builds[1]).id, '--device', 'OTA']);
    expect(r.stderr).toContain('upload completed');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Firmware library: flashing build ${must(builds[1]).id}`);
    expect(commands().slice(before)).toEqual(['upload']);
    const bad = await kiln(['firmware', 'flash', yaml(), '--build', 'zzzzzz-00000000', '--device', 'OTA']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('no firmware build zzzzzz-00000000');
  }, 60_000);
});

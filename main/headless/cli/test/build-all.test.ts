// `kiln build-all` as a real process with the esphome simulator: every device not up to date is
// compiled (a failing one is reported and counted), a second run queues only what is still not
// up to date; the simulator's log shows which compiles ran.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must } from '../../../../test/support/must';

const ROOT = resolve(__dirname, '../../../..');
const KILN = join(ROOT, 'main/headless/cli/kiln.ts');
const SIM = join(ROOT, 'tools/esphome-sim/esphome');
let dir: string;
let simLog: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-buildall-'));
  cpSync(join(ROOT, 'tools/esphome-sim/examples'), dir, { recursive: true, filter: (src) => !src.includes('.esphome') });
  simLog = join(dir, 'sim.jsonl');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kiln(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', KILN, ...args], { cwd: ROOT, env: { ...process.env, KILN_ESPHOME: SIM, ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_LOG: simLog }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
const compiled = (): string[] =>
  existsSync(simLog) ? readFileSync(simLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { role: string; argv: string[] }).filter((x) => x.role === 'main' && x.argv[1] === 'compile').map((x) => must(x.argv[2]).split('/').pop()!) : [];

describe('kiln build-all (real process)', () => {
  it('compiles every device that is not up to date, reports failures, and skips up-to-date ones next time', async () => {
    const first = await kiln(['build-all', '--config-dir', dir, '--json']);
    const summary = JSON.parse(first.stdout) as { total: number; failed: number; results: Array<{ configuration: string; status: string }> };
    expect(summary.total).toBe(6);
    expect(summary.failed).toBe(1);
    expect(summary.results.find((r) => r.configuration === 'broken-lambda.yaml')?.status).toBe('failed');
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/kiln: 6 of 6 done, 1 failed/);
    expect(compiled().sort()).toEqual(['broken-lambda.yaml', 'garage-idf.yaml', 'kitchen-plug.yaml', 'living-room.yaml', 'pico-sensor.yaml', 'tuya-bulb.yaml']);

    const second = await kiln(['build-all', '--config-dir', dir, '--json']);
    expect(second.stderr).toContain('kiln: 1 of 6 configurations are not up to date: broken-lambda.yaml');
    expect((JSON.parse(second.stdout) as { total: number }).total).toBe(1);
    expect(compiled().length).toBe(7);
  }, 120_000);
});

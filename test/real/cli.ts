// Shared by the real-CLI suites: temp config dirs with real configurations, and one esphome run.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { esphomeEnv } from '../../main/core/esphome/argv';
import { REPO_ROOT } from '../e2e-remote/helpers';

const run = promisify(execFile);
const EXAMPLES = join(REPO_ROOT, 'tools/esphome-sim/examples');
const tmp: string[] = [];

export function cleanupConfigDirs(): void {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A temp config dir: the simulator examples plus configs using !include and a local package file. */
export function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-real-cli-'));
  tmp.push(dir);
  cpSync(EXAMPLES, dir, { recursive: true });
  mkdirSync(join(dir, 'includes'));
  writeFileSync(join(dir, 'includes', 'sensors.yaml'), '- platform: uptime\n  name: Uptime\n- platform: wifi_signal\n  name: WiFi signal\n');
  writeFileSync(join(dir, 'includes', 'base.yaml'), 'logger:\n  level: DEBUG\nota:\n  - platform: esphome\n    password: !secret ota_password\n');
  writeFileSync(join(dir, 'hall.yaml'), [
    'esphome:', '  name: hall', 'esp8266:', '  board: d1_mini',
    'packages:', '  base: !include includes/base.yaml',
    'wifi:', '  ssid: !secret wifi_ssid', '  password: !secret wifi_password',
    'sensor: !include includes/sensors.yaml', '',
  ].join('\n'));
  writeFileSync(join(dir, 'invalid.yaml'), 'esphome:\n  name: bad_Name!\nesp32:\n  board: esp32dev\n');
  writeFileSync(join(dir, 'broken.yaml'), 'esphome:\n  name: x\n  foo: [\n');
  writeFileSync(join(dir, 'missing-secret.yaml'), 'esphome:\n  name: ms\nesp8266:\n  board: d1_mini\nwifi:\n  ssid: !secret nope\n  password: !secret wifi_password\n');
  return dir;
}

/** Runs esphome as Kiln does (Kiln's environment: forced colour, unbuffered, UTF-8). */
export async function esphome(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(cmd, args, { cwd, env: esphomeEnv(process.env, env), maxBuffer: 32 * 1024 * 1024 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout, err: x.stderr };
  }
}


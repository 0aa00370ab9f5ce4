// The one esphome version probe (`esphome/version.ts`), against the simulator
// (tools/esphome-sim/esphome) and small stand-ins for the failure modes; and the API status built
// on it (`api/esphome-status.ts`), so the app, `kiln receiver` and `kiln build --server` agree.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { probeEsphome } from '../../api/esphome-status';
import { esphomeEnv } from '../argv';
import { PROBE_ARGS, probeEsphomeVersion, probeVersion } from '../version';

const SIM = resolve(__dirname, '../../../../tools/esphome-sim/esphome');
const NODE = process.execPath;
/** A stand-in CLI: `node -e <script> --` (the probe's flags then reach the script, not node). */
const script = (js: string): string[] => [NODE, '-e', js, '--'];
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-probe-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('esphome version probe', () => {
  it('the simulator: argv `--dashboard --version`, the §6.2 environment, own process group, stdin closed; version + simulator flag', async () => {
    const log = join(dir, 'sim.log');
    const p = await probeEsphomeVersion([SIM], { env: esphomeEnv(process.env, { ESPHOME_SIM_LOG: log, ESPHOME_SIM_VERSION: '2026.8.1' }) });
    expect(p).toEqual({ ok: true, version: '2026.8.1', simulator: true });
    const entries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { argv: string[]; env: Record<string, string | null>; pgid: number; ppid: number; stdin: string });
    expect(entries).toHaveLength(1);
    expect(entries[0]!.argv).toEqual([...PROBE_ARGS]);
    expect(entries[0]!.env).toMatchObject({ PYTHONUNBUFFERED: '1', PLATFORMIO_FORCE_ANSI: 'true', FORCE_COLOR: '1' });
    expect(entries[0]!.pgid).not.toBe(process.pid);
    expect(entries[0]!.stdin).not.toBe('tty');
  });

  it('default environment: the simulator default version', async () => {
    const saved = process.env.ESPHOME_SIM_VERSION;
    delete process.env.ESPHOME_SIM_VERSION;
    try {
      expect(await probeEsphomeVersion([SIM])).toEqual({ ok: true, version: '2025.12.2', simulator: true });
      expect(await probeVersion([SIM])).toBe('2025.12.2');
    } finally {
      if (saved !== undefined) process.env.ESPHOME_SIM_VERSION = saved;
    }
  });

  it('a real-looking CLI (no simulator label) is not the simulator', async () => {
    const fake = script("console.log('Version: 2026.5.0')");
    expect(await probeEsphomeVersion(fake)).toEqual({ ok: true, version: '2026.5.0', simulator: false });
  });

  it('failures become plain reasons; probeVersion throws them; the API status carries them', async () => {
    const missing = join(dir, 'no-such-esphome');
    expect(await probeEsphomeVersion([missing])).toEqual({ ok: false, reason: `'${missing}' not found` });
    expect(await probeEsphomeVersion([])).toEqual({ ok: false, reason: 'no esphome command configured' });

    const exit3 = await probeEsphomeVersion(script("console.error('broken install'); process.exit(3)"));
    expect(exit3.ok).toBe(false);
    expect(!exit3.ok && exit3.reason).toMatch(/exited with 3: broken install$/);

    const garbage = await probeEsphomeVersion(script("console.log('hello')"));
    expect(garbage).toEqual({ ok: false, reason: 'unexpected version output: hello' });

    const hang = await probeEsphomeVersion(script('setInterval(() => {}, 1000)'), { timeoutMs: 300 });
    expect(hang.ok).toBe(false);
    expect(!hang.ok && hang.reason).toMatch(/did not answer within 300 ms$/);

    await expect(probeVersion([missing])).rejects.toThrow(`esphome version probe failed: '${missing}' not found`);
    expect(await probeEsphome([missing])).toEqual({ command: [missing], found: false, version: '', simulator: false, error: `'${missing}' not found` });
  });

  it('the API status and probeVersion agree on the simulator', async () => {
    const status = await probeEsphome([SIM]);
    expect(status).toMatchObject({ command: [SIM], found: true, simulator: true, error: '' });
    expect(status.version).toBe(await probeVersion([SIM]));
  });
});

// The Toolchains API through the service (as the window calls it): bad input refused by the
// schema, the first install from a clean machine makes esphome "found" without a restart, the
// user's esphome-command setting then beats the managed default, live, through the launcher.
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildWheelhouse, pyenvPython } from '../../../../test/support/esphome-wheelhouse';
import { waitUntil } from '../../../../test/support/wait-until';
import { createApp, type KilnApp } from '../../app';
import { ToolchainStore } from '../../toolchains/store';
import { cleanupDirs, Recorder, tempConfigDir } from './helpers';

const PY = pyenvPython('3.12');
const tmp = mkdtempSync(join(tmpdir(), 'kiln-tc-api-'));
let app: KilnApp | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
  cleanupDirs();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!PY)('Toolchains API', () => {
  it('clean machine → installToolchain → esphome found, no restart; bad input refused; setting beats the default live', async () => {
    const wheels = buildWheelhouse(join(tmp, 'wheels'), [{ version: '2099.1.0' }], PY!);
    app = await createApp({
      configDir: tempConfigDir({}, ['kitchen-plug.yaml', 'secrets.yaml']),
      toolchains: new ToolchainStore(join(tmp, 'tc')),
      toolchainPip: { findLinks: [wheels], noIndex: true, python: PY! },
      peerLink: false,
      report: () => undefined,
    });
    const rec = new Recorder();
    const conn = app.service.connect(rec.sink);
    const call = <T>(m: string, p: unknown = {}) => conn.call(m, p) as Promise<T>;
    // No esphome on this machine's PATH (none installed here).
    const env0 = await call<{ esphome: { found: boolean } }>('getEnvironment');
    expect(env0.esphome.found).toBe(false);
    for (const version of ['1.0; rm -rf /', '../x', '']) {
      await expect(call('installToolchain', { version })).rejects.toMatchObject({ code: 'invalid_args' });
    }
    await expect(call('installToolchain', { version: '2099.1.0', extra: 1 })).rejects.toMatchObject({ code: 'invalid_args' });
    await expect(call('setDefaultToolchain', { version: '2099.1.0' })).rejects.toMatchObject({ code: 'not_found' });

    const started = await call<{ id: string; status: string }>('installToolchain', {});
    expect(started.status).toBe('running');
    await waitUntil(() => rec.of('toolchainInstall').find((i) => i.status === 'done'), { timeoutMs: 120_000, what: 'install done' });
    expect(new Set(rec.of('toolchainInstall').map((i) => i.phase))).toEqual(new Set(['python', 'venv', 'resolving', 'downloading', 'installing', 'verifying', 'done']));
    await waitUntil(() => rec.of('toolchainsChanged').some((e) => e.reason === 'esphome'), { timeoutMs: 30_000, what: 'esphome switched' });
    const env1 = await call<{ esphome: { found: boolean; version: string } }>('getEnvironment');
    expect(env1.esphome).toMatchObject({ found: true, version: '2099.1.0' });
    const st = await call<{ defaultVersion: string; effective: { source: string } }>('getToolchains');
    expect(st).toMatchObject({ defaultVersion: '2099.1.0', effective: { source: 'managed' } });
    const log = await call<{ lines: string[] }>('getToolchainInstallLog', { id: started.id });
    expect(log.lines.join('\n')).toMatch(/Successfully installed esphome-2099\.1\.0/);
    // A compile now runs the installed toolchain.
    const job = app.engine.compile({ configuration: 'kitchen-plug.yaml' });
    const done = await app.engine.whenDone(job.job_id);
    expect(done.status).toBe('completed');
    expect((await app.engine.readLog(job.job_id)).join('')).toMatch(/INFO ESPHome 2099\.1\.0/);

    // The user's own esphome command beats the managed default, without a restart.
    const own = join(tmp, 'my-esphome');
    writeFileSync(own, `#!/bin/sh\nESPHOME_SIM_VERSION=2099.9.9 exec "${process.execPath}" "${join(__dirname, '../../../../tools/esphome-sim/esphome')}" "$@"\n`);
    chmodSync(own, 0o755);
    const r = await call<{ restartRequired: boolean }>('updateSettings', { esphomeCommand: [own] });
    expect(r.restartRequired).toBe(false);
    await waitUntil(async () => (await call<{ esphome: { version: string } }>('getEnvironment')).esphome.version === '2099.9.9', { timeoutMs: 30_000, what: 'the setting to apply' });
    expect((await call<{ effective: { source: string } }>('getToolchains')).effective.source).toBe('setting');
    const job2 = app.engine.compile({ configuration: 'kitchen-plug.yaml' });
    await app.engine.whenDone(job2.job_id);
    expect((await app.engine.readLog(job2.job_id)).join('')).toMatch(/INFO ESPHome 2099\.9\.9/);
    // Update check never errors.
    const upd = await call<{ status: string }>('checkToolchainUpdate');
    expect(['ok', 'unknown']).toContain(upd.status);
    conn.close();
  }, 240_000);
});

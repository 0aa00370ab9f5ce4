// Issue 17 defect 6: quitting is bounded. A job is running (esphome sleeps for a minute) and a
// part of the app hangs in its stop (an extension that never resolves): app.quit() must still
// end the process by the deadline, with the running job cancelled by 'shutdown' and persisted.
// Before the fix, will-quit awaited the backend's stop with no deadline and never exited.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../../test/support/wait-until';
import { startDesktopApp } from '../main';
import { app, fake, resetFakeElectron } from './fake-electron';

let dir: string;
let configDir: string;
const e2e = () => (globalThis as { __e2e?: { call(m: string, p: unknown): Promise<unknown> } }).__e2e;
const DEADLINE = 1500;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-quit-'));
  configDir = join(dir, 'esphome');
  mkdirSync(configDir);
  cpSync(join(process.cwd(), 'assets', 'tray'), join(dir, 'app', 'out', 'main', 'tray'), { recursive: true });
  writeFileSync(join(configDir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n');
  const esphome = join(dir, 'esphome-slow');
  writeFileSync(esphome, '#!/bin/sh\ncase " $* " in *" version "*|*" --version "*) echo "Version: 2026.1.0"; exit 0;; esac\necho compiling; sleep 60\n');
  chmodSync(esphome, 0o755);
  resetFakeElectron();
  void startDesktopApp({
    mainDir: join(dir, 'app', 'out', 'main'),
    env: { KILN_CONFIG_DIR: configDir, KILN_ESPHOME: esphome, KILN_PEER_LINK: '0', KILN_MDNS: '0', APP_E2E: '1', PATH: process.env.PATH, SHELL: '/bin/sh' },
    argv: ['/opt/Kiln/kiln'],
    platform: 'linux',
    home: dir,
    trayHostAvailable: async () => true,
    quitDeadlineMs: DEADLINE,
    // A part whose stop never finishes (stops run newest first: this one runs before the engine's).
    extensions: [() => () => new Promise<void>(() => {})],
  });
  await waitUntil(() => e2e());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bounded quit', () => {
  it('exits by the deadline although a part hangs; the running job ends cancelled by shutdown, on disk', async () => {
    const { job_id } = (await e2e()!.call('compile', { configuration: 'kitchen.yaml' })) as { job_id: string };
    await waitUntil(async () => ((await e2e()!.call('getJob', { jobId: job_id })) as { status: string }).status === 'running');
    // The window hides to the tray while a job runs; the tray's Quit is app.quit().
    const t0 = Date.now();
    fake.trays[0]!.menu!.items.find((i) => i.label === 'Quit Kiln')!.click!();
    await waitUntil(() => fake.exitCode !== null);
    const took = Date.now() - t0;
    expect(fake.exitCode).toBe(0);
    expect(took).toBeLessThan(DEADLINE + 1500);
    expect(fake.lifecycle.slice(-3)).toEqual(['before-quit', 'will-quit', 'exit 0']);
    const saved = JSON.parse(readFileSync(join(configDir, '.kiln', 'jobs.json'), 'utf8')) as { jobs: Array<{ job_id: string; status: string; cancelled_by: string }> };
    const job = (saved.jobs ?? (saved as unknown as Array<{ job_id: string; status: string; cancelled_by: string }>)).find((j) => j.job_id === job_id);
    expect(job).toMatchObject({ status: 'cancelled', cancelled_by: 'shutdown' });
    expect(app.isReady()).toBe(true);
  });
});

// Launching the desktop app under Playwright's `_electron` (experimental API). Only used when a
// real Electron binary exists (tools/electron-bin.mjs finds it without requiring the package).
import { _electron, type ElectronApplication, type Page } from '@playwright/test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findElectron } from '../../tools/electron-bin.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIM_ESPHOME = join(ROOT, 'tools', 'esphome-sim', 'esphome');

export const electronBinary = findElectron();

export interface DesktopApp {
  app: ElectronApplication;
  page: Page;
  configDir: string;
  dir: string;
  /** What the shell told DesktopIntegration (APP_E2E=1 tees it into a RecordingDesktop). */
  notices(): Promise<Array<{ kind: string; title: string; body: string; jobId?: string }>>;
  trayState(): Promise<{ running: number; queued: number; failed: number; paused: boolean; current: unknown[] }>;
  /** In-process API call (same validation as the window's). */
  call<T = unknown>(method: string, params?: unknown): Promise<T>;
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** Extra environment (e.g. a slow KILN_ESPHOME, XDG_CONFIG_HOME). */
  env?: Record<string, string>;
  /** Wait until the backend is attached (globalThis.__e2e exists) before returning (default true). */
  waitForBackend?: boolean;
}

export async function launchDesktop(files: Record<string, string> = {}, opts: LaunchOptions = {}): Promise<DesktopApp> {
  if (!electronBinary.bin) throw new Error(`no Electron binary: ${electronBinary.reason}`);
  const dir = mkdtempSync(join(tmpdir(), 'kiln-e2e-electron-'));
  const configDir = join(dir, 'esphome');
  mkdirSync(configDir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(configDir, name), text);
  const app = await _electron.launch({
    executablePath: electronBinary.bin,
    args: [ROOT],
    cwd: ROOT,
    env: {
      ...(process.env as Record<string, string>),
      APP_E2E: '1',
      KILN_CONFIG_DIR: configDir,
      KILN_ESPHOME: SIM_ESPHOME,
      ESPHOME_SIM_SPEED: '0.05',
      // Test runs never multicast.
      KILN_MDNS: '0',
      ...opts.env,
    },
  });
  const page = await app.firstWindow();
  await page.waitForLoadState('domcontentloaded');
  if (opts.waitForBackend !== false) await waitForBackend(app);
  const e2e = <T>(fn: string, arg?: unknown) =>
    app.evaluate(
      async (_electron, [name, a]) => {
        const g = (globalThis as unknown as { __e2e: Record<string, unknown> }).__e2e;
        const d = g.desktop as { notices: unknown[]; tray: unknown };
        if (name === 'notices') return JSON.parse(JSON.stringify(d.notices));
        if (name === 'tray') return JSON.parse(JSON.stringify(d.tray));
        const [method, params] = a as [string, unknown];
        return JSON.parse(JSON.stringify(await (g.call as (m: string, p: unknown) => Promise<unknown>)(method, params ?? {})));
      },
      [fn, arg] as const,
    ) as Promise<T>;
  return {
    app,
    page,
    configDir,
    dir,
    notices: () => e2e('notices'),
    trayState: () => e2e('tray'),
    call: (method, params) => e2e('call', [method, params]),
    async close() {
      await app.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The shell attaches the backend after the window opened; __e2e appears then. */
export async function backendAttached(app: ElectronApplication): Promise<boolean> {
  return app.evaluate(() => (globalThis as { __e2e?: unknown }).__e2e !== undefined);
}

export async function waitForBackend(app: ElectronApplication, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await backendAttached(app))) {
    if (Date.now() > end) throw new Error('the desktop backend did not attach in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

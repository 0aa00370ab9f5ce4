// Electron-only end-to-end checks (tag @electron), run by the `electron` Playwright project.
// What really runs: that project exists only when tools/electron-bin.mjs finds a real Electron
// binary (playwright.config.ts). Where there is none — the build/CI machines, which cannot
// download one — `npm test` does not start this suite at all: its last line names the stage
// "Electron e2e NOT RUN: no Electron binary (…)", never as passed. With a binary:
// `xvfb-run -a npx playwright test --project=electron` runs the five tests below against the
// unpacked project (out/), serially. The mode-agnostic scenarios (queue, progress, cancel, log,
// content drop) are the browser suite's specs (project `web`) and are not repeated here.
import { expect, test } from '@playwright/test';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendAttached, electronBinary, launchDesktop, waitForBackend, type DesktopApp } from './electron-app';
import { must } from '../../test/support/must';

// The callbacks passed to page.evaluate run in the window; this file is type-checked with Node
// types only, so the few page globals they touch are declared here.
interface PageBridge {
  pathForDisplay(f: unknown): string;
}
interface PageFileInput {
  type: string;
  id: string;
  style: { display: string };
  files: ArrayLike<unknown> | null;
}
declare const window: { location: { href: string }; open(url: string): unknown; bridge: PageBridge & object };
declare const document: {
  createElement(tag: 'input'): PageFileInput;
  getElementById(id: string): PageFileInput | null;
  body: { append(el: PageFileInput): void };
};
declare const File: new (parts: string[], name: string) => unknown;

const KITCHEN = 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n';

if (!electronBinary.bin) {
  console.log(`[e2e/electron] NOT RUN: no Electron binary on this machine (${electronBinary.reason}). These tests are skipped, not passed.`);
}

test.describe('desktop shell @electron', () => {
  test.skip(!electronBinary.bin, `no Electron binary: ${electronBinary.reason}`);
  test.describe.configure({ mode: 'serial' });

  let d: DesktopApp;
  test.beforeAll(async () => {
    d = await launchDesktop({ 'kitchen.yaml': KITCHEN });
  });
  test.afterAll(async () => {
    await d?.close();
  });

  test('the window is the renderer on app://kiln with no Node and only window.bridge', async () => {
    expect(d.page.url()).toBe('app://kiln/index.html');
    const probe = await d.page.evaluate(() => ({
      require: typeof (globalThis as { require?: unknown }).require,
      process: typeof (globalThis as { process?: unknown }).process,
      bridgeKeys: Object.keys(window.bridge).sort(),
      ipc: 'ipcRenderer' in window,
    }));
    expect(probe).toEqual({ require: 'undefined', process: 'undefined', bridgeKeys: ['capabilities', 'connect', 'pathForDisplay'], ipc: false });
  });

  test('the app:// protocol sends the CSP header and refuses paths outside the renderer', async () => {
    const res = await d.page.evaluate(async () => {
      const index = await fetch('app://kiln/index.html');
      const escape = await fetch('app://kiln/..%2f..%2fpackage.json');
      return { csp: index.headers.get('content-security-policy'), escape: escape.status };
    });
    expect(res.csp).toContain("script-src 'self'");
    expect(res.escape).toBe(403);
  });

  test('navigation away and new windows are refused', async () => {
    // Main sees the attempt (its guard runs first, synchronously): wait for that, not a guessed time.
    await d.app.evaluate(({ BrowserWindow }) => {
      const g = globalThis as { __navAttempt?: Promise<string> };
      const wc = must(BrowserWindow.getAllWindows()[0]).webContents;
      g.__navAttempt = new Promise((resolve) => wc.once('will-navigate', (e: { url?: string }, legacy?: string) => resolve(e?.url ?? legacy ?? '')));
    });
    await d.page.evaluate(() => {
      window.location.href = 'file:///etc/passwd';
    });
    expect(await d.app.evaluate(() => (globalThis as { __navAttempt?: Promise<string> }).__navAttempt)).toBe('file:///etc/passwd');
    expect(d.page.url()).toBe('app://kiln/index.html');
    expect(await d.page.evaluate(() => window.open('https://example.com/') === null)).toBe(true);
    expect(d.app.windows()).toHaveLength(1);
  });

  test('a picked file\'s disk path is shown for display only (setInputFiles = real disk-backed File)', async () => {
    const src = join(d.dir, 'porch.yaml');
    writeFileSync(src, 'esphome:\n  name: porch\n');
    await d.page.evaluate(() => {
      const input = document.createElement('input');
      input.type = 'file';
      input.id = 'e2e-file';
      input.style.display = 'none';
      document.body.append(input);
    });
    await d.page.locator('#e2e-file').setInputFiles(src);
    // The display passthrough names the real file; a JS-constructed File has no path.
    expect(await d.page.evaluate(() => window.bridge.pathForDisplay(document.getElementById('e2e-file')!.files![0]))).toBe(src);
    expect(await d.page.evaluate(() => window.bridge.pathForDisplay(new File(['x'], 'x.yaml')))).toBe('');
    // nothing is imported from a path by the page (the path-import channel is gone)
    expect(existsSync(join(d.configDir, 'porch.yaml'))).toBe(false);
  });

  test('a finished job notifies once with the device name, and the tray follows the queue', async () => {
    // Under xvfb the window has focus, and a focused window showing the job suppresses the
    // notice (DesktopPolicy isJobVisible): blur and minimise it first, as a user who looks away.
    await d.app.evaluate(({ BrowserWindow }) => {
      const w = BrowserWindow.getAllWindows()[0]!;
      w.blur();
      w.minimize();
    });
    await expect.poll(() => d.app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.isMinimized())).toBe(true);
    const job = await d.call<{ job_id: string }>('compile', { configuration: 'kitchen.yaml' });
    await expect.poll(async () => (await d.notices()).filter((n) => n.jobId === job.job_id).map((n) => n.title), { timeout: 30_000 }).toEqual([
      expect.stringMatching(/^kitchen: build (finished|failed)$/),
    ]);
    await expect.poll(async () => (await d.trayState()).running, { timeout: 10_000 }).toBe(0);
  });
});

test.describe('startup and login @electron', () => {
  test.skip(!electronBinary.bin, `no Electron binary: ${electronBinary.reason}`);
  test.describe.configure({ mode: 'serial' });

  test('the window opens at once while the backend starts (2 s esphome probe) and connects once it is up', async () => {
    const slow = join(ROOT_TMP(), 'esphome-slow-probe');
    writeFileSync(slow, '#!/bin/sh\ncase " $* " in *" version "*|*" --version "*) sleep 2; echo "Version: 2026.1.0"; exit 0;; esac\nexit 0\n');
    chmodSync(slow, 0o755);
    const t0 = Date.now();
    const d = await launchDesktop({ 'kitchen.yaml': KITCHEN }, { env: { KILN_ESPHOME: slow }, waitForBackend: false });
    try {
      // The window exists before the backend: the old shell opened it only after a 2 s wait.
      expect(await backendAttached(d.app)).toBe(false);
      expect(Date.now() - t0).toBeLessThan(60_000);
      // Focusing and hiding/showing it meanwhile must not throw in main.
      await d.app.evaluate(({ BrowserWindow }) => {
        const w = BrowserWindow.getAllWindows()[0]!;
        w.minimize();
        w.restore();
        w.focus();
      });
      await waitForBackend(d.app);
      // The renderer's early connect was answered (not dropped): no connection banner stays.
      await expect(d.page.getByTestId('connection-banner')).toHaveCount(0, { timeout: 15_000 });
      expect(await d.call<unknown[]>('getJobs', {})).toEqual([]);
    } finally {
      await d.close();
    }
  });

  test('launch at login: the Settings switch writes the autostart entry (Linux) or the login item', async () => {
    const xdg = join(ROOT_TMP(), 'xdg');
    const d = await launchDesktop({}, { env: { XDG_CONFIG_HOME: xdg } });
    try {
      await d.call('updateSettings', { launchAtLogin: true });
      if (process.platform === 'linux') {
        const file = join(xdg, 'autostart', 'io.kiln.app.desktop');
        await expect.poll(() => existsSync(file)).toBe(true);
        expect(readFileSync(file, 'utf8')).toMatch(/^Exec=.+ --kiln-login$/m);
        await d.call('updateSettings', { launchAtLogin: false });
        await expect.poll(() => existsSync(file)).toBe(false);
      } else {
        await expect.poll(() => d.app.evaluate(({ app }) => app.getLoginItemSettings().openAtLogin)).toBe(true);
        await d.call('updateSettings', { launchAtLogin: false });
        await expect.poll(() => d.app.evaluate(({ app }) => app.getLoginItemSettings().openAtLogin)).toBe(false);
      }
    } finally {
      await d.close();
    }
  });
});

function ROOT_TMP(): string {
  return mkdtempSync(join(tmpdir(), 'kiln-e2e-startup-'));
}

// Electron-only end-to-end checks (tag @electron), run by the `electron` Playwright project.
// What really runs: that project exists only when tools/electron-bin.mjs finds a real Electron
// binary (playwright.config.ts). Where there is none — the build/CI machines, which cannot
// download one — `npm test` does not start this suite at all: its last line names the stage
// "Electron e2e NOT RUN: no Electron binary (…)", never as passed. With a binary:
// `xvfb-run -a npx playwright test --project=electron` runs the five tests below against the
// unpacked project (out/), serially. The mode-agnostic scenarios (queue, progress, cancel, log,
// content drop) are the browser suite's specs (project `web`) and are not repeated here.
import { expect, test } from '@playwright/test';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { electronBinary, launchDesktop, type DesktopApp } from './electron-app';

// The callbacks passed to page.evaluate run in the window; this file is type-checked with Node
// types only, so the few page globals they touch are declared here.
interface PageBridge {
  importDroppedFile(f: unknown): Promise<unknown>;
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
    expect(probe).toEqual({ require: 'undefined', process: 'undefined', bridgeKeys: ['capabilities', 'connect', 'importDroppedFile', 'pathForDisplay'], ipc: false });
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
      const wc = BrowserWindow.getAllWindows()[0].webContents;
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

  test('a picked file is imported by path through main (setInputFiles = real disk-backed File)', async () => {
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
    const result = await d.page.evaluate(() => window.bridge.importDroppedFile(document.getElementById('e2e-file')!.files![0]));
    expect(result).toMatchObject({ status: 'imported', configuration: 'porch.yaml' });
    expect(readFileSync(join(d.configDir, 'porch.yaml'), 'utf8')).toContain('name: porch');
    const jsFile = await d.page.evaluate(() => window.bridge.importDroppedFile(new File(['x'], 'x.yaml')));
    expect(jsFile).toMatchObject({ status: 'refused', code: 'no_path' });
    expect(existsSync(join(d.configDir, 'x.yaml'))).toBe(false);
  });

  test('a finished job notifies once with the device name, and the tray follows the queue', async () => {
    const job = await d.call<{ job_id: string }>('compile', { configuration: 'kitchen.yaml' });
    await expect.poll(async () => (await d.notices()).filter((n) => n.jobId === job.job_id).map((n) => n.title), { timeout: 30_000 }).toEqual([
      expect.stringMatching(/^kitchen: build (finished|failed)$/),
    ]);
    await expect.poll(async () => (await d.trayState()).running, { timeout: 10_000 }).toBe(0);
  });
});

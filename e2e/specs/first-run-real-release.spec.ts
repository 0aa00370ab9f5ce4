// The real release through the window alone: `kiln serve` on a machine with Python but no
// ESPHome (clean PATH, empty KILN_TOOLCHAINS) → "Install ESPHome" installs the newest esphome
// from the package index with real pip (1-3 min) → a compile of an ESP32 YAML runs the real
// esphome until the framework download, which cannot run on this machine. Slow and needs the
// index: runs with KILN_E2E_REAL_PYPI=1 (else NOT RUN).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type ServeBackend } from '../backends';
import { expect, test as base } from '../fixtures';
import { KilnApp } from '../pages/kiln-app';

const enabled = process.env.KILN_E2E_REAL_PYPI === '1';
const work = mkdtempSync(join(tmpdir(), 'kiln-e2e-real-'));

const test = base.extend<{ backend: ServeBackend; app: KilnApp }>({
  backend: async ({}, use) => {
    const b = await startServe({
      esphome: null,
      examples: [],
      files: { 'real-probe.yaml': 'esphome:\n  name: real-probe\nesp32:\n  board: esp32dev\n  framework:\n    type: esp-idf\nlogger:\n' },
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', KILN_ESPHOME: '', KILN_TOOLCHAINS: join(work, 'toolchains') },
    });
    await use(b);
    await b.stop();
  },
});
test.afterAll(() => rmSync(work, { recursive: true, force: true }));
test.skip(!enabled, 'set KILN_E2E_REAL_PYPI=1 (installs the real esphome from the package index, minutes)');

test('real ESPHome: Install ESPHome in the window, then a compile reaches the framework download', async ({ app, page, backend }) => {
  test.setTimeout(900_000);
  await expect(page.getByTestId('no-esphome')).toContainText('ESPHome is not installed');
  await page.getByTestId('install-esphome').click();
  await expect(page.getByTestId('toolchain-install-phase')).toHaveText(/Resolving|Downloading|Installing/, { timeout: 120_000 });
  await page.screenshot({ path: 'test-results/first-run-real-installing.png' });
  await expect(page.getByTestId('no-esphome')).toHaveCount(0, { timeout: 720_000 });
  await expect(page.getByTestId('esphome-version')).toHaveText(/^ESPHome 20\d\d\.\d+\.\d+$/);
  await expect(page.locator('.badge.sim')).toHaveCount(0);

  await app.tasks.compile('real-probe.yaml');
  const row = app.tasks.row(/real-probe/);
  await app.tasks.expectStatus(row, 'failed', 600_000);
  const logs = join(backend.configDir, '.kiln', 'logs');
  const text = existsSync(logs) ? readdirSync(logs).map((f) => readFileSync(join(logs, f), 'utf8')).join('\n') : '';
  expect(text).toMatch(/Generating C\+\+ source|Compiling app/);
  expect(text).toMatch(/Downloading ESP-IDF [\d.]+ framework|Tool Manager: Installing|Platform Manager: Installing/);
});

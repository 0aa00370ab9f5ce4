// First run on a machine with Python but without ESPHome: `kiln serve` (no --esphome, a clean
// PATH, an empty KILN_TOOLCHAINS) → the window offers "Install ESPHome" → one click installs it
// with real pip (from an offline wheelhouse built here: pip is configured through its own
// PIP_FIND_LINKS / PIP_NO_INDEX environment, as a user's pip.conf would) → a compile completes.
// Then Settings → Toolchains installs a second version and switches the default (with the
// confirmation), and the next build uses it.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWheelhouse, pyenvPython } from '../../test/support/esphome-wheelhouse';
import { startServe, type ServeBackend } from '../backends';
import { expect, test as base } from '../fixtures';
import { KilnApp } from '../pages/kiln-app';
import { must } from '../../test/support/must';

const PY = pyenvPython('3.12');
const work = mkdtempSync(join(tmpdir(), 'kiln-e2e-first-run-'));
let wheels = '';

const test = base.extend<{ backend: ServeBackend; app: KilnApp }>({
  backend: async ({}, use) => {
    wheels ||= buildWheelhouse(join(work, 'wheels'), [{ version: '2099.1.0' }, { version: '2099.2.0' }], PY!);
    const toolchains = join(work, `toolchains-${Date.now()}`);
    const b = await startServe({
      esphome: null,
      examples: ['kitchen-plug.yaml'],
      env: {
        // No esphome anywhere on this PATH; Python is found through pyenv's versions.
        PATH: '/usr/local/bin:/usr/bin:/bin',
        KILN_ESPHOME: '',
        KILN_TOOLCHAINS: toolchains,
        PIP_FIND_LINKS: wheels,
        PIP_NO_INDEX: '1',
        ESPHOME_SIM_SPEED: '0',
      },
    });
    await use(b);
    await b.stop();
  },
});
test.afterAll(() => rmSync(work, { recursive: true, force: true }));

test.skip(!PY, 'needs a Python 3.12 (pyenv) to build the test wheels');

/** The ESPHome versions that ran the finished jobs (from the job logs Kiln keeps on disk). */
function versionsInLogs(configDir: string): string[] {
  const dir = join(configDir, '.kiln', 'logs');
  const out: string[] = [];
  for (const f of existsSync(dir) ? readdirSync(dir) : []) for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/INFO ESPHome (\d+\.\d+\.\d+)/g)) out.push(must(m[1]));
  return out.sort();
}

test('without ESPHome: Install ESPHome in the window, then a compile completes; default switch in Settings', async ({ app, page, backend }) => {
  test.setTimeout(300_000);
  const panel = page.getByTestId('no-esphome');
  await expect(panel).toBeVisible();
  await expect(panel).toContainText('ESPHome is not installed');
  await expect(panel).not.toContainText('pip install esphome');
  await page.getByTestId('install-esphome').click();
  // Progress you can watch: the phase and a progress bar while pip runs.
  const install = page.getByTestId('toolchain-install');
  await expect(install).toBeVisible();
  await expect(page.getByRole('progressbar', { name: /Installing the latest ESPHome/ })).toBeVisible();
  await page.screenshot({ path: 'test-results/first-run-installing.png' });
  // Done: the panel goes away, the header shows the installed ESPHome (the newest in the wheelhouse).
  await expect(panel).toHaveCount(0, { timeout: 180_000 });
  await expect(page.getByTestId('esphome-version')).toHaveText('ESPHome 2099.2.0');

  await app.tasks.compile('kitchen-plug.yaml');
  const row = app.tasks.row('Kitchen Plug');
  await app.tasks.expectStatus(row, 'completed', 120_000);
  await expect.poll(() => versionsInLogs(backend.configDir)).toEqual(['2099.2.0']);

  // Settings → Toolchains: the installed version is the default; install another (older) one.
  await app.goto('settings');
  const settings = page.getByTestId('toolchains-settings');
  await expect(settings.getByTestId('toolchain-2099.2.0')).toContainText('default');
  await settings.getByTestId('toolchain-version').fill('2099.1.0');
  await settings.getByTestId('toolchain-install-btn').click();
  await expect(settings.getByTestId('toolchain-2099.1.0')).toBeVisible({ timeout: 180_000 });
  // Installing did not change the default.
  await expect(page.getByTestId('esphome-version')).toHaveText('ESPHome 2099.2.0');
  // Switching is deliberate: the window says what changes and keeps the old version.
  await settings.getByTestId('toolchain-use-2099.1.0').click();
  const confirm = page.getByTestId('toolchain-confirm');
  await expect(confirm).toContainText('Every build from now on uses 2099.1.0 instead of 2099.2.0');
  await expect(confirm).toContainText('ESPHome 2099.2.0 stays installed');
  await page.screenshot({ path: 'test-results/toolchains-settings.png' });
  await page.getByTestId('toolchain-confirm-yes').click();
  await expect(settings.getByTestId('toolchain-2099.1.0')).toContainText('default');
  await expect(settings.getByTestId('toolchain-2099.2.0')).toBeVisible();
  await expect(page.getByTestId('esphome-version')).toHaveText('ESPHome 2099.1.0');
  // Bad input in the install field: a clear error, nothing installed.
  await settings.getByTestId('toolchain-version').fill('1.0; rm -rf /');
  await settings.getByTestId('toolchain-install-btn').click();
  await expect(app.toast(/Could not start the ESPHome install/)).toBeVisible();
  // Update check answers (PyPI reachable or not: a result line, never an error).
  await settings.getByTestId('toolchain-check').click();
  await expect(settings.getByTestId('toolchain-update')).toBeVisible({ timeout: 30_000 });

  await app.goto('tasks');
  await app.tasks.compile('kitchen-plug.yaml');
  await expect.poll(() => versionsInLogs(backend.configDir), { timeout: 120_000 }).toContain('2099.1.0');
  expect(app.cspViolations()).toEqual([]);
});

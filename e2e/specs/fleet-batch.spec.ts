// "Build all" / "Update all" in the browser window against `kiln serve` + the esphome simulator
// (issue 15): the device status, Build all with its summary panel progressing to done (a failing
// device listed and opening its log), Stop of a running batch, and "Build all with ESPHome X"
// after the devices were built with another ESPHome version.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { startServe, EXAMPLES, REPO, SIM, type ServeBackend } from '../backends';
import AxeBuilder from '@axe-core/playwright';
import { expect, test as base } from '../fixtures';

const plug = readFileSync(join(EXAMPLES, 'kitchen-plug.yaml'), 'utf8');
const device = (name: string, ms: number): string => `# sim-build-ms: ${ms}\n${plug.replace('name: kitchen-plug', `name: ${name}`).replace('friendly_name: Kitchen Plug', `friendly_name: ${name}`)}`;

const test = base.extend<{ backend: ServeBackend }>({
  backend: async ({}, use) => {
    const b = await startServe({ simSpeed: '0', files: { 'alpha.yaml': device('alpha', 2500), 'bravo.yaml': device('bravo', 2500) } });
    await use(b);
    await b.stop();
  },
});

test('Build all: counts, summary progressing to done, the failed device opens its log', async ({ app, page }) => {
  for (const name of ['alpha.yaml', 'bravo.yaml', 'kitchen-plug.yaml', 'broken-lambda.yaml']) {
    await expect(app.tasks.configuration(name).getByTestId('firmware-status')).toHaveAttribute('data-status', 'never-built');
  }
  const buildAll = page.getByTestId('batch-build');
  await expect(buildAll).toHaveText('Build all (4)');
  await expect(page.getByTestId('batch-update')).toHaveText('Update all (4)');
  await buildAll.click();

  const panel = page.getByTestId('batch-panel');
  const summary = panel.getByTestId('batch-summary');
  await expect(panel).toHaveAttribute('data-state', 'running');
  // While it runs the actions say why they are disabled.
  await expect(buildAll).toBeDisabled();
  await expect(page.getByTestId('fleet-reason')).toHaveText('Build all is running');
  // An ETA once the first device finished.
  await expect(summary).toHaveText(/of 4 done.*(less than a minute left|about \d+ min left)/, { timeout: 60_000 });
  await expect(panel.getByRole('progressbar')).toHaveAttribute('aria-valuemax', '4');
  await expect(panel).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  await expect(summary).toHaveText('4 of 4 done · 1 failed');
  await expect(panel.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '4');

  // No serious/critical accessibility violation with the finished panel and its failure list.
  const axe = await new AxeBuilder({ page }).include('[data-testid="batch-panel"]').include('[data-testid="fleet-actions"]').withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`)).toEqual([]);

  // The failed device is listed; activating it (keyboard) opens its log.
  const failed = panel.getByTestId('batch-failed-device');
  await expect(failed).toHaveCount(1);
  await expect(failed).toContainText('broken-lambda');
  await failed.focus();
  await page.keyboard.press('Enter');
  await expect(app.log.panel()).toHaveAttribute('data-status', 'failed');
  await expect(app.log.visibleText()).toContainText('broken-lambda', { timeout: 30_000 });

  // The built devices are up to date; only the failing one is left to do.
  await expect(app.tasks.configuration('alpha.yaml').getByTestId('firmware-status')).toHaveAttribute('data-status', 'up-to-date');
  await expect(buildAll).toHaveText('Build all (1)');
  await panel.getByTestId('batch-dismiss').click();
  await expect(panel).toHaveCount(0);

  // Built but never flashed: Update all flashes the kept builds (uploads, no compile).
  const updateAll = page.getByTestId('batch-update');
  await expect(updateAll).toHaveText('Update all (4)');
  await updateAll.click();
  await expect(panel).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  await expect(panel).toContainText('Update all');
  await expect(summary).toHaveText('4 of 4 done · 1 failed');
  await expect(updateAll).toHaveText('Update all (1)');
  expect(app.cspViolations()).toEqual([]);
});

test('Stop cancels the running batch', async ({ app, page }) => {
  await page.getByTestId('batch-build').click();
  const panel = page.getByTestId('batch-panel');
  await expect(panel.getByTestId('batch-summary')).toContainText('1 running', { timeout: 30_000 });
  await panel.getByRole('button', { name: 'Stop' }).click();
  await expect(panel).toHaveAttribute('data-state', 'stopped', { timeout: 30_000 });
  await expect(panel.getByTestId('batch-summary')).toContainText('stopped');
  // Its jobs ended cancelled in the task list.
  await expect(app.tasks.rows().and(page.locator('[data-status="cancelled"]')).first()).toBeVisible();
  // A stopped batch does not block the next.
  await expect(page.getByTestId('batch-build')).toBeEnabled();
});

test('Build all with ESPHome X after the devices were built with another version', async ({ app, backend, page }) => {
  // Build the fleet with an older ESPHome from the command line (the library is shared).
  const cli = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'main/headless/cli/kiln.ts'), 'build-all', '--config-dir', backend.configDir], {
    cwd: REPO,
    env: { ...process.env, KILN_ESPHOME: SIM, ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_VERSION: '2025.11.0' },
    stdio: 'ignore',
  });
  await new Promise((r) => cli.on('exit', r));
  await page.reload();
  await expect(app.tasks.configuration('alpha.yaml').getByTestId('firmware-status')).toHaveAttribute('data-status', 'esphome-changed');
  const offer = page.getByTestId('batch-build-version');
  await expect(offer).toHaveText(/^Build all with ESPHome \d+\.\d+\.\d+/);
  await offer.click();
  const panel = page.getByTestId('batch-panel');
  await expect(panel).toContainText(/Build all \(ESPHome \d+\.\d+\.\d+\)/);
  await expect(panel).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  await expect(app.tasks.configuration('alpha.yaml').getByTestId('firmware-status')).toHaveAttribute('data-status', 'up-to-date');
  await expect(offer).toHaveCount(0);
});

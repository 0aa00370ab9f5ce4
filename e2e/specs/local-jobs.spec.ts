// Local jobs in the browser window against `kiln serve` + the esphome simulator.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES } from '../backends';
import { expect, test } from '../fixtures';

test('a local compile shows progress and completes', async ({ app, backend, page }) => {
  // An ESP-IDF device: ninja counters give a real progress percentage.
  copyFileSync(join(EXAMPLES, 'garage-idf.yaml'), join(backend.configDir, 'garage-idf.yaml'));
  await page.reload();
  await app.waitConnected();
  await app.tasks.compile('garage-idf.yaml');
  const row = app.tasks.row(/garage/i);
  await expect(row).toBeVisible();
  await expect(app.tasks.activeRows()).toHaveCount(1);
  await expect(row).toHaveAttribute('data-status', 'running', { timeout: 30_000 });
  await expect(row.getByTestId('row-source')).toHaveText('Building on this computer');
  await expect(row.locator('.badge.sim')).toBeVisible();
  // The log panel follows the job (selected on start) and streams lines.
  await expect(app.log.panel()).toHaveAttribute('data-status', 'running');
  await expect.poll(() => app.log.lineCount(), { timeout: 30_000 }).toBeGreaterThan(5);
  // A numeric progress bar appears once ninja's counter passes the bootloader sub-build (its
  // \r-terminated lines collapse into one log row, like a terminal).
  const bar = row.getByRole('progressbar');
  await expect(bar).toBeVisible({ timeout: 60_000 });
  await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 30_000 }).toBeGreaterThan(10);
  await expect(row.getByTestId('status-badge')).toHaveText(/\d+%/);
  await page.screenshot({ path: 'test-results/task-list-running.png' });
  await app.tasks.expectStatus(row, 'completed', 90_000);
  await expect(row.getByTestId('row-source')).toHaveText('Built on this computer');
  await expect(app.tasks.recentRows()).toHaveCount(1);
  await expect(app.tasks.activeRows()).toHaveCount(0);
  await expect(app.log.endBanner()).toContainText('Completed');
  await expect(app.log.visibleText()).toContainText('Successfully compiled program');
  await page.screenshot({ path: 'test-results/task-list.png' });
  expect(app.cspViolations()).toEqual([]);
});

test('a failing compile shows Failed with the error and its log', async ({ app, page }) => {
  await app.tasks.compile('broken-lambda.yaml');
  const row = app.tasks.row('broken-lambda');
  await app.tasks.expectStatus(row, 'failed');
  await expect(row.getByTestId('status-badge')).toHaveText('Failed');
  // The row and the end banner say what failed (the compiler's first error), not the exit code.
  await expect(row.locator('.row-error')).toHaveText("src/main.cpp:412:7: error: 'foo' was not declared in this scope");
  await expect(app.log.panel()).toHaveAttribute('data-status', 'failed');
  await expect(app.log.endBanner()).toContainText('Compile error');
  await expect(app.log.endBanner()).not.toContainText('(exit code');
  // Pinned to the bottom: the compiler error and the [FAILED] banner are on screen.
  await expect(app.log.visibleText()).toContainText("'foo' was not declared in this scope");
  await expect(app.log.visibleText()).toContainText('[FAILED]');
  // ANSI colours arrive as classes, not inline markup.
  await expect(app.log.visibleText().locator('.ansi-red-fg').first()).toBeVisible();
  await expect(page.getByTestId('retry')).toBeVisible();

  // Failures-only filter and "clear completed" keep the failure findable.
  await app.tasks.compile('kitchen-plug.yaml');
  await app.tasks.expectStatus(app.tasks.row('Kitchen Plug'), 'completed');
  await app.tasks.showFailuresOnly(true);
  await expect(app.tasks.recentRows()).toHaveCount(1);
  await expect(app.tasks.recentRows().first()).toHaveAttribute('data-status', 'failed');
  await app.tasks.showFailuresOnly(false);
  await app.tasks.clearCompleted();
  await expect(app.tasks.recentRows()).toHaveCount(1);
  await expect(app.tasks.recentRows().first()).toHaveAttribute('data-status', 'failed');
  expect(app.cspViolations()).toEqual([]);
});

// Issue 16 "Say what failed" and "one Install = one row": the first decisive error line in the row
// and the end banner with advice that fits the kind of failure; PlatformIO builds show their
// phase with an indeterminate bar; an install is one row with Compile → Upload stages; Retry on
// a cancelled job; Clear history asks first.
import { startServe, type ServeBackend } from '../backends';
import { expect, test } from '../fixtures';
import { deviceYaml, shot } from '../shots';

test.use({
  backend: async ({}, use) => {
    const b: ServeBackend = await startServe({
      examples: ['broken-lambda.yaml', 'kitchen-plug.yaml'],
      files: {
        'bad-board.yaml': deviceYaml('bad-board', 'Bad Board', 'config-error'),
        'no-ota.yaml': deviceYaml('no-ota', 'Porch Light', 'ota-fail'),
        'slow-plug.yaml': deviceYaml('slow-plug', 'Slow Plug', 'slow'),
        'stall.yaml': deviceYaml('stall', 'Stall', 'hang'),
      },
      simSpeed: '0.05',
    });
    await use(b);
    await b.stop();
  },
});

test('a compile error: the compiler line in the row and banner, code advice, no "operator", no exit code twice', async ({ app, page }, info) => {
  await app.tasks.compile('broken-lambda.yaml');
  const row = app.tasks.row('broken-lambda');
  await app.tasks.expectStatus(row, 'failed');
  await expect(row.getByTestId('row-error')).toHaveText("src/main.cpp:412:7: error: 'foo' was not declared in this scope");
  const banner = app.log.endBanner();
  await expect(banner).toHaveAttribute('data-kind', 'compile');
  await expect(banner).toContainText('Compile error');
  await expect(banner.getByTestId('failure-where')).toHaveText('main.cpp, line 412, column 7');
  await expect(banner.getByTestId('failure-line')).toHaveText("src/main.cpp:412:7: error: 'foo' was not declared in this scope");
  await expect(banner.getByTestId('failure-advice')).toContainText('Fix it in the YAML');
  await expect(banner).not.toContainText('operator');
  await expect(banner).not.toContainText('(exit code');
  await expect(banner.getByTestId('clean-build-files')).toHaveCount(0);
  await shot(page, info, 'failure-compile');
});

test('a configuration error: "Configuration error", file and line, fix the YAML, never "clean build files"', async ({ app, page }, info) => {
  // Any console message (not only errors) about zero-sized rows: the log has empty lines here.
  const virtuoso: string[] = [];
  page.on('console', (m) => /zero-sized/i.test(m.text()) && virtuoso.push(`${m.type()}: ${m.text()}`));
  await app.tasks.compile('bad-board.yaml');
  const row = app.tasks.row('Bad Board');
  await app.tasks.expectStatus(row, 'failed');
  await expect(row.getByTestId('row-error')).toHaveText("esp8266: Simulated validation error (scenario config-error): board 'esp01_1m' was rejected.");
  const banner = app.log.endBanner();
  await expect(banner).toHaveAttribute('data-kind', 'config');
  await expect(banner).toContainText('Configuration error');
  await expect(banner.getByTestId('failure-where')).toHaveText('bad-board.yaml, line 6');
  await expect(banner.getByTestId('failure-advice')).toHaveText('Fix the YAML at bad-board.yaml, line 6, then install again.');
  await expect(banner).not.toContainText(/clean/i);
  // The empty line after "Failed config" is a full-height row.
  const empty = page.locator('.log-line').filter({ hasText: /^$/ }).first();
  await expect(empty).toBeAttached();
  expect((await empty.boundingBox())!.height).toBeGreaterThan(10);
  expect(virtuoso).toEqual([]);
  await shot(page, info, 'failure-config');
});

test('an install is one row with stages; a failed upload says "Upload failed" with connection advice', async ({ app, page }, info) => {
  // Record every (stage, status) the row shows: the compile part never reads Completed on its own.
  // (Browser-side code as a string: the e2e files are type-checked without DOM types.)
  await page.evaluate(`(() => {
    const seen = (window.__seen = new Set());
    const record = () => document.querySelectorAll('[data-testid="task-row"]').forEach((r) => seen.add(r.getAttribute('data-stage') + ':' + r.getAttribute('data-status')));
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  })()`);
  await app.tasks.openInstall('kitchen-plug.yaml');
  await app.install.start('ota');
  await app.install.hide();
  const rows = app.tasks.rows().filter({ hasText: 'Kitchen Plug' });
  await expect(rows).toHaveCount(1);
  const row = rows.first();
  await expect(row.getByTestId('row-stages')).toContainText(/Compile .* → Upload next/);
  await expect(app.page.getByTestId('install-stages')).toBeVisible();
  await shot(page, info, 'install-one-row-compiling');
  await expect(row).toHaveAttribute('data-stage', 'upload', { timeout: 60_000 });
  await expect(row).toHaveAttribute('data-status', 'completed', { timeout: 60_000 });
  await expect(rows).toHaveCount(1);
  await expect(row.getByTestId('row-stages')).toHaveText('Compile ✓ → Upload ✓');
  await expect(app.log.endBanner()).toContainText('Firmware uploaded.');
  // One name per device: the finished-job toast says "Kitchen Plug", as the row does, not the file name.
  await expect(page.getByTestId('toast').filter({ hasText: /^Kitchen Plug:/ }).first()).toBeVisible();
  await expect(page.getByTestId('toast').filter({ hasText: 'kitchen-plug:' })).toHaveCount(0);
  const seen = await page.evaluate<string[]>('[...window.__seen]');
  expect(seen).not.toContain('compile:completed');
  await shot(page, info, 'install-one-row-done');

  // Upload failure (OTA refused): one row, kind upload, advice about the device's connection.
  await app.tasks.openInstall('no-ota.yaml');
  await app.install.start('ota');
  await app.install.hide();
  const failed = app.tasks.rows().filter({ hasText: 'Porch Light' });
  await expect(failed).toHaveCount(1);
  await expect(failed.first()).toHaveAttribute('data-status', 'failed', { timeout: 60_000 });
  await expect(failed.first()).toHaveAttribute('data-stage', 'upload');
  await expect(failed.first().getByTestId('row-error')).toContainText('Connection refused');
  await app.tasks.open(failed.first());
  await expect(app.log.endBanner()).toHaveAttribute('data-kind', 'upload');
  await expect(app.log.endBanner()).toContainText('Upload failed');
  await expect(app.log.endBanner().getByTestId('failure-advice')).toContainText('powered and on the network');
  await shot(page, info, 'failure-upload');
});

test('a PlatformIO build shows its phase ("Compiling N files…") with an indeterminate bar', async ({ app, page }, info) => {
  await app.tasks.compile('slow-plug.yaml');
  const row = app.tasks.row('Slow Plug');
  await app.tasks.expectStatus(row, 'running', 30_000);
  await expect(page.getByTestId('build-phase')).toContainText(/Compiling \d+ files…/, { timeout: 60_000 });
  await expect(page.getByTestId('build-phase').getByTestId('progress-indeterminate')).toBeVisible();
  await expect(row.getByTestId('progress-indeterminate')).toBeVisible();
  const first = Number(/Compiling (\d+)/.exec((await page.getByTestId('build-phase').textContent())!)![1]);
  await expect.poll(async () => Number(/Compiling (\d+)/.exec((await page.getByTestId('build-phase').textContent()) ?? '')?.[1] ?? 0), { timeout: 30_000 }).toBeGreaterThan(first);
  await shot(page, info, 'phase-compiling');
  await app.log.stop();
  await app.tasks.expectStatus(row, 'cancelled');
});

test('Retry on a cancelled job; "Clear history" asks first and is never clipped', async ({ app, page }, info) => {
  await app.tasks.compile('stall.yaml');
  const row = app.tasks.row('Stall');
  await app.tasks.expectStatus(row, 'running', 30_000);
  await app.log.stop();
  await app.tasks.expectStatus(row, 'cancelled');
  await expect(page.getByTestId('retry')).toBeVisible();
  await page.getByTestId('retry').click();
  await expect(app.tasks.activeRows().filter({ hasText: 'Stall' })).toHaveCount(1);
  await app.log.stop();
  await expect(app.tasks.activeRows()).toHaveCount(0, { timeout: 30_000 });
  // The history keeps the newest job per device and type: the retried one.
  await expect(app.tasks.recentRows()).toHaveCount(1);
  await app.tasks.compile('kitchen-plug.yaml');
  await app.tasks.expectStatus(app.tasks.row('Kitchen Plug'), 'completed');
  await expect(app.tasks.recentRows()).toHaveCount(2);

  const clear = page.getByTestId('clear-all');
  await expect(clear).toBeInViewport({ ratio: 1 });
  await clear.click();
  await expect(page.getByTestId('clear-confirm')).toContainText('Every finished task (2)');
  await shot(page, info, 'clear-history-confirm');
  await page.getByTestId('clear-confirm-cancel').click();
  await expect(app.tasks.recentRows()).toHaveCount(2);
  await expect(clear).toBeFocused();
  await clear.click();
  await page.getByTestId('clear-confirm-btn').click();
  await expect(app.tasks.recentRows()).toHaveCount(0);
});

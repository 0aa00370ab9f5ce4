// Issue 16 "Keyboard and accessibility" and "Many devices": dialogs trap focus and give it back;
// Import YAML… takes several files; the log has a focus ring, search with next/previous over the
// whole log and "Jump to first error"; the device list searches, sorts by the shown name and has
// a per-device actions menu; at 900 px nothing is clipped and build paths do not wrap.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServe, type ServeBackend } from '../backends';
import { expect, test } from '../fixtures';
import { deviceYaml, shot } from '../shots';

test.use({
  backend: async ({}, use) => {
    const b: ServeBackend = await startServe({
      examples: ['broken-lambda.yaml', 'kitchen-plug.yaml'],
      files: {
        'zeta.yaml': deviceYaml('zeta', 'Zeta Sensor'),
        'alpha.yaml': deviceYaml('alpha', 'alpha lamp'),
        'mid.yaml': deviceYaml('mid-node', 'Mid Node', '', 'esp32'),
      },
    });
    await use(b);
    await b.stop();
  },
});

async function focusInside(page: import('@playwright/test').Page, testId: string): Promise<boolean> {
  // (Browser-side code as strings: the e2e files are type-checked without DOM types.)
  return await page.evaluate<boolean>(`!!document.querySelector('[data-testid="${testId}"]')?.contains(document.activeElement)`);
}

test('dialogs trap Tab and Shift+Tab, Escape returns focus to the opener', async ({ app: _app, page }, info) => {
  const opener = page.getByTestId('open-install');
  await opener.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('install-dialog')).toBeVisible();
  for (let i = 0; i < 15; i++) {
    await page.keyboard.press('Tab');
    expect(await focusInside(page, 'install-dialog')).toBe(true);
  }
  for (let i = 0; i < 7; i++) {
    await page.keyboard.press('Shift+Tab');
    expect(await focusInside(page, 'install-dialog')).toBe(true);
  }
  await shot(page, info, 'dialog-install-focus');
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('install-dialog')).toHaveCount(0);
  await expect(opener).toBeFocused();

  // The same for a confirmation (Reset build environment) opened from the keyboard.
  const reset = page.getByTestId('reset-build-env');
  await reset.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('reset-confirm')).toBeVisible();
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    expect(await focusInside(page, 'reset-confirm')).toBe(true);
  }
  await page.keyboard.press('Escape');
  await expect(reset).toBeFocused();
});

test('Import YAML… takes several files; toasts use the device name; a readable drop overlay', async ({ app, page, backend }, info) => {
  await page.getByTestId('import-yaml-input').setInputFiles([
    { name: 'porch.yaml', mimeType: 'application/x-yaml', buffer: Buffer.from(deviceYaml('porch', 'Porch Light')) },
    { name: 'garden.yaml', mimeType: 'application/x-yaml', buffer: Buffer.from(deviceYaml('garden', 'Garden Pump')) },
  ]);
  await expect(app.toast('Imported Porch Light')).toContainText('porch.yaml');
  await expect(app.toast('Imported Garden Pump')).toContainText('garden.yaml');
  await expect(app.tasks.configuration('porch.yaml')).toBeVisible();
  await expect(app.tasks.configuration('garden.yaml')).toBeVisible();
  // Two files: no Install dialog pops up for one of them.
  await expect(page.getByTestId('install-dialog')).toHaveCount(0);
  expect(readFileSync(join(backend.configDir, 'garden.yaml'), 'utf8')).toContain('Garden Pump');
  // Invalid YAML: the toast names line and column.
  await page.getByTestId('import-yaml-input').setInputFiles([{ name: 'broken.yaml', mimeType: 'application/x-yaml', buffer: Buffer.from('esphome:\n  name: b\n bad: [1,\n') }]);
  await expect(app.toast('Could not import broken.yaml')).toContainText(/line \d+, column \d+/);
  await shot(page, info, 'import-toasts');
  // Drag over the window: the overlay is an opaque card, readable over the app.
  const dt = await page.evaluateHandle(`(() => { const d = new DataTransfer(); d.items.add(new File(['x'], 'x.yaml')); return d; })()`);
  await page.dispatchEvent('body', 'dragenter', { dataTransfer: dt });
  await expect(page.getByTestId('drop-overlay')).toContainText('Drop to import');
  const bg = await page.evaluate<string>(`getComputedStyle(document.querySelector('.drop-card')).backgroundColor`);
  expect(bg).toMatch(/^rgb\(/); // opaque panel colour, not a transparent tint
  await shot(page, info, 'drop-overlay');
  await page.dispatchEvent('body', 'dragleave', { dataTransfer: dt });
  await expect(page.getByTestId('drop-overlay')).toHaveCount(0);
});

test('log: focus ring, search over the whole log with next/previous, jump to first error; no console errors', async ({ app, page }, info) => {
  await app.tasks.compile('broken-lambda.yaml');
  await app.tasks.expectStatus(app.tasks.row('broken-lambda'), 'failed');
  // Keyboard focus on the log shows a ring.
  const scroller = page.getByTestId('log-view').locator('[tabindex="0"]').first();
  await page.getByTestId('jump-first-error').focus();
  await page.keyboard.press('Tab');
  await expect(scroller).toBeFocused();
  const outline = await page.evaluate<string>(
    `(() => { const s = getComputedStyle(document.querySelector('[data-testid="log-view"] [tabindex="0"]')); return s.outlineStyle + ' ' + s.outlineWidth; })()`,
  );
  expect(outline).toBe('solid 2px');
  // Search counts every line of the log, not only the rendered rows.
  const log = await app.log.download();
  const expected = log.split('\n').filter((l) => l.toLowerCase().includes('littlefs')).length;
  expect(expected).toBeGreaterThan(20);
  await page.getByTestId('log-search').fill('LittleFS');
  await expect(page.getByTestId('log-search-count')).toHaveText(`1 of ${expected}`);
  await page.getByTestId('log-search-next').click();
  await expect(page.getByTestId('log-search-count')).toHaveText(`2 of ${expected}`);
  await page.getByTestId('log-search-prev').click();
  await page.getByTestId('log-search-prev').click();
  await expect(page.getByTestId('log-search-count')).toHaveText(`${expected} of ${expected}`);
  await expect(page.locator('.log-line.current')).toContainText('LittleFS');
  await expect(page.locator('.log-line.current')).toBeInViewport();
  // Scroll to the top, then "Jump to first error" brings the compiler line into view.
  await page.getByTestId('log-search').fill('');
  await page.getByTestId('log-search').fill('Reading configuration');
  await expect(page.locator('.log-line.current')).toBeInViewport();
  await page.getByTestId('jump-first-error').click();
  await expect(page.locator('.log-line.current')).toContainText("error: 'foo' was not declared in this scope");
  await expect(page.locator('.log-line.current')).toBeInViewport();
  await shot(page, info, 'log-search-first-error');
});

test('devices: search, sorted by the shown name, per-device menu (clean, last log) by keyboard', async ({ app, page }, info) => {
  const names = () => page.getByTestId('configuration').locator('.config-name strong').allTextContents();
  expect(await names()).toEqual(['alpha lamp', 'broken-lambda', 'Kitchen Plug', 'Mid Node', 'Zeta Sensor']);
  await page.getByTestId('device-search').fill('esp32');
  await expect(page.getByTestId('configuration')).toHaveCount(2); // broken-lambda and Mid Node are esp32
  await page.getByTestId('device-search').fill('kitchen');
  expect(await names()).toEqual(['Kitchen Plug']);
  await page.getByTestId('device-search').fill('');
  const kitchen = app.tasks.configuration('kitchen-plug.yaml');
  // No job yet: "Logs of the last job" is disabled.
  const menuBtn = kitchen.getByTestId('device-menu');
  await menuBtn.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('menu-clean')).toBeFocused();
  await expect(page.getByTestId('menu-last-log')).toBeDisabled();
  await shot(page, info, 'device-menu');
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('device-menu-list')).toHaveCount(0);
  await expect(menuBtn).toBeFocused();
  // Clean build files from the menu starts a clean job and opens its log.
  await page.keyboard.press('Enter');
  await page.keyboard.press('Enter');
  const clean = app.tasks.rows().filter({ hasText: 'Kitchen Plug' }).first();
  await expect(clean.locator('.row-meta')).toContainText('Clean');
  await app.tasks.expectStatus(clean, 'completed');
  await app.log.panel().getByRole('button', { name: 'Close log' }).click();
  await menuBtn.click();
  await page.getByTestId('menu-last-log').click();
  await expect(app.log.panel()).toBeVisible();
  await expect(app.log.panel().locator('h2')).toContainText('Clean Kitchen Plug');
});

test('at 900 px: the toolbar wraps, Clear history is not clipped, build paths fit one line, toasts clear the banner', async ({ app, page }, info) => {
  await page.setViewportSize({ width: 900, height: 700 });
  await app.tasks.compile('broken-lambda.yaml');
  await app.tasks.expectStatus(app.tasks.row('broken-lambda'), 'failed');
  const clear = page.getByTestId('clear-all');
  await expect(clear).toBeInViewport({ ratio: 1 });
  const pane = await page.locator('.left-col').boundingBox();
  const btn = await clear.boundingBox();
  expect(btn!.x + btn!.width).toBeLessThanOrEqual(pane!.x + pane!.width);
  // A PlatformIO line with a build path renders on one line in the log.
  await page.getByTestId('log-search').fill('Compiling .pioenvs/broken-lambda/src/main.cpp.o');
  const line = page.locator('.log-line.current');
  await expect(line).toBeInViewport();
  const h = await page.evaluate<number>(
    `(() => { const el = document.querySelector('.log-line.current'); return el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight); })()`,
  );
  expect(h).toBeLessThan(1.5);
  // A toast does not cover the end banner's actions.
  await page.getByTestId('import-yaml-input').setInputFiles([{ name: 'x.yaml', mimeType: 'application/x-yaml', buffer: Buffer.from(deviceYaml('x-dev', 'X Device')) }]);
  await expect(app.toast('Imported X Device')).toBeVisible();
  // The single import opened the Install dialog; close it with Escape.
  await expect(page.getByTestId('install-dialog')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('install-dialog')).toHaveCount(0);
  const toast = (await app.toast('Imported X Device').boundingBox())!;
  const banner = (await app.log.endBanner().boundingBox())!;
  const overlap = !(toast.x + toast.width <= banner.x || banner.x + banner.width <= toast.x || toast.y + toast.height <= banner.y || banner.y + banner.height <= toast.y);
  expect(overlap).toBe(false);
  await shot(page, info, 'tasks-900px');
});

// Drag-and-drop of a YAML anywhere on the window: content-first import → install dialog.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '../fixtures';

const PORCH = `esphome:
  name: porch-light
  friendly_name: Porch Light

esp8266:
  board: esp01_1m

wifi:
  ssid: !secret wifi_ssid
  password: !secret wifi_password

api:
ota:
  - platform: esphome
`;

test('dropping a YAML on the window imports it and starts an install', async ({ app, backend, page }) => {
  await app.dropFile('porch-light.yaml', PORCH);
  // The toast names the device as the rows do, with the file it came from.
  await expect(app.toast('Imported Porch Light')).toContainText('porch-light.yaml');
  expect(readFileSync(join(backend.configDir, 'porch-light.yaml'), 'utf8')).toBe(PORCH);
  await app.install.expectOpenWith('porch-light.yaml');
  await expect(app.install.where()).toHaveText('Builds on this computer.');
  await app.install.start('ota');
  await expect(app.install.progress()).toContainText(/Compiling|Uploading/);
  await app.install.hide();
  // Compile then the held OTA upload: one row with both stages, completed once flashed.
  const rows = app.tasks.rows().filter({ hasText: 'Porch Light' });
  await expect(rows).toHaveCount(1, { timeout: 30_000 });
  await expect(rows.and(page.locator('[data-status="completed"][data-stage="upload"]'))).toHaveCount(1, { timeout: 90_000 });
  await expect(app.tasks.configuration('porch-light.yaml')).toBeVisible();
  expect(app.cspViolations()).toEqual([]);
});

test('other dropped files are refused with a message; a name clash asks before replacing', async ({ app, backend, page }) => {
  await app.dropFile('notes.txt', 'hello', 'text/plain');
  await expect(app.toast('Not a YAML file')).toBeVisible();
  await app.dropFile('bad.yaml', 'wifi: {}\n');
  await expect(app.toast('Could not import bad.yaml')).toContainText('esphome: name');
  // Same name as an existing configuration: the user keeps the existing file.
  const before = readFileSync(join(backend.configDir, 'kitchen-plug.yaml'), 'utf8');
  // The app's own dialog (not confirm()); declining keeps the file and opens nothing.
  await app.dropFile('kitchen-plug.yaml', PORCH);
  await expect(page.getByTestId('replace-prompt')).toBeVisible();
  await expect(page.getByTestId('replace-keep')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('replace-prompt')).toHaveCount(0);
  await expect(page.getByTestId('install-dialog')).toHaveCount(0);
  expect(readFileSync(join(backend.configDir, 'kitchen-plug.yaml'), 'utf8')).toBe(before);
  // Replacing it writes the dropped content and opens the Install dialog for it.
  await app.dropFile('kitchen-plug.yaml', PORCH);
  await page.getByTestId('replace-confirm').click();
  await app.install.expectOpenWith('kitchen-plug.yaml');
  expect(readFileSync(join(backend.configDir, 'kitchen-plug.yaml'), 'utf8')).toBe(PORCH);
});

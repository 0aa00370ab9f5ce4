// The firmware library in the browser window against `kiln serve` + the esphome simulator:
// device status, install without rebuilding, the token-protected download and "Flash this build".
import { expect, test } from '../fixtures';

test('device status, install from the library, download and flash a kept build', async ({ app, backend, page }) => {
  const device = app.tasks.configuration('kitchen-plug.yaml');
  const badge = device.getByTestId('firmware-status');
  await expect(badge).toHaveAttribute('data-status', 'never-built');

  await app.tasks.openInstall('kitchen-plug.yaml');
  await page.getByTestId('install-start').click();
  await expect(badge).toHaveAttribute('data-status', 'up-to-date', { timeout: 60_000 });
  await expect(badge).toContainText('on this computer');
  const progress = page.getByTestId('install-progress');
  await progress.getByRole('button', { name: /^(Hide|Close)$/ }).click();
  await expect(progress).toHaveCount(0);

  // A second install flashes the kept build: an upload task, no compile.
  await app.tasks.openInstall('kitchen-plug.yaml');
  await page.getByTestId('install-start').click();
  await expect(app.log.visibleText()).toContainText('Firmware library: installing build', { timeout: 30_000 });
  await expect(app.log.visibleText()).toContainText('Successfully uploaded program', { timeout: 30_000 });
  await progress.getByRole('button', { name: /^(Hide|Close)$/ }).click();
  await expect(progress).toHaveCount(0);
  await expect.poll(async () => (await fetch(`${backend.origin}/firmware/x/ota`)).status).toBe(401); // the download needs the token

  // The device's ⋯ menu leads to its kept builds, where each image downloads (issue 16's menu item).
  await device.getByTestId('device-menu').click();
  await page.getByTestId('menu-download-firmware').click();
  const builds = device.getByTestId('firmware-build');
  await expect(builds).toHaveCount(1);
  const [download] = await Promise.all([page.waitForEvent('download'), builds.first().getByTestId('download-ota').click()]);
  expect(download.suggestedFilename()).toMatch(/^kitchen-plug-[0-9.]+-[0-9a-f]{8}\.ota\.bin$/);
  expect((await download.path()) !== null).toBe(true);

  await builds.first().getByTestId('flash-build').click();
  const rows = app.tasks.rows();
  await expect.poll(async () => rows.count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
  await expect(app.log.visibleText()).toContainText('Firmware library: flashing build', { timeout: 30_000 });
  expect(app.cspViolations()).toEqual([]);
});

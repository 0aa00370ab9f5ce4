// Remote builds: the window's backend sends compiles to a `kiln receiver` child (a headless build
// server) over the encrypted peer-link.
import { join } from 'node:path';
import { startBuildServer, startServe, type BuildServerBackend, type ServeBackend } from '../backends';
import { pairWithBuildServer, pidsMatching } from '../pair-helpers';
import { expect, test } from '../fixtures';

const HANG = `# sim: hang
esphome:
  name: attic-fan
  friendly_name: Attic Fan

esp8266:
  board: esp01_1m

wifi:
  ssid: x
  password: y
`;

let buildServer: BuildServerBackend;

test.use({
  backend: async ({}, use) => {
    buildServer = await startBuildServer({ simSpeed: '0.2' });
    const b: ServeBackend = await startServe({ files: { 'attic-fan.yaml': HANG }, buildServer: false });
    await use(b);
    await b.stop();
    await buildServer.stop();
  },
});

test('a remote compile on a kiln receiver shows "Building on <label>" and completes', async ({ app, page }) => {
  await pairWithBuildServer(app, buildServer, 'Office box');
  await app.goto('tasks');
  await app.tasks.compile('kitchen-plug.yaml');
  const row = app.tasks.row('Kitchen Plug');
  await app.tasks.expectStatus(row, 'running', 30_000);
  await expect(row.getByTestId('row-source')).toHaveText('Building on Office box');
  await expect(app.log.source()).toContainText('Building on Office box');
  await expect.poll(() => app.log.lineCount(), { timeout: 30_000 }).toBeGreaterThan(10);
  await app.page.screenshot({ path: 'test-results/remote-task-list-running.png' });
  await app.tasks.expectStatus(row, 'completed', 90_000);
  await expect(row.getByTestId('row-source')).toHaveText('Built on Office box');
  // The sender streamed the build server's log.
  await expect(app.log.visibleText()).toContainText('Successfully compiled program');
  expect(buildServer.output()).toMatch(/\[job [0-9a-f]{12}\] completed/);
  await page.screenshot({ path: 'test-results/remote-task-list.png' });
  expect(app.cspViolations()).toEqual([]);
});

test('Stop on a running remote job ends it Cancelled and the build server\'s process is gone', async ({ app }) => {
  await pairWithBuildServer(app, buildServer, 'Office box');
  await app.goto('tasks');
  await app.tasks.compile('attic-fan.yaml');
  const row = app.tasks.row('Attic Fan');
  await app.tasks.expectStatus(row, 'running', 30_000);
  await expect(row.getByTestId('row-source')).toHaveText('Building on Office box');
  // The compile is running on the build server, in its workspace.
  const workspace = join(buildServer.dataDir, 'remote_builds');
  await expect.poll(() => pidsMatching(workspace).length, { timeout: 30_000 }).toBeGreaterThan(0);
  await expect(app.log.visibleText()).toContainText('Compiling', { timeout: 30_000 });
  await app.log.stop();
  await app.tasks.expectStatus(row, 'cancelled', 30_000);
  await expect(app.log.endBanner()).toBeVisible();
  await expect.poll(() => pidsMatching(workspace), { timeout: 15_000 }).toEqual([]);
  expect(buildServer.output()).toMatch(/\[job [0-9a-f]{12}\] cancelled/);
});

test('"Build locally instead" cancels the remote install and re-submits it locally', async ({ app }) => {
  await pairWithBuildServer(app, buildServer, 'Office box');
  await app.goto('tasks');
  await app.tasks.openInstall('attic-fan.yaml');
  await app.install.start('ota');
  await expect(app.page.getByTestId('install-source')).toContainText('Building on Office box', { timeout: 30_000 });
  await app.page.getByTestId('dialog-build-locally').click();
  // The dialog now follows the new, local compile of the same device (same OTA target).
  await expect(app.page.getByTestId('install-source')).toHaveText('Building on this computer', { timeout: 30_000 });
  await app.install.hide();
  // One row for the device: no phantom "Cancelled" row for the replaced remote install; the move
  // is in the row's history instead.
  const rows = app.tasks.rows().filter({ hasText: 'Attic Fan' });
  await expect(rows).toHaveCount(1);
  await expect(app.page.locator('[data-testid="task-row"][data-status="cancelled"]')).toHaveCount(0);
  const local = app.tasks.activeRows().filter({ hasText: 'Attic Fan' }).first();
  await expect(local.getByTestId('row-source')).toHaveText('Building on this computer');
  await expect(local.getByTestId('row-history')).toHaveText('Moved from Office box to this computer');
  await app.page.screenshot({ path: 'test-results/build-locally-one-row.png' });
  // The remote compile's process on the build server is gone; stop the local one too.
  await expect.poll(() => pidsMatching(join(buildServer.dataDir, 'remote_builds')), { timeout: 15_000 }).toEqual([]);
  await local.getByTestId('row-cancel').click();
  await expect(app.tasks.activeRows()).toHaveCount(0, { timeout: 30_000 });
});

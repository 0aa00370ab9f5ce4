// "Build servers on your network" (ui-and-users §5.1 "Known dashboards", §5.2) end to end over REAL multicast: a key-mode
// `kiln receiver` advertising _esphomebuilder._tcp, found by `kiln serve` (both with mDNS on,
// unlike every other spec). Pair from its row → straight to Confirm with the fingerprint the
// build server printed → paired with its key → the row moves to Paired build servers.
import { startBuildServer, startServe, type BuildServerBackend } from '../backends';
import { backendApi } from '../api';
import { emojiOf } from '../pair-helpers';
import { expect, test } from '../fixtures';

let buildServer: BuildServerBackend;

test.use({
  backend: async ({}, use) => {
    // All interfaces: the window connects to the address the build server advertises, not 127.0.0.1.
    buildServer = await startBuildServer({ mdns: true, host: '0.0.0.0' });
    const serve = await startServe({ mdns: true });
    await use(serve);
    await serve.stop();
    await buildServer.stop();
  },
});

test('a build server found over mDNS is paired from Build servers on your network and moves to Paired build servers', async ({ app, backend }) => {
  await app.goto('servers');
  const known = app.page.getByTestId('network-build-servers');
  await expect(known.getByRole('heading')).toHaveText('Build servers on your network');
  const row = known.locator(`[data-testid="discovered-row"][data-pin="${buildServer.pin}"]`);
  await expect(row).toBeVisible({ timeout: 15_000 });
  await expect(row).toContainText(`:${buildServer.port}`);
  await expect(row).toContainText(/ESPHome \d{4}\.\d+\.\d+/);

  // This window's own backend advertises its build-server role too, but never lists itself.
  const api = await backendApi(backend);
  const own = await api.api.getIdentity({});
  const listed = await api.api.listDiscoveredBuildServers({});
  api.close();
  expect(listed.enabled).toBe(true);
  expect(listed.servers.map((s) => s.pin)).toContain(buildServer.pin);
  expect(listed.servers.map((s) => s.pin)).not.toContain(own.pin);
  await expect(known.locator(`[data-testid="discovered-row"][data-pin="${own.pin}"]`)).toHaveCount(0);

  // Pair: the preview handshake runs at once and lands on Confirm with the printed fingerprint.
  await row.getByTestId('discovered-pair').click();
  await expect(app.page.getByTestId('pair-confirm')).toBeVisible();
  await expect(app.page.getByTestId('pair-confirm')).toContainText(`:${buildServer.port}`);
  await expect(app.pair.serverFingerprint()).toHaveText(emojiOf(buildServer.pin));
  await expect(app.page.getByTestId('pair-cancel')).toBeVisible();
  await app.page.screenshot({ path: 'test-results/network-build-servers-confirm.png' });
  await app.pair.send({ label: 'Found box', key: buildServer.pairingKey });
  await expect(app.pair.done()).toBeVisible();
  await app.page.getByTestId('pair-done').getByRole('button', { name: 'Done' }).click();

  // Paired (and connected); gone from Build servers on your network.
  await app.servers.expectConnected('Found box');
  await expect(app.servers.pairing('Found box')).toHaveAttribute('data-pin', buildServer.pin);
  await expect(row).toHaveCount(0);
  await app.page.screenshot({ path: 'test-results/network-build-servers-paired.png' });
  expect(app.consoleErrors).toEqual([]);
});

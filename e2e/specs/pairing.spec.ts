// The pairing flow from both sides: window A (sender) pairs with window B (this computer as a
// build server). Both screens show the same fingerprints.
import { startServe, type ServeBackend } from '../backends';
import { emojiOf } from '../pair-helpers';
import { KilnApp } from '../pages/kiln-app';
import { expect, test } from '../fixtures';
import { backendApi } from '../api';

let server: ServeBackend;

test.use({
  backend: async ({}, use) => {
    server = await startServe({ buildServer: true });
    const sender = await startServe({ buildServer: false });
    await use(sender);
    await sender.stop();
    await server.stop();
  },
});

test('pairing from both sides shows the same fingerprint on both screens', async ({ app, backend, browser }) => {
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const b = new KilnApp(await ctxB.newPage());
  await b.open(server.url);

  // B: the build-server role is on; its own fingerprint is shown; open the pairing window.
  await b.goto('servers');
  await expect(b.page.getByTestId('listener-state')).toContainText('Listener active');
  const bApi = await backendApi(server);
  const role = await bApi.api.getBuildServerRole({});
  const bPin = role.identity.pin;
  await b.servers.showOwnFingerprint();
  await expect(b.servers.ownFingerprint()).toHaveText(emojiOf(bPin));
  await b.servers.openPairingWindow();

  // A: pair dialog → B's fingerprint on the confirm step, identical to B's own screen.
  await app.goto('servers');
  await app.servers.openPairDialog();
  await app.pair.connect('127.0.0.1', role.port!);
  await expect(app.pair.serverFingerprint()).toHaveText((await b.servers.ownFingerprint().textContent())!);
  await app.page.screenshot({ path: 'test-results/pair-confirm.png' });
  await app.pair.send({ label: 'Workshop PC' });
  // Sent: A shows its OWN fingerprint for B's operator to compare.
  await expect(app.pair.sent()).toBeVisible();
  const aApi = await backendApi(backend);
  const aIdentity = await aApi.api.getIdentity({});
  aApi.close();
  await expect(app.pair.ownFingerprint()).toHaveText(emojiOf(aIdentity.pin));
  const aFingerprint = (await app.pair.ownFingerprint().textContent())!;

  // B: the request appears; its review shows the sender's fingerprint — the same as A's screen.
  await expect(b.servers.requests()).toHaveCount(1, { timeout: 15_000 });
  await b.servers.review(/./);
  await expect(b.servers.reviewFingerprint()).toHaveText(aFingerprint);
  await b.page.screenshot({ path: 'test-results/build-server-review.png' });
  await b.servers.accept();
  await expect(b.servers.senders()).toHaveCount(1);

  // A: the dialog moves on by itself; the pairing is connected.
  await expect(app.pair.done()).toBeVisible({ timeout: 15_000 });
  await app.page.getByTestId('pair-done').getByRole('button', { name: 'Done' }).click();
  await app.servers.expectConnected('Workshop PC');
  await expect(b.servers.senders().first()).toContainText('Connected', { timeout: 15_000 });
  await app.page.screenshot({ path: 'test-results/build-servers-sender.png' });
  await b.page.screenshot({ path: 'test-results/build-servers-role.png' });
  bApi.close();
  await ctxB.close();
});

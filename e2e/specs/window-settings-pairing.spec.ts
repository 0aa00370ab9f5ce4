// Issue 16 "Plain words" and "Honest settings": pairing errors say what to check (nothing
// listening, a web page instead of a build-server port, a rejected pairing key), host:port in the
// host field is accepted, the build-server role's own fingerprint is kept apart, the build server's
// hint names the app's real menu; settings are checked on save, a restart-only change says
// "after restart" and raises no banner, the notice sits by its button; a new token in the URL is
// picked up without a reload.
import { createServer } from 'node:net';
import { join } from 'node:path';
import { existsSync, writeFileSync } from 'node:fs';
import { SIM, startBuildServer, type BuildServerBackend } from '../backends';
import { expect, test } from '../fixtures';
import { shot } from '../shots';

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('pairing errors in plain words; host:port in the host field; own fingerprint kept apart', async ({ app, page, backend }, info) => {
  let buildServer: BuildServerBackend | null = null;
  try {
    await app.goto('servers');
    // The role's own fingerprint is folded away, labelled as this computer's.
    await expect(page.getByTestId('role-fingerprint-box')).toContainText("This computer's own fingerprint (for senders pairing with it)");
    await expect(page.getByTestId('role-fingerprint')).toBeHidden();
    await app.servers.openPairDialog();
    const hostField = page.getByTestId('pair-host');
    // Nothing listening: typed as host:port (the port field still says 6055).
    const dead = await closedPort();
    await hostField.fill(`127.0.0.1:${dead}`);
    await page.getByTestId('pair-continue').click();
    const alert = page.getByTestId('pair-dialog').getByRole('alert');
    await expect(alert).toHaveText(`Nothing is listening at 127.0.0.1:${dead} — is the build server running?`);
    await expect(page.getByTestId('pair-port')).toHaveValue(String(dead));
    await shot(page, info, 'pair-error-nothing-listening');
    // A Kiln window's address (HTTP, not the peer-link port).
    const web = new URL(backend.origin).port;
    await hostField.fill(`127.0.0.1:${web}`);
    await page.getByTestId('pair-continue').click();
    await expect(alert).toHaveText(`127.0.0.1:${web} is a web page (such as a Kiln window), not a build-server port. The build-server port is usually 6055.`);
    await expect(alert).not.toContainText(/ws:\/\/|ECONNREFUSED|HTTP 404|Check the address/);
    // A headless build server with a pairing key: a wrong key says so (not "window closed").
    buildServer = await startBuildServer();
    expect(buildServer.output()).toContain('Build servers → Pair with a build server');
    await hostField.fill(`127.0.0.1:${buildServer.port}`);
    await page.getByTestId('pair-continue').click();
    await expect(page.getByTestId('pair-confirm')).toBeVisible();
    await expect(page.getByTestId('pair-confirm')).toContainText("The build server's fingerprint");
    await page.getByTestId('pair-key').fill('WXYZ-WXYZ-WXYZ-WXYZ');
    await page.getByTestId('pair-send').click();
    await expect(page.getByTestId('pair-confirm').getByRole('alert')).toHaveText('Pairing key rejected — check the key shown by the build server.');
    await shot(page, info, 'pair-error-wrong-key');
    await page.getByTestId('pair-key').fill(buildServer.pairingKey);
    await page.getByTestId('pair-send').click();
    await expect(page.getByTestId('pair-done')).toBeVisible();
  } finally {
    await buildServer?.stop();
  }
});

test('settings: checked on save, "after restart" without a banner, the notice by its button', async ({ app, page, backend }, info) => {
  await app.goto('settings');
  // A command that does not run: refused next to its button, nothing saved.
  await page.getByTestId('esphome-command').fill('/nonexistent/esphome');
  await page.getByTestId('save-esphome-command').click();
  const note = page.getByTestId('esphome-command-note');
  await expect(note).toContainText('"/nonexistent/esphome" did not work as an esphome command');
  await expect(note).toContainText('Nothing was saved.');
  const noteBox = (await note.boundingBox())!;
  const btnBox = (await page.getByTestId('save-esphome-command').boundingBox())!;
  expect(Math.abs(noteBox.y + noteBox.height / 2 - (btnBox.y + btnBox.height / 2))).toBeLessThan(20);
  // A working one: saved for after the restart; the one in use stays; no global banner.
  await page.getByTestId('esphome-command').fill(`${process.execPath} ${SIM}`);
  await page.getByTestId('save-esphome-command').click();
  await expect(note).toHaveText('Saved — takes effect after Kiln restarts.');
  await expect(page.getByTestId('esphome-in-use')).toContainText(`In use: ${SIM}`);
  await expect(page.getByTestId('esphome-in-use')).toContainText(`After restart: ${process.execPath} ${SIM}`);
  await expect(page.getByTestId('no-esphome')).toHaveCount(0);
  await expect(page.locator('.banner[role="alert"]')).toHaveCount(0);
  await shot(page, info, 'settings-after-restart');
  // The folder: a file is refused; a new folder is created.
  writeFileSync(join(backend.dir, 'a-file'), 'x');
  await page.getByTestId('config-dir').fill(join(backend.dir, 'a-file'));
  await page.getByTestId('save-config-dir').click();
  await expect(page.getByTestId('config-dir-note')).toContainText('this is a file, not a folder');
  const fresh = join(backend.dir, 'new-configs');
  await page.getByTestId('config-dir').fill(fresh);
  await page.getByTestId('save-config-dir').click();
  await expect(page.getByTestId('config-dir-note')).toHaveText('Saved — takes effect after Kiln restarts.');
  expect(existsSync(fresh)).toBe(true);
  await expect(page.getByTestId('config-dir-in-use')).toContainText(`After restart: ${fresh}`);
});

test('a new token in the URL is picked up without a manual reload', async ({ page, backend }) => {
  const { KilnApp } = await import('../pages/kiln-app');
  const app = new KilnApp(page);
  // Opened without a token: refused (the server closes the socket).
  app.allowed.push(/WebSocket|401|4401/);
  await page.goto(backend.origin + '/');
  await expect(page.getByTestId('connection-banner')).toBeVisible({ timeout: 30_000 });
  // (Browser-side code as strings: the e2e files are type-checked without DOM types.)
  await page.evaluate('window.__sameDocument = true');
  // Paste the URL with the token into the same tab: only the hash changes.
  await page.evaluate(`window.location.hash = ${JSON.stringify(`#token=${backend.token}`)}`);
  await app.waitConnected();
  expect(await page.evaluate('window.__sameDocument')).toBe(true);
  expect(new URL(page.url()).hash).toBe('');
});

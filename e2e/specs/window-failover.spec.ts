// Issue 16: a build server killed mid-build. The row says "Lost <server> mid-build — rebuilt on
// this computer" (no raw close codes, no phantom Cancelled row), the finished row says where it
// was built, and the disconnected server never shows "busy".
import { startBuildServer, startServe, type BuildServerBackend, type ServeBackend } from '../backends';
import { pairWithBuildServer } from '../pair-helpers';
import { expect, test } from '../fixtures';
import { shot } from '../shots';

let buildServer: BuildServerBackend;

test.use({
  backend: async ({}, use) => {
    buildServer = await startBuildServer({ simSpeed: '0.6' });
    const b: ServeBackend = await startServe({ examples: ['kitchen-plug.yaml'], buildServer: false, simSpeed: '0.05' });
    await use(b);
    await b.stop();
    await buildServer.stop();
  },
});

test('build server lost mid-build: rebuilt on this computer, said in plain words; disconnected is never busy', async ({ app, page }, info) => {
  await pairWithBuildServer(app, buildServer, 'fast-box');
  await app.goto('tasks');
  await app.tasks.compile('kitchen-plug.yaml');
  const rows = app.tasks.rows().filter({ hasText: 'Kitchen Plug' });
  const row = rows.first();
  await expect(row.getByTestId('row-source')).toHaveText('Building on fast-box', { timeout: 30_000 });
  await expect.poll(() => app.log.lineCount(), { timeout: 30_000 }).toBeGreaterThan(5);
  // The build server dies without a word (power cut).
  buildServer.proc.kill('SIGKILL');
  await expect(row.getByTestId('row-history')).toHaveText(/^Lost fast-box mid-build — (rebuilding|rebuilt) on this computer$/, { timeout: 60_000 });
  await expect(row.getByTestId('row-source')).toHaveText(/(Building|Built) on this computer/);
  await shot(page, info, 'failover-rebuilding');
  await app.tasks.expectStatus(row, 'completed', 90_000);
  await expect(row.getByTestId('row-history')).toHaveText('Lost fast-box mid-build — rebuilt on this computer');
  await expect(row.getByTestId('row-source')).toHaveText('Built on this computer');
  await expect(rows).toHaveCount(1);
  await expect(page.locator('[data-testid="task-row"][data-status="cancelled"]')).toHaveCount(0);
  await expect(row).not.toContainText(/code 1006|peer_hung_up|another worker/);
  await expect(app.log.panel().getByTestId('log-history')).toHaveText('Lost fast-box mid-build — rebuilt on this computer');
  await shot(page, info, 'failover-rebuilt');
  // The server is gone: its row says so and never "busy".
  await app.goto('servers');
  const server = app.servers.pairing('fast-box');
  await expect(server).toHaveAttribute('data-connection', /disconnected|connecting/, { timeout: 30_000 });
  await expect(server.getByTestId('pairing-queue')).toHaveCount(0);
  await expect(server).not.toContainText('busy');
  await shot(page, info, 'server-disconnected');
});

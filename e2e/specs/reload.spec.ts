// A reload mid-build re-attaches to the live log: history then live lines, no gap, no duplicate.
import { backendApi, plainLog } from '../api';
import { startServe, type ServeBackend } from '../backends';
import { expect, test } from '../fixtures';

test.use({
  // Slower simulator so the compile is still running across the reload.
  backend: async ({}, use) => {
    const b: ServeBackend = await startServe({ simSpeed: '0.25' });
    await use(b);
    await b.stop();
  },
});

test('reload mid-build re-attaches to the live log without gaps', async ({ app, backend, page }) => {
  await app.tasks.compile('kitchen-plug.yaml');
  const row = app.tasks.row('Kitchen Plug');
  await app.tasks.expectStatus(row, 'running');
  const jobId = (await row.getAttribute('data-job-id'))!;
  await expect.poll(() => app.log.lineCount(), { timeout: 30_000 }).toBeGreaterThan(30);

  await page.reload();
  await app.waitConnected();
  // The selection survives the reload and the panel follows the same, still running job.
  await app.log.expectJob(jobId);
  await expect(app.log.panel()).toHaveAttribute('data-status', 'running');
  await expect.poll(() => app.log.lineCount(), { timeout: 30_000 }).toBeGreaterThan(30);
  await app.log.expectStatus('completed', 120_000);

  const downloaded = await app.log.download();
  const { api, close } = await backendApi(backend);
  const stored = await api.followLog({ jobId });
  close();
  expect(downloaded).toBe(plainLog(stored.lines));
  expect(downloaded).toContain('Successfully compiled program');
  // No "lines skipped" notice was needed.
  await expect(page.locator('.log-notice')).toHaveCount(0);
});

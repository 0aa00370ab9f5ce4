// Queue pause/resume and "Reset build environment" from the task list toolbar; a finished job's
// long log opening on its tail with "Load earlier lines", and ANSI colour carried across lines.
import { join } from 'node:path';
import { backendApi, plainLog } from '../api';
import { REPO, startServe, type ServeBackend } from '../backends';
import { expect, test } from '../fixtures';

test('Pause queue holds a compile (also across a reload); Resume runs it', async ({ app, backend, page }) => {
  const toggle = page.getByTestId('queue-pause-toggle');
  await expect(toggle).toHaveText('Pause queue');
  await expect(page.getByTestId('queue-paused')).toHaveCount(0);
  await toggle.click();
  await expect(page.getByTestId('queue-paused')).toContainText('Queue paused');
  await expect(toggle).toHaveText('Resume queue');

  await app.tasks.compile('kitchen-plug.yaml');
  const row = app.tasks.row('Kitchen Plug');
  await app.tasks.expectStatus(row, 'queued');

  // The pause lives in the backend (jobs.json): a reload shows it again, and the job is still
  // queued in the backend after that round trip (no guessed sleep: the reload is the wait).
  await page.reload();
  await app.waitConnected();
  await expect(page.getByTestId('queue-paused')).toBeVisible();
  const { api, close } = await backendApi(backend);
  expect(await api.getQueuePause({})).toEqual({ paused: true });
  expect((await api.getJobs({ configuration: 'kitchen-plug.yaml' })).map((j) => j.status)).toEqual(['queued']);
  close();
  await app.tasks.expectStatus(app.tasks.row('Kitchen Plug'), 'queued');

  await page.getByTestId('queue-pause-toggle').click();
  await expect(page.getByTestId('queue-paused')).toHaveCount(0);
  await app.tasks.expectStatus(row, 'completed', 90_000);
  expect(app.cspViolations()).toEqual([]);
});

test('Reset build environment asks first, then runs and shows its log', async ({ app, page }) => {
  await page.getByTestId('reset-build-env').click();
  await expect(page.getByTestId('reset-confirm')).toContainText('esphome clean-all');
  await page.getByTestId('reset-confirm').getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('reset-confirm')).toHaveCount(0);
  await expect(app.tasks.rows()).toHaveCount(0);

  await page.getByTestId('reset-build-env').click();
  await page.getByTestId('reset-confirm-btn').click();
  const row = app.tasks.row('Build environment');
  await expect(row).toBeVisible();
  await app.tasks.expectStatus(row, 'completed', 60_000);
  await expect(app.log.panel()).toHaveAttribute('data-job-id', (await row.getAttribute('data-job-id'))!);
  await expect(app.log.endBanner()).toContainText('Completed');
});

test.describe('a long finished log', () => {
  test.use({
    backend: async ({}, use) => {
      const b: ServeBackend = await startServe({ esphome: join(REPO, 'e2e/long-log-esphome.mjs'), examples: ['kitchen-plug.yaml'] });
      await use(b);
      await b.stop();
    },
  });

  test('opens on its tail; "Load earlier lines" brings the rest; colours carry across lines', async ({ app, backend, page }) => {
    await app.tasks.compile('kitchen-plug.yaml');
    const row = app.tasks.row('Kitchen Plug');
    await app.tasks.expectStatus(row, 'completed', 60_000);
    const jobId = (await row.getAttribute('data-job-id'))!;
    const { api, close } = await backendApi(backend);
    const stored = await api.getLogRange({ jobId, before: 1_000_000, max: 10_000 });
    close();
    expect(stored.total).toBeGreaterThan(1000);

    // A fresh window (nothing streamed into it): the finished log opens on its last 1000 lines.
    await page.reload();
    await app.waitConnected();
    await app.log.expectJob(jobId);
    const view = page.getByTestId('log-view');
    await expect(view).toHaveAttribute('data-lines', '1000');
    await expect(view).toHaveAttribute('data-earlier', String(stored.total - 1000));
    await expect(page.getByTestId('earlier-lines')).toContainText(`${stored.total - 1000} more`);

    // The colour opened on one line carries into the next (which has no escape of its own)
    // and stops after the reset.
    const line = (text: string) => view.locator('.log-line', { hasText: text });
    await expect(line('inside the red block').locator('span.ansi-red-fg')).toHaveText('inside the red block');
    await expect(line('after the red block').locator('span.ansi-red-fg')).toHaveCount(0);

    await page.getByTestId('load-earlier').click();
    await expect(view).toHaveAttribute('data-lines', String(stored.total));
    await expect(view).toHaveAttribute('data-earlier', '0');
    await expect(page.getByTestId('earlier-lines')).toHaveCount(0);
    // Still pinned where the user was: the last lines stay on screen.
    await expect(line('after the red block')).toBeVisible();
    // The download holds the whole stored log.
    expect(await app.log.download()).toBe(plainLog(stored.lines));
    expect(app.cspViolations()).toEqual([]);
  });
});

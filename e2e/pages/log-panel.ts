// Page object: the selected job's log panel.
import { expect, type Download, type Page } from '@playwright/test';
import { readFile } from 'node:fs/promises';

export class LogPanel {
  constructor(private readonly page: Page) {}

  panel() {
    return this.page.getByTestId('log-panel');
  }

  async expectJob(jobId: string): Promise<void> {
    await expect(this.panel()).toHaveAttribute('data-job-id', jobId);
  }

  async expectStatus(status: string, timeout = 60_000): Promise<void> {
    await expect(this.panel()).toHaveAttribute('data-status', status, { timeout });
  }

  /** Lines currently rendered (the view is virtualised: only the visible window). */
  visibleText() {
    return this.page.getByTestId('log-view');
  }

  lineCount(): Promise<number> {
    return this.page
      .getByTestId('log-view')
      .getAttribute('data-lines')
      .then((v) => Number(v ?? '0'));
  }

  source() {
    return this.page.getByTestId('log-source');
  }

  endBanner() {
    return this.page.getByTestId('end-banner');
  }

  async stop(): Promise<void> {
    await this.page.getByTestId('stop').click();
  }

  /** "Download output": the whole buffered log as the user gets it. */
  async download(): Promise<string> {
    const [dl]: [Download, void] = await Promise.all([this.page.waitForEvent('download'), this.page.getByTestId('download-log').click()]);
    const path = await dl.path();
    return readFile(path, 'utf8');
  }
}

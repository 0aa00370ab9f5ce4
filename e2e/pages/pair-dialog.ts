// Page object: the pair dialog (input → confirm → sent/done).
import { expect, type Page } from '@playwright/test';

export class PairDialog {
  constructor(private readonly page: Page) {}

  async connect(host: string, port: number): Promise<void> {
    await this.page.getByTestId('pair-host').fill(host);
    await this.page.getByTestId('pair-port').fill(String(port));
    await this.page.getByTestId('pair-continue').click();
    await expect(this.page.getByTestId('pair-confirm')).toBeVisible();
  }

  serverFingerprint() {
    return this.page.getByTestId('server-fingerprint-emoji');
  }

  async send(opts: { label?: string; key?: string } = {}): Promise<void> {
    if (opts.label !== undefined) await this.page.getByTestId('pair-label').fill(opts.label);
    if (opts.key !== undefined) await this.page.getByTestId('pair-key').fill(opts.key);
    await this.page.getByTestId('pair-send').click();
  }

  sent() {
    return this.page.getByTestId('pair-sent');
  }

  ownFingerprint() {
    return this.page.getByTestId('own-fingerprint-emoji');
  }

  done() {
    return this.page.getByTestId('pair-done');
  }
}

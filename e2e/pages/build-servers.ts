// Page object: Build servers screen (sender side and this computer's build-server role).
import { expect, type Page } from '@playwright/test';

export class BuildServersPage {
  constructor(private readonly page: Page) {}

  async openPairDialog(): Promise<void> {
    await this.page.getByTestId('open-pair-dialog').click();
  }

  pairing(label: string | RegExp) {
    return this.page.getByTestId('pairing-row').filter({ hasText: label });
  }

  async expectConnected(label: string | RegExp): Promise<void> {
    await expect(this.pairing(label)).toHaveAttribute('data-connection', 'connected', { timeout: 30_000 });
  }

  role() {
    return this.page.getByTestId('role-section');
  }

  /** Opens the (collapsed) "This computer's own fingerprint" box and returns its emoji row. */
  ownFingerprint() {
    return this.page.getByTestId('role-fingerprint-emoji');
  }

  async showOwnFingerprint(): Promise<void> {
    const box = this.page.getByTestId('role-fingerprint-box');
    if ((await box.getAttribute('open')) === null) await box.locator('summary').click();
  }

  async openPairingWindow(): Promise<void> {
    await this.page.getByTestId('window-open').click();
    await expect(this.page.getByTestId('pairing-window')).toHaveAttribute('data-open', 'true');
  }

  requests() {
    return this.page.getByTestId('pair-request');
  }

  async review(label: string | RegExp): Promise<void> {
    await this.requests().filter({ hasText: label }).getByTestId('review-request').click();
    await expect(this.page.getByTestId('review-dialog')).toBeVisible();
  }

  reviewFingerprint() {
    return this.page.getByTestId('sender-fingerprint-emoji');
  }

  async accept(): Promise<void> {
    await this.page.getByTestId('accept-request').click();
    await expect(this.page.getByTestId('review-dialog')).toHaveCount(0);
  }

  senders() {
    return this.page.getByTestId('sender-row');
  }
}

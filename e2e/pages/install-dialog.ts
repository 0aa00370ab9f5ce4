// Page object: the install dialog (form, then progress).
import { expect, type Page } from '@playwright/test';

export class InstallDialog {
  constructor(private readonly page: Page) {}

  dialog() {
    return this.page.getByTestId('install-dialog');
  }

  progress() {
    return this.page.getByTestId('install-progress');
  }

  async expectOpenWith(configuration: string): Promise<void> {
    await expect(this.dialog()).toBeVisible();
    await expect(this.page.getByTestId('install-config')).toHaveValue(configuration);
  }

  where() {
    return this.page.getByTestId('install-where');
  }

  async start(target: 'ota' | { serial: string } = 'ota'): Promise<void> {
    if (target === 'ota') await this.page.getByTestId('method-ota').check();
    else {
      await this.page.getByTestId('method-serial').check();
      await this.page.getByTestId('serial-port').fill(target.serial);
    }
    await this.page.getByTestId('install-start').click();
    await expect(this.progress()).toBeVisible();
  }

  async hide(): Promise<void> {
    await this.progress().getByRole('button', { name: /Hide|Close/ }).last().click();
  }
}

// Page object: devices list + firmware task list.
import { expect, type Locator, type Page } from '@playwright/test';

export class TasksPage {
  constructor(private readonly page: Page) {}

  configuration(name: string): Locator {
    return this.page.getByTestId('configuration').and(this.page.locator(`[data-name="${name}"]`));
  }

  async compile(config: string): Promise<void> {
    await this.configuration(config).getByTestId('compile').click();
  }

  async openInstall(config: string): Promise<void> {
    await this.configuration(config).getByTestId('install').click();
  }

  rows(): Locator {
    return this.page.getByTestId('task-row');
  }

  row(device: string | RegExp): Locator {
    return this.rows().filter({ has: this.page.locator('.row-name', { hasText: device }) }).first();
  }

  activeRows(): Locator {
    return this.page.getByTestId('active-list').getByTestId('task-row');
  }

  recentRows(): Locator {
    return this.page.getByTestId('recent-list').getByTestId('task-row');
  }

  async expectStatus(row: Locator, status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled', timeout = 60_000): Promise<void> {
    await expect(row).toHaveAttribute('data-status', status, { timeout });
  }

  async open(row: Locator): Promise<void> {
    await row.locator('.row-main').click();
  }

  async showFailuresOnly(on: boolean): Promise<void> {
    await this.page.getByTestId('filter-failed').setChecked(on);
  }

  async clearCompleted(): Promise<void> {
    await this.page.getByTestId('clear-completed').click();
  }
}

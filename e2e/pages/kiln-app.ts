// Page object for the whole window: navigation, toasts, connection state, file drops.
import { expect, type Page } from '@playwright/test';
import { BuildServersPage } from './build-servers';
import { InstallDialog } from './install-dialog';
import { LogPanel } from './log-panel';
import { PairDialog } from './pair-dialog';
import { TasksPage } from './tasks';

export class KilnApp {
  readonly tasks: TasksPage;
  readonly log: LogPanel;
  readonly install: InstallDialog;
  readonly servers: BuildServersPage;
  readonly pair: PairDialog;
  readonly consoleErrors: string[] = [];
  /** Every window a test opened: the fixture fails the test on any console error in any of them. */
  static readonly instances: KilnApp[] = [];
  /** Console errors a test expects (e.g. a refused WebSocket); everything else fails the test. */
  readonly allowed: RegExp[] = [];
  /** Off once the test body ended: a backend stopped under an open page is not the window's fault. */
  recording = true;

  constructor(readonly page: Page) {
    KilnApp.instances.push(this);
    this.tasks = new TasksPage(page);
    this.log = new LogPanel(page);
    this.install = new InstallDialog(page);
    this.servers = new BuildServersPage(page);
    this.pair = new PairDialog(page);
    page.on('console', (m) => {
      if (m.type() === 'error' && this.recording) this.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => this.recording && this.consoleErrors.push(`pageerror: ${e.message}`));
  }

  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.waitConnected();
  }

  async waitConnected(): Promise<void> {
    await expect(this.page.getByTestId('connection-banner')).toHaveCount(0);
    await expect(this.page.getByTestId('nav-tasks')).toBeVisible();
    await expect(this.page.getByTestId('configurations').or(this.page.getByTestId('no-configurations'))).toBeVisible();
  }

  async goto(view: 'tasks' | 'servers' | 'settings'): Promise<void> {
    await this.page.getByTestId(`nav-${view}`).click();
  }

  toast(text: string | RegExp) {
    return this.page.getByTestId('toast').filter({ hasText: text });
  }

  /** Drops a file on the window the way a user's drag-and-drop does (JS-built File, content-first). */
  async dropFile(name: string, content: string, type = 'application/x-yaml'): Promise<void> {
    const dt = await this.page.evaluateHandle(
      ([n, c, t]) => {
        // Runs in the page; this file is type-checked without DOM types.
        const g = globalThis as unknown as {
          DataTransfer: new () => { items: { add(f: unknown): void } };
          File: new (parts: string[], name: string, o: { type: string }) => unknown;
        };
        const d = new g.DataTransfer();
        d.items.add(new g.File([c], n, { type: t }));
        return d;
      },
      [name, content, type] as const,
    );
    for (const ev of ['dragenter', 'dragover', 'drop']) {
      await this.page.dispatchEvent('body', ev, { dataTransfer: dt });
    }
  }

  /** Console errors not explicitly allowed by the test. */
  unexpectedConsoleErrors(): string[] {
    return this.consoleErrors.filter((e) => !this.allowed.some((r) => r.test(e)));
  }

  /** CSP violations or script errors seen by the page. */
  cspViolations(): string[] {
    return this.consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e));
  }
}

// DesktopIntegration for browser mode (`kiln serve`): notifications become in-app toasts pushed
// to every connected window; there is no tray. The Electron shell uses its own implementation
// with the same DesktopPolicy (main/core/desktop.ts), so the wording is identical.
import type { DesktopIntegration, DesktopNotice, TrayState } from '../desktop';
import type { ApiService } from './api-service';

export class ToastDesktop implements DesktopIntegration {
  constructor(private readonly service: ApiService) {}

  notify(notice: DesktopNotice): void {
    const kind = notice.kind === 'completed' ? 'success' : notice.kind === 'failed' || notice.kind === 'server_disconnected' ? 'error' : 'info';
    this.service.broadcast('toast', { kind, title: notice.title, body: notice.body, ...(notice.jobId ? { jobId: notice.jobId } : {}) });
  }

  setTrayState(_state: TrayState): void {
    // No tray in a browser; the task list's counts show the same information.
  }

  dispose(): void {}
}

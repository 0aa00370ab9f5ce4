// OS notifications (electron.md §7): guarded by Notification.isSupported() with the in-app toast
// as fallback (no notification daemon/D-Bus in CI, or the OS refused it: `failed`). A click
// focuses the window and selects the job. What to notify is decided by DesktopPolicy in core.
import { Notification } from 'electron';
import type { DesktopNotice } from '../core/desktop';

export interface NotifierDeps {
  focusWindow(): void;
  /** Ask the renderer to open this job (over the RPC connection). */
  selectJob(jobId: string, notice: DesktopNotice): void;
  /** In-app toast when OS notifications are unavailable or fail. */
  fallbackToast(notice: DesktopNotice): void;
  platform?: NodeJS.Platform;
}

/** Live notifications are referenced until they end, or their click handler is collected. */
const MAX_LIVE = 20;

export class ElectronNotifier {
  private readonly live = new Set<Notification>();

  constructor(private readonly deps: NotifierDeps) {}

  show(notice: DesktopNotice): void {
    if (!Notification.isSupported()) {
      this.deps.fallbackToast(notice);
      return;
    }
    const platform = this.deps.platform ?? process.platform;
    // Typed by Electron's own NotificationConstructorOptions: the compiler checks every field.
    const options: Electron.NotificationConstructorOptions = { title: notice.title, body: notice.body, silent: notice.kind === 'info' };
    if (platform === 'linux') {
      options.urgency = notice.kind === 'failed' ? 'critical' : 'normal';
      options.timeoutType = 'default';
    }
    const n = new Notification(options);
    const forget = () => this.live.delete(n);
    n.on('click', () => {
      forget();
      this.deps.focusWindow();
      if (notice.jobId) this.deps.selectJob(notice.jobId, notice);
    });
    n.on('failed', () => {
      forget();
      this.deps.fallbackToast(notice);
    });
    n.on('close', forget);
    this.live.add(n);
    if (this.live.size > MAX_LIVE) this.live.delete(this.live.values().next().value as Notification);
    n.show();
  }

  get liveCount(): number {
    return this.live.size;
  }

  dispose(): void {
    for (const n of this.live) n.close();
    this.live.clear();
  }
}

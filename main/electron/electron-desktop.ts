// DesktopIntegration for Electron: the tray shows TrayState, notices become OS notifications.
import type { DesktopIntegration, DesktopNotice, TrayState } from '../core/desktop';
import type { ElectronNotifier } from './notifications';
import type { TrayController } from './tray';

export class ElectronDesktop implements DesktopIntegration {
  constructor(
    private readonly tray: TrayController,
    private readonly notifier: ElectronNotifier,
  ) {}

  notify(notice: DesktopNotice): void {
    this.notifier.show(notice);
  }

  setTrayState(state: TrayState): void {
    this.tray.update(state);
  }

  dispose(): void {
    this.notifier.dispose();
    this.tray.destroy();
  }
}

/** DesktopIntegration that forwards to several (Electron + the e2e recorder). */
export class TeeDesktop implements DesktopIntegration {
  constructor(private readonly targets: DesktopIntegration[]) {}
  notify(n: DesktopNotice): void {
    for (const t of this.targets) t.notify(n);
  }
  setTrayState(s: TrayState): void {
    for (const t of this.targets) t.setTrayState(s);
  }
  dispose(): void {
    for (const t of this.targets) t.dispose();
  }
}

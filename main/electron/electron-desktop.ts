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

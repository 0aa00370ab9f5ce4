// DesktopIntegration for Electron: the tray shows TrayState, notices become OS notifications,
// "Save as…" is the native save dialog (what is written there is the core's job: firmware/export.ts).
import { join } from 'node:path';
import { dialog, type BrowserWindow } from 'electron';
import type { DesktopIntegration, DesktopNotice, TrayState } from '../core/desktop';
import type { ElectronNotifier } from './notifications';
import type { TrayController } from './tray';

export class ElectronDesktop implements DesktopIntegration {
  constructor(
    private readonly tray: TrayController,
    private readonly notifier: ElectronNotifier,
    private readonly saveDialog: { window: () => BrowserWindow | null; downloadsDir: () => string } = { window: () => null, downloadsDir: () => '' },
  ) {}

  async chooseSavePath(defaultName: string): Promise<string | null> {
    const dir = this.saveDialog.downloadsDir();
    const opts = { title: 'Save firmware', defaultPath: dir ? join(dir, defaultName) : defaultName };
    const win = this.saveDialog.window();
    // Modal to the window when there is one (the dialog stays on top of the app).
    const r = win && !win.isDestroyed() ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts);
    return r.canceled || !r.filePath ? null : r.filePath;
  }

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
  /** The first target that has a save dialog asks (one dialog, never one per target). */
  chooseSavePath(defaultName: string): Promise<string | null> {
    const t = this.targets.find((x) => typeof x.chooseSavePath === 'function');
    return t?.chooseSavePath?.(defaultName) ?? Promise.resolve(null);
  }
  dispose(): void {
    for (const t of this.targets) t.dispose();
  }
}

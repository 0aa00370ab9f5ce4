// The tray icon (electron.md §7). Linux StatusNotifierItem hosts show an icon only when it has a
// context menu and may never deliver `click`, so every action lives in the menu, the menu is
// always set, and it is rebuilt and set again (setContextMenu) whenever the state changes.
import { Menu, Tray, nativeImage, type MenuItemConstructorOptions, type NativeImage } from 'electron';
import { join } from 'node:path';
import {
  EMPTY_TRAY_STATE,
  sameTrayState,
  trayIconState,
  trayStatusLine,
  trayTooltip,
  type TrayIconState,
  type TrayState,
} from '../core/desktop';

export interface TrayActions {
  openWindow(): void;
  quit(): void;
  /** Absent when the engine has no pause capability: the item is then shown disabled. */
  pauseQueue?: () => void;
  resumeQueue?: () => void;
}

const MAX_JOB_LINES = 3;

/** The tray menu for a state (pure: tested without Electron's Menu). */
export function trayMenuTemplate(state: TrayState, actions: TrayActions): MenuItemConstructorOptions[] {
  const items: MenuItemConstructorOptions[] = [{ label: 'Open Kiln', click: () => actions.openWindow() }, { type: 'separator' }];
  items.push({ label: trayStatusLine(state), enabled: false });
  for (const job of state.current.slice(0, MAX_JOB_LINES)) {
    items.push({ label: `${job.verb} ${job.device} on ${job.where}`, enabled: false });
  }
  if (state.current.length > MAX_JOB_LINES) items.push({ label: `… and ${state.current.length - MAX_JOB_LINES} more`, enabled: false });
  if (state.failed > 0) {
    items.push({ label: `${state.failed} failed — show`, click: () => actions.openWindow() });
  }
  items.push({ type: 'separator' });
  if (state.paused) {
    items.push(actions.resumeQueue ? { label: 'Resume queue', click: () => actions.resumeQueue?.() } : { label: 'Resume queue', enabled: false });
  } else {
    items.push(
      actions.pauseQueue ? { label: 'Pause queue', click: () => actions.pauseQueue?.() } : { label: 'Pause queue (unavailable)', enabled: false },
    );
  }
  items.push({ type: 'separator' }, { label: 'Quit Kiln', click: () => actions.quit() });
  return items;
}

export interface TrayIconSet {
  image(state: TrayIconState): NativeImage;
}

/** Icons from assets/tray (copied to out/main/tray by the build): PNG per state, template on macOS. */
export function trayIconSet(dir: string, platform: NodeJS.Platform = process.platform): TrayIconSet {
  const cache = new Map<TrayIconState, NativeImage>();
  return {
    image(state) {
      let img = cache.get(state);
      if (!img) {
        if (platform === 'darwin') {
          // One template image for every state (macOS tints it); counts go to setTitle.
          img = nativeImage.createFromPath(join(dir, 'trayTemplate.png'));
          img.setTemplateImage(true);
        } else {
          img = nativeImage.createFromPath(join(dir, `${state}-${platform === 'win32' ? 32 : 22}.png`));
        }
        cache.set(state, img);
      }
      return img;
    },
  };
}

export class TrayController {
  private tray: Tray | null = null;
  private state: TrayState = EMPTY_TRAY_STATE;
  private icon: TrayIconState | null = null;

  constructor(
    private readonly icons: TrayIconSet,
    private readonly actions: TrayActions,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  /** Call after app 'ready'. The instance keeps the Tray referenced (else GC removes the icon). */
  create(initial: TrayState = EMPTY_TRAY_STATE): void {
    if (this.tray) return;
    this.state = initial;
    this.icon = trayIconState(initial);
    this.tray = new Tray(this.icons.image(this.icon));
    this.render(true);
  }

  /** Rebuilds tooltip, icon and menu when the state changed. Returns whether anything changed. */
  update(state: TrayState): boolean {
    if (!this.tray) {
      this.state = state;
      return false;
    }
    if (sameTrayState(state, this.state)) return false;
    this.state = state;
    this.render(false);
    return true;
  }

  /** Re-set the menu after the available actions changed (e.g. pause capability appeared). */
  refresh(): void {
    if (this.tray) this.render(true);
  }

  get current(): TrayState {
    return this.state;
  }

  destroy(): void {
    this.tray?.destroy();
    this.tray = null;
  }

  private render(force: boolean): void {
    const tray = this.tray;
    if (!tray) return;
    const icon = trayIconState(this.state);
    if (force || icon !== this.icon) {
      tray.setImage(this.icons.image(icon));
      this.icon = icon;
    }
    tray.setToolTip(trayTooltip(this.state));
    if (this.platform === 'darwin') {
      const active = this.state.running + this.state.queued;
      tray.setTitle(this.state.failed > 0 ? `${active || ''}!` : active ? String(active) : '');
    }
    tray.setContextMenu(Menu.buildFromTemplate(trayMenuTemplate(this.state, this.actions)));
  }
}

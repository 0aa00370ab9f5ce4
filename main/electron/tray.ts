// The tray icon (electron.md §7). Linux StatusNotifierItem hosts show an icon only when it has a
// context menu and may never deliver `click`, so every action lives in the menu, the menu is
// always set, and it is rebuilt and set again (setContextMenu) whenever the state changes.
import { Menu, Tray, nativeImage, type MenuItemConstructorOptions, type NativeImage } from 'electron';
import { join } from 'node:path';
import type { BuildServerRoleState } from '../../preload/contract';
import type { FirmwareJob } from '../core/jobs/model';
import {
  deviceName,
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
  /** Build-server role items (present when the backend has the role). */
  openPairingWindow?: () => void;
  stopBuildServer?: () => void;
}

/** What the tray says about the build-server role. */
export interface TrayBuildServer {
  status: 'off' | 'listening' | 'offline' | 'building';
  port: number | null;
  error: string;
  /** Jobs running for senders right now. */
  building: Array<{ device: string; sender: string }>;
  senders: number;
  connected: number;
}

/** The tray's view of the role; null when this app has no build-server role (peer-link off). */
export function trayBuildServer(role: BuildServerRoleState | null, jobs: readonly FirmwareJob[]): TrayBuildServer | null {
  if (!role) return null;
  const building = jobs
    .filter((j) => j.status === 'running' && j.remote_peer !== '')
    .map((j) => ({ device: deviceName(j), sender: j.remote_peer_label || 'a sender' }));
  const status = !role.enabled ? 'off' : !role.listening ? 'offline' : building.length > 0 ? 'building' : 'listening';
  return {
    status,
    port: role.port,
    error: role.listenError,
    building,
    senders: role.senders.length,
    connected: role.senders.filter((s) => s.connected).length,
  };
}

function buildServerLine(bs: TrayBuildServer): string {
  switch (bs.status) {
    case 'off':
      return 'Build server: off';
    case 'offline':
      return `Build server: not listening${bs.error ? ` (${bs.error.slice(0, 80)})` : ''}`;
    case 'listening':
      return `Build server: listening${bs.port ? ` on port ${bs.port}` : ''}`;
    case 'building': {
      const first = bs.building[0]!;
      const more = bs.building.length > 1 ? ` (+${bs.building.length - 1} more)` : '';
      return `Build server: building ${first.device} for ${first.sender}${more}`;
    }
  }
}

function sendersLine(bs: TrayBuildServer): string {
  if (bs.senders === 0) return 'No paired senders';
  return `${bs.senders} paired sender${bs.senders === 1 ? '' : 's'} (${bs.connected} connected)`;
}

const MAX_JOB_LINES = 3;

/** The tray menu for a state (pure: tested without Electron's Menu). */
export function trayMenuTemplate(state: TrayState, actions: TrayActions, buildServer: TrayBuildServer | null = null): MenuItemConstructorOptions[] {
  const items: MenuItemConstructorOptions[] = [{ label: 'Open Kiln', click: () => actions.openWindow() }, { type: 'separator' }];
  items.push({ label: trayStatusLine(state), enabled: false });
  for (const job of state.current.slice(0, MAX_JOB_LINES)) {
    items.push({ label: `${job.verb} ${job.device} on ${job.where}`, enabled: false });
  }
  if (state.current.length > MAX_JOB_LINES) items.push({ label: `… and ${state.current.length - MAX_JOB_LINES} more`, enabled: false });
  if (state.failed > 0) {
    items.push({ label: `${state.failed} failed — show`, click: () => actions.openWindow() });
  }
  if (buildServer) {
    items.push({ type: 'separator' }, { label: buildServerLine(buildServer), enabled: false }, { label: sendersLine(buildServer), enabled: false });
    const on = buildServer.status !== 'off';
    items.push(
      actions.openPairingWindow && buildServer.status !== 'off' && buildServer.status !== 'offline'
        ? { label: 'Open pairing window', click: () => actions.openPairingWindow?.() }
        : { label: 'Open pairing window', enabled: false },
    );
    if (on) items.push(actions.stopBuildServer ? { label: 'Stop build server', click: () => actions.stopBuildServer?.() } : { label: 'Stop build server', enabled: false });
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

/**
 * Icons from assets/tray (copied to out/main/tray by the build): PNG per state, template on macOS.
 * nativeImage returns an EMPTY image for a wrong path (also inside app.asar): reported once per
 * file, since an empty tray icon is invisible on most desktops.
 */
export function trayIconSet(dir: string, platform: NodeJS.Platform = process.platform, report: (message: string) => void = (m) => console.error(`[kiln] ${m}`)): TrayIconSet {
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
        if (img.isEmpty()) report(`tray icon missing or not an image: ${join(dir, platform === 'darwin' ? 'trayTemplate.png' : `${state}-${platform === 'win32' ? 32 : 22}.png`)}`);
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
  private buildServer: TrayBuildServer | null = null;

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

  /** The build-server section; re-renders only when it changed. */
  setBuildServer(bs: TrayBuildServer | null): boolean {
    if (JSON.stringify(bs) === JSON.stringify(this.buildServer)) return false;
    this.buildServer = bs;
    if (this.tray) this.render(false);
    return true;
  }

  /** The current menu's labels (e2e and diagnostics). */
  menuLabels(): string[] {
    return trayMenuTemplate(this.state, this.actions, this.buildServer).flatMap((i) => (i.label ? [i.label] : []));
  }

  get buildServerState(): TrayBuildServer | null {
    return this.buildServer;
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
    const bs = this.buildServer;
    tray.setToolTip(trayTooltip(this.state) + (bs && bs.status !== 'off' ? ` · ${buildServerLine(bs)}` : ''));
    if (this.platform === 'darwin') {
      const active = this.state.running + this.state.queued;
      tray.setTitle(this.state.failed > 0 ? `${active || ''}!` : active ? String(active) : '');
    }
    tray.setContextMenu(Menu.buildFromTemplate(trayMenuTemplate(this.state, this.actions, this.buildServer)));
  }
}

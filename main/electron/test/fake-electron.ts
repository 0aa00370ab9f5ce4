// Test double for the `electron` module (no Electron binary exists on build/CI machines, and
// `require('electron')` from plain Node throws). Used ONLY by tests under main/electron/test via
//   vi.mock('electron', () => import('./fake-electron'))
// It implements just the surface the shell uses, records what the shell did, and lets a test
// drive events (window focus, notification click, IPC from a frame). Never shipped: the
// electron-builder `files` list excludes test folders and tools/pack-check.mjs asserts it.
import { EventEmitter } from 'node:events';

// ---------------------------------------------------------------------------------------------
// Registry of everything created, reset between tests

export const fake = {
  windows: [] as BrowserWindow[],
  trays: [] as Tray[],
  notifications: [] as Notification[],
  menus: [] as Menu[],
  protocolHandlers: new Map<string, (req: Request) => Response | Promise<Response>>(),
  privilegedSchemes: [] as Array<{ scheme: string; privileges?: Record<string, boolean> }>,
  openedExternal: [] as string[],
  notificationsSupported: true,
  singleInstanceLock: true,
  messageBoxResponses: [] as number[],
  messageBoxes: [] as Array<{ message: string; buttons?: string[] }>,
  quitCalls: 0,
  appUserModelId: '' as string,
};

export function resetFakeElectron(): void {
  fake.windows.length = 0;
  fake.trays.length = 0;
  fake.notifications.length = 0;
  fake.menus.length = 0;
  fake.protocolHandlers.clear();
  fake.privilegedSchemes.length = 0;
  fake.openedExternal.length = 0;
  fake.notificationsSupported = true;
  fake.singleInstanceLock = true;
  fake.messageBoxResponses.length = 0;
  fake.messageBoxes.length = 0;
  fake.quitCalls = 0;
  fake.appUserModelId = '';
  app.removeAllListeners();
  ipcMain.removeAllListeners();
  ipcMain.handlers.clear();
  defaultSession.reset();
  contextBridge.exposed.clear();
  ipcRenderer.reset();
}

// ---------------------------------------------------------------------------------------------
// app

class FakeApp extends EventEmitter {
  isPackaged = false;
  appPath = '/fake/app';
  private readyResolve!: () => void;
  private readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  requestSingleInstanceLock(): boolean {
    return fake.singleInstanceLock;
  }
  whenReady(): Promise<void> {
    return this.ready;
  }
  private readyFlag = false;
  isReady(): boolean {
    return this.readyFlag;
  }
  markReady(): void {
    this.readyFlag = true;
    this.readyResolve();
    this.emit('ready');
  }
  setAppUserModelId(id: string): void {
    fake.appUserModelId = id;
  }
  getAppPath(): string {
    return this.appPath;
  }
  getPath(name: string): string {
    return `/fake/${name}`;
  }
  getVersion(): string {
    return '0.0.0-test';
  }
  quit(): void {
    fake.quitCalls++;
    this.emit('before-quit', { preventDefault() {} });
  }
  exit(): void {
    fake.quitCalls++;
  }
  focus(): void {}
}
export const app = new FakeApp();

// ---------------------------------------------------------------------------------------------
// Frames, webContents, windows, sessions

export class WebFrameMain {
  readonly posted: Array<{ channel: string; message: unknown; transfer: MessagePortMain[] }> = [];
  constructor(
    public url: string,
    public parent: WebFrameMain | null = null,
  ) {}
  postMessage(channel: string, message: unknown, transfer: MessagePortMain[] = []): void {
    this.posted.push({ channel, message, transfer });
  }
  get origin(): string {
    try {
      const u = new URL(this.url);
      // Chromium serialises a standard custom scheme's origin as scheme://host.
      return u.protocol === 'app:' ? `app://${u.host}` : u.origin;
    } catch {
      return 'null';
    }
  }
}

class FakeSession {
  permissionRequestHandler: ((wc: unknown, permission: string, cb: (granted: boolean) => void, details: unknown) => void) | null = null;
  permissionCheckHandler: ((wc: unknown, permission: string, origin: string, details: unknown) => boolean) | null = null;
  devicePermissionHandler: ((details: unknown) => boolean) | null = null;
  setPermissionRequestHandler(h: FakeSession['permissionRequestHandler']): void {
    this.permissionRequestHandler = h;
  }
  setPermissionCheckHandler(h: FakeSession['permissionCheckHandler']): void {
    this.permissionCheckHandler = h;
  }
  setDevicePermissionHandler(h: FakeSession['devicePermissionHandler']): void {
    this.devicePermissionHandler = h;
  }
  reset(): void {
    this.permissionRequestHandler = null;
    this.permissionCheckHandler = null;
    this.devicePermissionHandler = null;
  }
}
const defaultSession = new FakeSession();
export const session = { defaultSession };

let nextWebContentsId = 1;
export class WebContents extends EventEmitter {
  readonly id = nextWebContentsId++;
  readonly session = defaultSession;
  readonly mainFrame: WebFrameMain;
  windowOpenHandler: ((details: { url: string }) => { action: 'deny' | 'allow' }) | null = null;
  readonly posted: Array<{ channel: string; message: unknown; transfer: MessagePortMain[] }> = [];
  readonly sent: Array<{ channel: string; args: unknown[] }> = [];
  destroyed = false;
  constructor(url = 'app://kiln/index.html') {
    super();
    this.mainFrame = new WebFrameMain(url);
  }
  setWindowOpenHandler(h: NonNullable<WebContents['windowOpenHandler']>): void {
    this.windowOpenHandler = h;
  }
  postMessage(channel: string, message: unknown, transfer: MessagePortMain[] = []): void {
    this.posted.push({ channel, message, transfer });
  }
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  getURL(): string {
    return this.mainFrame.url;
  }
  /** Test helper: emits a cancellable navigation-like event; returns whether it was prevented. */
  fireNavigation(event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', url: string): boolean {
    let prevented = false;
    const details = { url, preventDefault: () => (prevented = true) };
    this.emit(event, details, url);
    return prevented;
  }
}

export class BrowserWindow extends EventEmitter {
  static getAllWindows(): BrowserWindow[] {
    return fake.windows.filter((w) => !w.destroyed);
  }
  readonly webContents: WebContents;
  loadedUrl = '';
  visible = false;
  focused = false;
  minimized = false;
  destroyed = false;
  constructor(public readonly options: Record<string, unknown> = {}) {
    super();
    this.webContents = new WebContents();
    fake.windows.push(this);
    app.emit('web-contents-created', { preventDefault() {} }, this.webContents);
  }
  async loadURL(url: string): Promise<void> {
    this.loadedUrl = url;
    this.webContents.mainFrame.url = url;
  }
  show(): void {
    this.visible = true;
    this.emit('show');
  }
  hide(): void {
    this.visible = false;
    this.focused = false;
    this.emit('hide');
  }
  focus(): void {
    this.visible = true;
    this.focused = true;
    this.emit('focus');
  }
  blur(): void {
    this.focused = false;
    this.emit('blur');
  }
  restore(): void {
    this.minimized = false;
    this.emit('restore');
  }
  minimize(): void {
    this.minimized = true;
    this.focused = false;
  }
  isVisible(): boolean {
    return this.visible;
  }
  isFocused(): boolean {
    return this.focused;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  /** Test helper: the user clicks the close button; returns whether the close was prevented. */
  userClose(): boolean {
    let prevented = false;
    this.emit('close', { preventDefault: () => (prevented = true) });
    if (!prevented) this.destroy();
    return prevented;
  }
  close(): void {
    this.userClose();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.webContents.destroyed = true;
    this.emit('closed');
  }
}

// ---------------------------------------------------------------------------------------------
// IPC

export class IpcMainEventLike {
  returnValue: unknown;
  constructor(
    public readonly sender: WebContents,
    public readonly senderFrame: WebFrameMain | null,
    public readonly ports: MessagePortMain[] = [],
  ) {}
}

class FakeIpcMain extends EventEmitter {
  readonly handlers = new Map<string, (event: IpcMainEventLike, ...args: unknown[]) => unknown>();
  handle(channel: string, fn: (event: IpcMainEventLike, ...args: unknown[]) => unknown): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, fn);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** Test helper: renderer → main `ipcRenderer.send`. */
  simulateSend(channel: string, event: IpcMainEventLike, ...args: unknown[]): void {
    this.emit(channel, event, ...args);
  }
  /** Test helper: renderer → main `ipcRenderer.invoke`; rejects like Electron when the handler throws. */
  async simulateInvoke(channel: string, event: IpcMainEventLike, ...args: unknown[]): Promise<unknown> {
    const h = this.handlers.get(channel);
    if (!h) throw new Error(`No handler registered for '${channel}'`);
    return await h(event, ...args);
  }
}
export const ipcMain = new FakeIpcMain();

export class MessagePortMain extends EventEmitter {
  other: MessagePortMain | null = null;
  started = false;
  closed = false;
  private readonly backlog: unknown[] = [];
  postMessage(message: unknown): void {
    if (this.closed) return;
    // structured clone, like the real port
    const copy = structuredClone(message);
    const peer = this.other;
    if (!peer || peer.closed) return;
    queueMicrotask(() => peer.deliver(copy));
  }
  private deliver(data: unknown): void {
    if (this.closed) return;
    if (!this.started) {
      this.backlog.push(data);
      return;
    }
    this.emit('message', { data, ports: [] });
  }
  start(): void {
    this.started = true;
    for (const data of this.backlog.splice(0)) this.emit('message', { data, ports: [] });
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
    const peer = this.other;
    if (peer && !peer.closed) queueMicrotask(() => peer.close());
  }
}
export class MessageChannelMain {
  readonly port1 = new MessagePortMain();
  readonly port2 = new MessagePortMain();
  constructor() {
    this.port1.other = this.port2;
    this.port2.other = this.port1;
  }
}

// ---------------------------------------------------------------------------------------------
// protocol

export const protocol = {
  registerSchemesAsPrivileged(schemes: Array<{ scheme: string; privileges?: Record<string, boolean> }>): void {
    fake.privilegedSchemes.push(...schemes);
  },
  handle(scheme: string, handler: (req: Request) => Response | Promise<Response>): void {
    fake.protocolHandlers.set(scheme, handler);
  },
  unhandle(scheme: string): void {
    fake.protocolHandlers.delete(scheme);
  },
};

// ---------------------------------------------------------------------------------------------
// Tray, Menu, nativeImage, Notification, shell, dialog

export class NativeImage {
  template = false;
  constructor(public readonly path: string) {}
  isEmpty(): boolean {
    return this.path === '';
  }
  setTemplateImage(on: boolean): void {
    this.template = on;
  }
}
export const nativeImage = {
  createFromPath: (p: string) => new NativeImage(p),
  createEmpty: () => new NativeImage(''),
};

export interface FakeMenuItem {
  label?: string;
  type?: string;
  enabled?: boolean;
  click?: () => void;
  role?: string;
}
export class Menu {
  static buildFromTemplate(template: FakeMenuItem[]): Menu {
    const m = new Menu(template);
    fake.menus.push(m);
    return m;
  }
  constructor(public readonly items: FakeMenuItem[]) {}
}

export class Tray extends EventEmitter {
  image: NativeImage | string;
  tooltip = '';
  title = '';
  menu: Menu | null = null;
  setContextMenuCalls = 0;
  destroyed = false;
  constructor(image: NativeImage | string) {
    super();
    this.image = image;
    fake.trays.push(this);
  }
  setImage(image: NativeImage | string): void {
    this.image = image;
  }
  setToolTip(t: string): void {
    this.tooltip = t;
  }
  setTitle(t: string): void {
    this.title = t;
  }
  setContextMenu(menu: Menu | null): void {
    this.menu = menu;
    this.setContextMenuCalls++;
  }
  destroy(): void {
    this.destroyed = true;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
}

export class Notification extends EventEmitter {
  static isSupported(): boolean {
    return fake.notificationsSupported;
  }
  shown = false;
  closed = false;
  constructor(public readonly options: { title?: string; body?: string; [k: string]: unknown } = {}) {
    super();
    fake.notifications.push(this);
  }
  show(): void {
    this.shown = true;
    this.emit('show');
  }
  close(): void {
    this.closed = true;
    this.emit('close');
  }
}

export const shell = {
  async openExternal(url: string): Promise<void> {
    fake.openedExternal.push(url);
  },
};

export const dialog = {
  async showMessageBox(
    winOrOpts: unknown,
    maybeOpts?: { message: string; buttons?: string[] },
  ): Promise<{ response: number; checkboxChecked: boolean }> {
    // (window, options) or (options), like Electron
    const opts = (maybeOpts ?? winOrOpts) as { message: string; buttons?: string[] };
    fake.messageBoxes.push({ message: opts.message, buttons: opts.buttons });
    return { response: fake.messageBoxResponses.shift() ?? 0, checkboxChecked: false };
  },
};

// ---------------------------------------------------------------------------------------------
// Renderer-side (preload) surface

export const contextBridge = {
  exposed: new Map<string, unknown>(),
  exposeInMainWorld(key: string, api: unknown): void {
    if (this.exposed.has(key)) throw new Error(`Cannot bind an API on top of an existing property: ${key}`);
    this.exposed.set(key, api);
  },
};

class FakeIpcRenderer extends EventEmitter {
  sent: Array<{ channel: string; args: unknown[] }> = [];
  invoked: Array<{ channel: string; args: unknown[] }> = [];
  invokeResult: (channel: string, args: unknown[]) => unknown = () => undefined;
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  async invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invoked.push({ channel, args });
    return this.invokeResult(channel, args);
  }
  reset(): void {
    this.removeAllListeners();
    this.sent = [];
    this.invoked = [];
    this.invokeResult = () => undefined;
  }
}
export const ipcRenderer = new FakeIpcRenderer();

export const webUtils = {
  /** Real Electron: '' for JS-constructed File objects, the disk path for picked/dropped files. */
  getPathForFile(file: { fakePath?: string }): string {
    if (typeof file !== 'object' || file === null) throw new TypeError('getPathForFile expects a File');
    return file.fakePath ?? '';
  },
};

export default {
  app,
  BrowserWindow,
  ipcMain,
  MessageChannelMain,
  protocol,
  session,
  Tray,
  Menu,
  nativeImage,
  Notification,
  shell,
  dialog,
  contextBridge,
  ipcRenderer,
  webUtils,
};

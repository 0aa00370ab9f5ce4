// Test double for the `electron` module (no Electron binary exists on build/CI machines, and
// `require('electron')` from plain Node throws). Used ONLY by tests under main/electron/test via
//   vi.mock('electron', () => import('./fake-electron'))
// It implements the surface the shell uses, records what the shell did, and lets a test drive
// user actions (window close, notification click, IPC from a frame). Never shipped: the
// electron-builder `files` list excludes test folders and tools/pack-check.mjs asserts it.
//
// Faithful to Electron 45 where a shell bug would otherwise hide (each has a test of the double
// in fake-electron.test.ts):
// - the app becomes ready ON ITS OWN, a task after the main script's synchronous part, with
//   `will-finish-launching` first and any `open-file` the OS handed over BEFORE `ready`
//   (resetFakeElectron({ openFiles })); registerSchemesAsPrivileged after ready throws;
// - app.quit(): `before-quit` (cancellable) → every window gets `close` (cancellable; a prevented
//   close aborts the quit) → `will-quit` (cancellable) → `quit` → exit. No `window-all-closed`
//   while quitting; app.exit() closes windows without events and exits at once;
// - destroyed BrowserWindow / WebContents / Tray throw "Object has been destroyed";
// - MessagePortMain `close` fires on the REMOTE end only ("Emitted when the remote end … becomes
//   disconnected"), and ports handed to a page close when its WebContents is destroyed;
// - nativeImage / contextBridge: see fake-electron-ui.ts.
import { EventEmitter } from 'node:events';
import { assertAlive, cancellable, fake } from './fake-registry';
import { Menu, Notification, Tray, contextBridge, defaultSession, dialog, ipcRenderer, nativeImage, session, shell, webUtils } from './fake-electron-ui';

export { fake, DESTROYED, type FakeLoginItem } from './fake-registry';
export * from './fake-electron-ui';

export interface FakeLaunch {
  /** Files the OS hands over at launch (macOS "Open with"): `open-file` before `ready`. */
  openFiles?: string[];
}

export function resetFakeElectron(launch: FakeLaunch = {}): void {
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
  fake.saveDialogResults.length = 0;
  fake.saveDialogs.length = 0;
  fake.quitCalls = 0;
  fake.exitCode = null;
  fake.lifecycle.length = 0;
  fake.appUserModelId = '';
  fake.loginItem = { openAtLogin: false, openAsHidden: false, args: [] };
  app.removeAllListeners();
  ipcMain.removeAllListeners();
  ipcMain.handlers.clear();
  defaultSession.reset();
  contextBridge.exposed.clear();
  ipcRenderer.reset();
  app.launch(launch);
}

// ---------------------------------------------------------------------------------------------
// app

class FakeApp extends EventEmitter {
  isPackaged = false;
  appPath = '/fake/app';
  private readyFlag = false;
  private readyPromise: Promise<void> = Promise.resolve();
  private generation = 0;
  private quitting = false;
  private exiting = false;

  constructor() {
    super();
    this.launch({});
  }

  /** Simulated process start (called by resetFakeElectron): ready follows on its own. */
  launch(opts: FakeLaunch): void {
    const gen = ++this.generation;
    this.readyFlag = false;
    this.quitting = false;
    this.exiting = false;
    let resolve!: () => void;
    this.readyPromise = new Promise<void>((r) => (resolve = r));
    // setImmediate: after the synchronous part of the main script and its microtasks, like
    // Electron's ready which comes from the browser process's message loop.
    setImmediate(() => {
      if (gen !== this.generation) return;
      this.record('will-finish-launching');
      this.emit('will-finish-launching');
      for (const path of opts.openFiles ?? []) {
        this.record(`open-file ${path}`);
        this.emit('open-file', cancellable(), path);
      }
      this.readyFlag = true;
      this.record('ready');
      resolve();
      this.emit('ready', {}, {});
    });
  }
  private record(what: string): void {
    fake.lifecycle.push(what);
  }
  requestSingleInstanceLock(): boolean {
    return fake.singleInstanceLock;
  }
  whenReady(): Promise<void> {
    return this.readyPromise;
  }
  isReady(): boolean {
    return this.readyFlag;
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
  setLoginItemSettings(s: Partial<{ openAtLogin: boolean; openAsHidden: boolean; args: string[] }>): void {
    fake.loginItem = { ...fake.loginItem, ...s, args: s.args ? [...s.args] : fake.loginItem.args };
  }
  getLoginItemSettings(): { openAtLogin: boolean; openAsHidden: boolean; wasOpenedAtLogin: boolean; wasOpenedAsHidden: boolean } {
    return { openAtLogin: fake.loginItem.openAtLogin, openAsHidden: fake.loginItem.openAsHidden, wasOpenedAtLogin: false, wasOpenedAsHidden: false };
  }
  /** Electron's Browser::Quit: before-quit → close every window → will-quit → quit → exit. */
  quit(): void {
    fake.quitCalls++;
    if (this.exiting || fake.exitCode !== null) return;
    const ev = cancellable();
    this.record('before-quit');
    this.emit('before-quit', ev);
    if (ev.defaultPrevented) return;
    this.quitting = true;
    const open = BrowserWindow.getAllWindows();
    if (open.length === 0) {
      setImmediate(() => this.notifyAndShutdown());
      return;
    }
    for (const w of open) {
      if (w.isDestroyed()) continue;
      if (w.close() === false) {
        // A window refused: Electron cancels the quit (Browser::OnWindowCloseCancelled).
        this.quitting = false;
        this.record('quit-cancelled-by-window');
        return;
      }
    }
  }
  /** Called by BrowserWindow when it is destroyed. */
  windowClosed(): void {
    if (this.exiting || BrowserWindow.getAllWindows().length > 0) return;
    if (this.quitting) {
      setImmediate(() => this.notifyAndShutdown());
      return;
    }
    this.record('window-all-closed');
    // Electron's default without a listener: quit.
    if (this.listenerCount('window-all-closed') === 0) this.quit();
    else this.emit('window-all-closed');
  }
  private notifyAndShutdown(): void {
    if (!this.quitting || fake.exitCode !== null) return;
    const ev = cancellable();
    this.record('will-quit');
    this.emit('will-quit', ev);
    if (ev.defaultPrevented) {
      this.quitting = false;
      return;
    }
    this.record('quit');
    this.emit('quit', {}, 0);
    fake.exitCode = 0;
  }
  /** Ends at once: windows closed without asking, no before-quit / will-quit. */
  exit(code = 0): void {
    if (fake.exitCode !== null) return;
    this.exiting = true;
    for (const w of BrowserWindow.getAllWindows()) w.destroy();
    this.record(`exit ${code}`);
    fake.exitCode = code;
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
    readonly owner: WebContents | null = null,
  ) {}
  postMessage(channel: string, message: unknown, transfer: MessagePortMain[] = []): void {
    if (this.owner) assertAlive(this.owner);
    for (const p of transfer) this.owner?.adopt(p);
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


let nextWebContentsId = 1;
export class WebContents extends EventEmitter {
  readonly id = nextWebContentsId++;
  readonly session = defaultSession;
  readonly mainFrame: WebFrameMain;
  windowOpenHandler: ((details: { url: string }) => { action: 'deny' | 'allow' }) | null = null;
  readonly posted: Array<{ channel: string; message: unknown; transfer: MessagePortMain[] }> = [];
  readonly sent: Array<{ channel: string; args: unknown[] }> = [];
  private dead = false;
  /** Ports transferred to this page: they die with it. */
  private readonly ports = new Set<MessagePortMain>();
  constructor(url = 'app://kiln/index.html') {
    super();
    this.mainFrame = new WebFrameMain(url, null, this);
  }
  adopt(port: MessagePortMain): void {
    this.ports.add(port);
  }
  setWindowOpenHandler(h: NonNullable<WebContents['windowOpenHandler']>): void {
    assertAlive(this);
    this.windowOpenHandler = h;
  }
  postMessage(channel: string, message: unknown, transfer: MessagePortMain[] = []): void {
    assertAlive(this);
    for (const p of transfer) this.adopt(p);
    this.posted.push({ channel, message, transfer });
  }
  send(channel: string, ...args: unknown[]): void {
    assertAlive(this);
    this.sent.push({ channel, args });
  }
  isDestroyed(): boolean {
    return this.dead;
  }
  getURL(): string {
    assertAlive(this);
    return this.mainFrame.url;
  }
  /** Test helper: the page reloads; its ports are gone (main's ends see `close`). */
  reload(): void {
    assertAlive(this);
    for (const p of this.ports) p.close();
    this.ports.clear();
  }
  /** Called by the window. */
  destroyContents(): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of this.ports) p.close();
    this.ports.clear();
    this.emit('destroyed');
  }
  /** Test helper: emits a cancellable navigation-like event; returns whether it was prevented. */
  fireNavigation(event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', url: string): boolean {
    const details = cancellable({ url });
    this.emit(event, details, url);
    return details.defaultPrevented;
  }
}

export class BrowserWindow extends EventEmitter {
  static getAllWindows(): BrowserWindow[] {
    return fake.windows.filter((w) => !w.isDestroyed());
  }
  private readonly contents: WebContents;
  loadedUrl = '';
  private visible = false;
  private focused = false;
  private minimized = false;
  private dead = false;
  constructor(public readonly options: Record<string, unknown> = {}) {
    super();
    this.contents = new WebContents();
    fake.windows.push(this);
    app.emit('web-contents-created', cancellable(), this.contents);
  }
  get webContents(): WebContents {
    assertAlive(this);
    return this.contents;
  }
  async loadURL(url: string): Promise<void> {
    assertAlive(this);
    this.loadedUrl = url;
    this.contents.mainFrame.url = url;
    setImmediate(() => {
      if (!this.dead) this.emit('ready-to-show');
    });
  }
  show(): void {
    assertAlive(this);
    this.visible = true;
    this.emit('show');
  }
  hide(): void {
    assertAlive(this);
    this.visible = false;
    this.focused = false;
    this.emit('hide');
  }
  focus(): void {
    assertAlive(this);
    this.visible = true;
    this.focused = true;
    this.emit('focus');
  }
  blur(): void {
    assertAlive(this);
    this.focused = false;
    this.emit('blur');
  }
  restore(): void {
    assertAlive(this);
    this.minimized = false;
    this.emit('restore');
  }
  minimize(): void {
    assertAlive(this);
    this.minimized = true;
    this.focused = false;
    this.emit('minimize');
  }
  isVisible(): boolean {
    assertAlive(this);
    return this.visible;
  }
  isFocused(): boolean {
    assertAlive(this);
    return this.focused;
  }
  isMinimized(): boolean {
    assertAlive(this);
    return this.minimized;
  }
  isDestroyed(): boolean {
    return this.dead;
  }
  /** Test helper: the user clicks the close button; returns whether the close was prevented. */
  userClose(): boolean {
    return !this.close();
  }
  /** Emits a cancellable `close`; destroys the window unless prevented. Returns whether it closed. */
  close(): boolean {
    assertAlive(this);
    const ev = cancellable();
    this.emit('close', ev);
    if (ev.defaultPrevented) return false;
    this.destroy();
    return true;
  }
  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.visible = false;
    this.focused = false;
    this.contents.destroyContents();
    this.emit('closed');
    app.windowClosed();
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
  /** Test helper: renderer → main `ipcRenderer.send` (dropped, like Electron, when nobody listens). */
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
  private readonly queue: unknown[] = [];
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
      this.queue.push(data);
      return;
    }
    this.emit('message', { data, ports: [] });
  }
  start(): void {
    this.started = true;
    for (const data of this.queue.splice(0)) this.emit('message', { data, ports: [] });
  }
  /** Disentangles. `close` is NOT emitted here: only the remote end hears it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    const peer = this.other;
    if (peer && !peer.closed) queueMicrotask(() => peer.remoteClosed());
  }
  private remoteClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
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
    // Electron: "This method can only be used before the ready event of the app module gets emitted".
    if (app.isReady()) throw new Error('protocol.registerSchemesAsPrivileged should be called before app is ready');
    fake.privilegedSchemes.push(...schemes);
  },
  handle(scheme: string, handler: (req: Request) => Response | Promise<Response>): void {
    fake.protocolHandlers.set(scheme, handler);
  },
  unhandle(scheme: string): void {
    fake.protocolHandlers.delete(scheme);
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

// Test double, part 2: session, Tray, Menu, nativeImage, Notification, shell, dialog and the renderer-side
// (preload) surface. Faithful to Electron 45 where a shell bug would hide otherwise:
// - nativeImage.createFromPath returns an EMPTY image when the file is missing or not an image
//   (Electron docs: "returns an empty image if the path does not exist, cannot be read, or is not
//   a valid image"), so a wrong icon path shows up in tests;
// - a destroyed Tray throws "Object has been destroyed" from its methods;
// - contextBridge.exposeInMainWorld COPIES the API into the page world (functions proxied,
//   objects copied without prototypes, the result deep-frozen), it never hands over references.
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { assertAlive, fake } from './fake-registry';

// ---------------------------------------------------------------------------------------------
// session (permission handlers)

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
export const defaultSession = new FakeSession();
export const session = { defaultSession };

// ---------------------------------------------------------------------------------------------
// nativeImage

export class NativeImage {
  template = false;
  constructor(
    public readonly path: string,
    private readonly size: { width: number; height: number } | null,
  ) {}
  isEmpty(): boolean {
    return this.size === null;
  }
  getSize(): { width: number; height: number } {
    return this.size ?? { width: 0, height: 0 };
  }
  setTemplateImage(on: boolean): void {
    this.template = on;
  }
  isTemplateImage(): boolean {
    return this.template;
  }
}

const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width/height of a PNG (IHDR) or a JPEG marker; null when the file is not a readable image. */
function imageSize(path: string): { width: number; height: number } | null {
  if (!isAbsolute(path)) return null;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(24);
    const n = readSync(fd, head, 0, 24, 0);
    if (n >= 24 && head.subarray(0, 8).equals(PNG_SIG)) return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
    if (n >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return { width: 1, height: 1 };
    return null;
  } finally {
    closeSync(fd);
  }
}

export const nativeImage = {
  createFromPath: (p: string) => new NativeImage(p, imageSize(p)),
  createEmpty: () => new NativeImage('', null),
};

// ---------------------------------------------------------------------------------------------
// Menu, Tray

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
  private img: NativeImage | string;
  private tip = '';
  private ttl = '';
  private ctxMenu: Menu | null = null;
  setContextMenuCalls = 0;
  private dead = false;
  constructor(image: NativeImage | string) {
    super();
    this.img = image;
    fake.trays.push(this);
  }
  // Test-side readers (not Electron API): readable after destroy for assertions.
  get image(): NativeImage | string {
    return this.img;
  }
  get tooltip(): string {
    return this.tip;
  }
  get title(): string {
    return this.ttl;
  }
  get menu(): Menu | null {
    return this.ctxMenu;
  }
  get destroyed(): boolean {
    return this.dead;
  }
  setImage(image: NativeImage | string): void {
    assertAlive(this);
    this.img = image;
  }
  setToolTip(t: string): void {
    assertAlive(this);
    this.tip = t;
  }
  setTitle(t: string): void {
    assertAlive(this);
    this.ttl = t;
  }
  setContextMenu(menu: Menu | null): void {
    assertAlive(this);
    this.ctxMenu = menu;
    this.setContextMenuCalls++;
  }
  destroy(): void {
    // Electron: destroy() on a destroyed tray is a no-op.
    this.dead = true;
  }
  isDestroyed(): boolean {
    return this.dead;
  }
}

// ---------------------------------------------------------------------------------------------
// Notification, shell, dialog

export class Notification extends EventEmitter {
  static isSupported(): boolean {
    return fake.notificationsSupported;
  }
  shown = false;
  closed = false;
  constructor(public readonly options: Electron.NotificationConstructorOptions = {}) {
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
  /**
   * Electron 45: (window, options) or (options); resolves { canceled, filePath } where filePath is
   * '' when cancelled.
   */
  async showSaveDialog(winOrOpts: unknown, maybeOpts?: { defaultPath?: string; title?: string }): Promise<{ canceled: boolean; filePath: string }> {
    const opts = (maybeOpts ?? winOrOpts) as { defaultPath?: string; title?: string };
    fake.saveDialogs.push({ defaultPath: opts.defaultPath, title: opts.title, withParent: maybeOpts !== undefined });
    const chosen = fake.saveDialogResults.shift();
    return chosen === undefined ? { canceled: true, filePath: '' } : { canceled: false, filePath: chosen };
  },
};

// ---------------------------------------------------------------------------------------------
// Renderer-side (preload) surface

/**
 * What crossing the context bridge does to a value (Electron "contextBridge" docs, parameter /
 * error / return type support): primitives pass, functions are proxied (their arguments and
 * results cross again), promises resolve to copies, errors keep only their message, arrays and
 * objects are copied key by key with prototypes dropped. Values the double cannot know (DOM
 * objects) are copied like objects.
 */
export function copyAcrossBridge(value: unknown, depth = 0): unknown {
  if (depth > 1000) throw new Error('object graph too deep to cross the context bridge');
  if (typeof value === 'function') {
    const fn = value as (...a: unknown[]) => unknown;
    return (...args: unknown[]) => copyAcrossBridge(fn(...args.map((a) => copyAcrossBridge(a, depth + 1))), depth + 1);
  }
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Promise) return value.then((v) => copyAcrossBridge(v, depth + 1));
  if (value instanceof Error) return new Error(value.message);
  if (Array.isArray(value)) return value.map((v) => copyAcrossBridge(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) out[k] = copyAcrossBridge((value as Record<string, unknown>)[k], depth + 1);
  return out;
}

function deepFreeze<T>(v: T): T {
  if (v && (typeof v === 'object' || typeof v === 'function') && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

export const contextBridge = {
  /** What the page sees (window[key]): a deep-frozen copy, never the preload's object. */
  exposed: new Map<string, unknown>(),
  exposeInMainWorld(key: string, api: unknown): void {
    if (this.exposed.has(key)) throw new Error(`Cannot bind an API on top of an existing property on the window object`);
    this.exposed.set(key, deepFreeze(copyAcrossBridge(api)));
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

// The test double itself, against what Electron 45 does (docs and the shell's past bugs): if the
// double drifts from Electron in these respects, the shell's tests stop catching real bugs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../../test/support/wait-until';
import {
  BrowserWindow,
  DESTROYED,
  MessageChannelMain,
  Tray,
  app,
  contextBridge,
  fake,
  nativeImage,
  protocol,
  resetFakeElectron,
} from './fake-electron';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-fake-electron-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeEach(() => resetFakeElectron());

describe('fake electron: nativeImage', () => {
  it('is empty for a missing file, a relative path or a file that is not an image; sized for a real PNG', () => {
    expect(nativeImage.createFromPath(join(tmp, 'nope.png')).isEmpty()).toBe(true);
    writeFileSync(join(tmp, 'text.png'), 'not a png');
    expect(nativeImage.createFromPath(join(tmp, 'text.png')).isEmpty()).toBe(true);
    expect(nativeImage.createFromPath('assets/tray/idle-22.png').isEmpty()).toBe(true);
    const real = nativeImage.createFromPath(resolve('assets/tray/idle-22.png'));
    expect(real.isEmpty()).toBe(false);
    expect(real.getSize()).toEqual({ width: 22, height: 22 });
    expect(nativeImage.createEmpty().isEmpty()).toBe(true);
  });
});

describe('fake electron: destroyed objects', () => {
  it('a destroyed window, its webContents and a destroyed tray throw "Object has been destroyed"', () => {
    const win = new BrowserWindow();
    const contents = win.webContents;
    win.destroy();
    expect(win.isDestroyed()).toBe(true);
    expect(() => win.focus()).toThrow(DESTROYED);
    expect(() => win.isVisible()).toThrow(DESTROYED);
    expect(() => win.webContents).toThrow(DESTROYED);
    expect(() => contents.send('x')).toThrow(DESTROYED);
    expect(() => contents.mainFrame.postMessage('x', null)).toThrow(DESTROYED);
    const tray = new Tray(nativeImage.createEmpty());
    tray.destroy();
    expect(() => tray.setContextMenu(null)).toThrow(DESTROYED);
    expect(() => tray.setToolTip('x')).toThrow(DESTROYED);
  });

  it('webContents emits destroyed with its window', () => {
    const win = new BrowserWindow();
    let destroyed = 0;
    win.webContents.on('destroyed', () => destroyed++);
    win.destroy();
    expect(destroyed).toBe(1);
  });
});

describe('fake electron: quit sequence', () => {
  it('before-quit → each window close → will-quit → quit; no window-all-closed while quitting', async () => {
    await app.whenReady();
    const win = new BrowserWindow();
    const seen: string[] = [];
    app.on('before-quit', () => seen.push('before-quit'));
    app.on('window-all-closed', () => seen.push('window-all-closed'));
    win.on('close', () => seen.push('close'));
    win.on('closed', () => seen.push('closed'));
    app.on('will-quit', () => seen.push('will-quit'));
    app.on('quit', () => seen.push('quit'));
    app.quit();
    await waitUntil(() => fake.exitCode !== null);
    expect(seen).toEqual(['before-quit', 'close', 'closed', 'will-quit', 'quit']);
    expect(fake.exitCode).toBe(0);
  });

  it('a window that prevents close cancels the quit; a prevented will-quit cancels it too', async () => {
    await app.whenReady();
    const win = new BrowserWindow();
    win.once('close', (e: { preventDefault(): void }) => e.preventDefault());
    app.quit();
    expect(win.isDestroyed()).toBe(false);
    expect(fake.lifecycle).toContain('quit-cancelled-by-window');
    let willQuit = 0;
    app.once('will-quit', (e: { preventDefault(): void }) => {
      willQuit++;
      e.preventDefault();
    });
    app.quit();
    await waitUntil(() => willQuit === 1);
    expect(fake.exitCode).toBeNull();
    // the shell's deferred exit after cleanup
    app.exit(0);
    expect(fake.exitCode).toBe(0);
  });

  it('closing the last window outside a quit emits window-all-closed (and quits by default when nobody listens)', async () => {
    await app.whenReady();
    const seen: string[] = [];
    app.on('window-all-closed', () => seen.push('window-all-closed'));
    new BrowserWindow().close();
    expect(seen).toEqual(['window-all-closed']);
    expect(fake.quitCalls).toBe(0);
    resetFakeElectron();
    await app.whenReady();
    new BrowserWindow().close();
    expect(fake.quitCalls).toBe(1);
  });
});

describe('fake electron: launch', () => {
  it('becomes ready by itself after the synchronous start; open-file from the OS comes before ready', async () => {
    resetFakeElectron({ openFiles: ['/Users/me/kitchen.yaml'] });
    const seen: string[] = [];
    app.on('open-file', (_e: unknown, p: string) => seen.push(`open-file ${p} ready=${app.isReady()}`));
    app.on('ready', () => seen.push('ready'));
    expect(app.isReady()).toBe(false);
    await app.whenReady();
    expect(seen).toEqual(['open-file /Users/me/kitchen.yaml ready=false', 'ready']);
    expect(fake.lifecycle).toEqual(['will-finish-launching', 'open-file /Users/me/kitchen.yaml', 'ready']);
  });

  it('registerSchemesAsPrivileged after ready throws', async () => {
    protocol.registerSchemesAsPrivileged([{ scheme: 'early' }]);
    await app.whenReady();
    expect(() => protocol.registerSchemesAsPrivileged([{ scheme: 'late' }])).toThrow(/before app is ready/);
  });
});

describe('fake electron: MessagePortMain', () => {
  it('close fires on the remote end only; ports given to a page close when it is destroyed', async () => {
    const { port1, port2 } = new MessageChannelMain();
    const closes: string[] = [];
    port1.on('close', () => closes.push('port1'));
    port2.on('close', () => closes.push('port2'));
    port1.close();
    await waitUntil(() => closes.length > 0);
    expect(closes).toEqual(['port2']);

    const win = new BrowserWindow();
    const ch = new MessageChannelMain();
    let mainEndClosed = false;
    ch.port1.on('close', () => (mainEndClosed = true));
    win.webContents.mainFrame.postMessage('rpc:port', null, [ch.port2]);
    win.destroy();
    await waitUntil(() => mainEndClosed);
  });
});

describe('fake electron: contextBridge', () => {
  it('copies the API (no shared references, prototypes dropped, results copied) and freezes it', () => {
    class Api {
      list = [1, 2];
      get kind() {
        return 'api';
      }
      make() {
        return { made: true };
      }
    }
    const shared = { count: 1, api: new Api(), echo: (o: { n: number }) => o };
    contextBridge.exposeInMainWorld('thing', shared);
    const seen = contextBridge.exposed.get('thing') as { count: number; api: { list: number[]; make?: unknown }; echo(o: { n: number }): { n: number } };
    shared.count = 2;
    expect(seen.count).toBe(1);
    expect(seen).not.toBe(shared);
    expect(Object.getPrototypeOf(seen.api)).toBe(Object.prototype);
    expect(seen.api.make).toBeUndefined(); // prototype methods do not cross
    expect(Object.isFrozen(seen)).toBe(true);
    expect(Object.isFrozen(seen.api.list)).toBe(true);
    const arg = { n: 1 };
    expect(seen.echo(arg)).toEqual({ n: 1 });
    expect(seen.echo(arg)).not.toBe(arg);
  });
});

// The preload exposes only window.bridge (no ipcRenderer, no Electron event objects, no env),
// forwards the RPC port to the page on its own origin, and
// hands the page a dropped file's path for display only.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { IPC } from '../constants';
import { MessageChannelMain, contextBridge, ipcRenderer, resetFakeElectron } from './fake-electron';

const posted: Array<{ message: unknown; origin: string; transfer: unknown[] }> = [];
type Bridge = { capabilities: Record<string, boolean>; connect(): void; pathForDisplay(f: unknown): string };
let bridge: Bridge;

// The preload runs once, like in a page; between tests only the recordings are cleared.
beforeAll(async () => {
  resetFakeElectron();
  vi.stubGlobal('window', { postMessage: (message: unknown, origin: string, transfer: unknown[] = []) => posted.push({ message, origin, transfer }) });
  vi.stubGlobal('location', { origin: 'app://kiln' });
  await import('../../../preload/index');
  bridge = contextBridge.exposed.get('bridge') as Bridge;
});
afterAll(() => vi.unstubAllGlobals());
beforeEach(() => {
  posted.length = 0;
  ipcRenderer.sent = [];
  ipcRenderer.invoked = [];
});
const loadPreload = async () => bridge;

describe('preload bridge', () => {
  it('exposes exactly one frozen copy with connect, pathForDisplay and capabilities', async () => {
    const bridge = await loadPreload();
    expect([...contextBridge.exposed.keys()]).toEqual(['bridge']);
    expect(Object.keys(bridge).sort()).toEqual(['capabilities', 'connect', 'pathForDisplay']);
    expect(Object.isFrozen(bridge)).toBe(true);
    expect(bridge.capabilities).toEqual({ desktop: true, tray: true, osNotifications: true });
    for (const value of Object.values(bridge)) {
      expect(value).not.toBe(ipcRenderer);
      expect(value).not.toBe(process.env);
    }
  });

  it('connect() asks main for a port; the port is forwarded to the page on its own origin', async () => {
    const bridge = await loadPreload();
    expect(bridge.connect()).toBeUndefined();
    expect(ipcRenderer.sent).toEqual([{ channel: IPC.connect, args: [] }]);
    const { port2 } = new MessageChannelMain();
    ipcRenderer.emit(IPC.port, { ports: [port2], sender: ipcRenderer });
    expect(posted).toEqual([{ message: 'rpc:port', origin: 'app://kiln', transfer: [port2] }]);
    // an rpc:port message without a port forwards nothing
    ipcRenderer.emit(IPC.port, { ports: [], sender: ipcRenderer });
    expect(posted).toHaveLength(1);
  });

  it('has no path-import channel any more: nothing is invoked on main', async () => {
    const bridge = await loadPreload();
    expect('importDroppedFile' in bridge).toBe(false);
    bridge.pathForDisplay({ fakePath: '/home/me/kitchen.yaml' });
    expect(ipcRenderer.invoked).toEqual([]);
  });

  it('pathForDisplay returns a dropped file\'s disk path for display and talks to nobody', async () => {
    const bridge = await loadPreload();
    expect(bridge.pathForDisplay({ fakePath: '/home/me/porch.yaml' })).toBe('/home/me/porch.yaml');
    // JS-constructed File (no disk backing) and non-File values: '' (webUtils throws for the latter).
    expect(bridge.pathForDisplay({})).toBe('');
    expect(bridge.pathForDisplay('not a file')).toBe('');
    expect(bridge.pathForDisplay(null)).toBe('');
    // Display only: nothing is sent to main, nothing is read from the path.
    expect(ipcRenderer.sent).toEqual([]);
    expect(ipcRenderer.invoked).toEqual([]);
  });
});

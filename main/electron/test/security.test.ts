// Security checklist items that can be checked without an Electron binary (electron.md §5):
// window options, navigation/new-window denial, external links, permissions, IPC senders.
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_ENTRY_URL } from '../constants';
import { denyAllPermissions, guardWebContents, isAllowedExternalUrl, isTrustedSender, secureWebPreferences } from '../security';
import { createMainWindow, mainWindowOptions } from '../window';
import { WebContents, WebFrameMain, fake, resetFakeElectron, session, type BrowserWindow as FakeWindow } from './fake-electron';

beforeEach(() => resetFakeElectron());

describe('window options', () => {
  it('creates the window with the full secure webPreferences and loads app://', async () => {
    const win = createMainWindow({ preloadPath: '/app/out/preload/index.cjs' }) as unknown as FakeWindow;
    const prefs = (win.options as { webPreferences: Record<string, unknown> }).webPreferences;
    expect(prefs).toMatchObject({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webviewTag: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      devTools: false,
    });
    expect(prefs).not.toHaveProperty('enableBlinkFeatures');
    expect(prefs).not.toHaveProperty('enableRemoteModule');
    expect(win.loadedUrl).toBe(APP_ENTRY_URL);
    expect(APP_ENTRY_URL.startsWith('app://kiln/')).toBe(true);
  });

  it('never varies the security flags, whatever the caller passes', () => {
    const a = secureWebPreferences('/p', { devTools: true });
    const b = mainWindowOptions({ preloadPath: '/p', devTools: true }).webPreferences!;
    for (const prefs of [a, b]) {
      expect(prefs.contextIsolation && prefs.sandbox && prefs.webSecurity).toBe(true);
      expect(prefs.nodeIntegration || prefs.webviewTag || prefs.allowRunningInsecureContent).toBe(false);
    }
  });

  it('has no remote module: @electron/remote is not a dependency and nothing imports it', () => {
    const root = join(__dirname, '..', '..', '..');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    expect(Object.keys(pkg.dependencies ?? {})).not.toContain('@electron/remote');
    for (const file of ['preload/index.ts', 'main/electron/main.ts', 'main/electron/security.ts', 'main/electron/window.ts']) {
      const text = readFileSync(join(root, file), 'utf8');
      expect(text, file).not.toMatch(/from ['"]@electron\/remote['"]|require\(['"]@electron\/remote/);
    }
  });
});

describe('navigation and new windows', () => {
  function guarded() {
    const wc = new WebContents();
    guardWebContents(wc as never);
    return wc;
  }

  it('allows navigation inside the app origin only', () => {
    const wc = guarded();
    expect(wc.fireNavigation('will-navigate', 'app://kiln/index.html#/jobs')).toBe(false);
    expect(wc.fireNavigation('will-navigate', 'file:///home/me/kitchen.yaml')).toBe(true);
    expect(wc.fireNavigation('will-navigate', 'https://evil.example/')).toBe(true);
    expect(wc.fireNavigation('will-navigate', 'app://other/index.html')).toBe(true);
    expect(wc.fireNavigation('will-navigate', 'app://user:pw@kiln/index.html')).toBe(true);
    expect(wc.fireNavigation('will-redirect', 'http://127.0.0.1:6052/')).toBe(true);
    expect(wc.fireNavigation('will-frame-navigate', 'javascript:alert(1)')).toBe(true);
    expect(fake.openedExternal).toEqual([]);
  });

  it('opens an allow-listed https link in the system browser instead of navigating', () => {
    const wc = guarded();
    expect(wc.fireNavigation('will-navigate', 'https://esphome.io/components/wifi')).toBe(true);
    expect(fake.openedExternal).toEqual(['https://esphome.io/components/wifi']);
  });

  it('denies every new window, opening only allow-listed https links externally', () => {
    const wc = guarded();
    const open = wc.windowOpenHandler!;
    expect(open({ url: 'https://github.com/esphome/esphome/issues/1' })).toEqual({ action: 'deny' });
    expect(open({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
    expect(open({ url: 'app://kiln/index.html' })).toEqual({ action: 'deny' });
    expect(open({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(fake.openedExternal).toEqual(['https://github.com/esphome/esphome/issues/1']);
  });

  it('refuses <webview> attachment', () => {
    const wc = guarded();
    let prevented = false;
    wc.emit('will-attach-webview', { preventDefault: () => (prevented = true) }, {}, {});
    expect(prevented).toBe(true);
  });

  it.each([
    ['https://esphome.io/', true],
    ['https://GitHub.com/x', true],
    ['http://esphome.io/', false],
    ['https://esphome.io:8443/', false],
    ['https://user@esphome.io/', false],
    ['https://esphome.io.evil.example/', false],
    ['https://evil.example/?https://esphome.io', false],
    ['file:///tmp/x', false],
    ['/home/me/firmware.bin', false],
    ['not a url', false],
  ])('external link %s allowed=%s', (url, ok) => {
    expect(isAllowedExternalUrl(url)).toBe(ok);
  });
});

describe('permissions', () => {
  it('denies every permission request and check', () => {
    denyAllPermissions(session.defaultSession as never);
    const s = session.defaultSession;
    for (const permission of ['notifications', 'media', 'geolocation', 'clipboard-read', 'openExternal', 'fileSystem']) {
      const cb = vi.fn();
      s.permissionRequestHandler!(null, permission, cb, {});
      expect(cb).toHaveBeenCalledWith(false);
      expect(s.permissionCheckHandler!(null, permission, 'app://kiln', {})).toBe(false);
    }
    expect(s.devicePermissionHandler!({})).toBe(false);
  });
});

describe('IPC sender validation', () => {
  const main = new WebContents();
  const ev = (frame: WebFrameMain | null, sender = main) => ({ sender, senderFrame: frame });

  it('accepts only the main frame of the expected window on the app origin', () => {
    expect(isTrustedSender(ev(new WebFrameMain('app://kiln/index.html')), main)).toBe(true);
    expect(isTrustedSender(ev(new WebFrameMain('app://kiln/index.html'), new WebContents()), main)).toBe(false);
    const top = new WebFrameMain('app://kiln/index.html');
    expect(isTrustedSender(ev(new WebFrameMain('app://kiln/frame.html', top)), main)).toBe(false);
    expect(isTrustedSender(ev(new WebFrameMain('https://evil.example/')), main)).toBe(false);
    expect(isTrustedSender(ev(new WebFrameMain('file:///tmp/index.html')), main)).toBe(false);
    expect(isTrustedSender(ev(new WebFrameMain('app://kiln.evil/index.html')), main)).toBe(false);
    expect(isTrustedSender(ev(null), main)).toBe(false);
  });

  it('checks the frame origin Chromium reports, not just the URL', () => {
    const frame = { url: 'app://kiln/index.html', origin: 'null', parent: null };
    expect(isTrustedSender({ sender: main, senderFrame: frame }, main)).toBe(false);
  });
});

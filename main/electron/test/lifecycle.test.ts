// App lifecycle pieces: single-instance lock (second launch focuses and imports its YAML paths),
// close-to-tray while jobs are active (announced once), window focus helpers.
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { acquireSingleInstance, localPathFromArg, yamlPathsFromArgv } from '../single-instance';
import { waitUntil } from '../../../test/support/wait-until';
import { focusWindow, isWindowInFront, keepRunningInTrayOnClose } from '../window';
import { BrowserWindow, app, fake, resetFakeElectron } from './fake-electron';

beforeEach(() => resetFakeElectron());

describe('single instance', () => {
  it('extracts YAML paths from a command line, resolved against the launch directory', () => {
    expect(
      yamlPathsFromArgv(['/opt/Kiln/kiln', '--enable-logging', 'kitchen.yaml', '/abs/garage.YML', 'notes.txt', '--flag=x.yaml', 'kitchen.yaml'], '/home/me'),
    ).toEqual(['/home/me/kitchen.yaml', '/abs/garage.YML']);
    expect(yamlPathsFromArgv(['/usr/bin/electron', '/app/out/main/index.js'], '/')).toEqual([]);
  });

  it('file:// URIs from a .desktop entry (%U) become paths before validation; other URIs are ignored', () => {
    expect(
      yamlPathsFromArgv(
        ['/opt/Kiln/kiln', 'file:///home/me/My%20Devices/kitchen.yaml', 'file://localhost/home/me/porch.YML', 'https://example.com/x.yaml', 'smb://nas/share/y.yaml', 'file://otherhost/z.yaml'],
        '/',
      ),
    ).toEqual(['/home/me/My Devices/kitchen.yaml', '/home/me/porch.YML']);
    // an encoded separator is refused by fileURLToPath, never decoded into a path
    expect(localPathFromArg('file:///home/me/a%2F..%2Fb.yaml', '/')).toBeNull();
    expect(localPathFromArg('relative.yaml', '/home/me')).toBe('/home/me/relative.yaml');
  });

  it('open-file with a file:// URL is converted too', () => {
    const events: string[] = [];
    acquireSingleInstance({ focus: () => events.push('focus'), importPaths: (p) => events.push(`import ${p.join(',')}`) });
    app.emit('open-file', { preventDefault: () => {} }, 'file:///Users/me/My%20Devices/porch.yaml');
    expect(events).toEqual(['focus', 'import /Users/me/My Devices/porch.yaml']);
  });

  it('the first instance takes the lock; a second launch focuses it and imports its paths', () => {
    const events: string[] = [];
    const ok = acquireSingleInstance({ focus: () => events.push('focus'), importPaths: (p) => events.push(`import ${p.join(',')}`) });
    expect(ok).toBe(true);
    app.emit('second-instance', {}, ['/opt/Kiln/kiln', 'kitchen.yaml'], '/home/me', {});
    expect(events).toEqual(['focus', 'import /home/me/kitchen.yaml']);
    app.emit('second-instance', {}, ['/opt/Kiln/kiln'], '/home/me', {});
    expect(events).toEqual(['focus', 'import /home/me/kitchen.yaml', 'focus']);
    let prevented = false;
    app.emit('open-file', { preventDefault: () => (prevented = true) }, '/Users/me/porch.yaml');
    expect(prevented).toBe(true);
    expect(events.at(-1)).toBe('import /Users/me/porch.yaml');
  });

  it('a second instance does not get the lock and wires nothing', () => {
    fake.singleInstanceLock = false;
    expect(acquireSingleInstance({ focus: () => {}, importPaths: () => {} })).toBe(false);
    expect(app.listenerCount('second-instance')).toBe(0);
  });
});

describe('close to tray', () => {
  function setup(active: { n: number }, quitting = { v: false }, o: { tray?: boolean; serving?: boolean; answer?: boolean } = {}) {
    const win = new BrowserWindow();
    win.show();
    win.focus();
    const announced: number[] = [];
    const asked: number[] = [];
    const quits: string[] = [];
    keepRunningInTrayOnClose(win as never, {
      activeJobs: () => active.n,
      serving: () => o.serving ?? false,
      isQuitting: () => quitting.v,
      trayShown: () => o.tray ?? true,
      announce: (n) => announced.push(n),
      confirmQuit: async (n) => {
        asked.push(n);
        return o.answer ?? false;
      },
      quit: () => quits.push('quit'),
    });
    return { win, announced, quitting, asked, quits };
  }

  it('hides instead of closing while jobs are active, and says so once', () => {
    const active = { n: 2 };
    const { win, announced } = setup(active);
    expect(win.userClose()).toBe(true);
    expect(win.isVisible()).toBe(false);
    expect(win.isDestroyed()).toBe(false);
    win.show();
    expect(win.userClose()).toBe(true);
    expect(announced).toEqual([2]);
  });

  it('closes normally with nothing active, or when quitting', () => {
    const idle = setup({ n: 0 });
    expect(idle.win.userClose()).toBe(false);
    expect(idle.win.isDestroyed()).toBe(true);
    const quitting = setup({ n: 3 }, { v: true });
    expect(quitting.win.userClose()).toBe(false);
    expect(quitting.announced).toEqual([]);
  });

  it('a listening build server stays in the tray too', () => {
    const s = setup({ n: 0 }, { v: false }, { serving: true });
    expect(s.win.userClose()).toBe(true);
    expect(s.win.isDestroyed()).toBe(false);
    expect(s.announced).toEqual([0]);
  });

  it('without a tray (GNOME without AppIndicator): jobs active → asks; "Quit" quits, "Keep running" minimises', async () => {
    const keep = setup({ n: 2 }, { v: false }, { tray: false, answer: false });
    expect(keep.win.userClose()).toBe(true); // not hidden into an invisible tray
    expect(keep.win.isVisible()).toBe(true);
    await waitUntil(() => keep.win.isMinimized());
    expect(keep.asked).toEqual([2]);
    expect(keep.quits).toEqual([]);
    expect(keep.announced).toEqual([]);

    const quit = setup({ n: 1 }, { v: false }, { tray: false, answer: true });
    quit.win.userClose();
    await waitUntil(() => quit.quits.length === 1);
    expect(quit.asked).toEqual([1]);
  });

  it('without a tray and nothing running (even while serving) the close goes ahead and the app quits', () => {
    const s = setup({ n: 0 }, { v: false }, { tray: false, serving: true });
    expect(s.win.userClose()).toBe(false);
    expect(s.win.isDestroyed()).toBe(true);
    expect(s.asked).toEqual([]);
  });

  it('focusWindow restores and focuses; isWindowInFront needs visible + focused + not minimized', () => {
    const win = new BrowserWindow();
    expect(isWindowInFront(win as never)).toBe(false);
    win.minimize();
    focusWindow(win as never);
    expect(win.isMinimized()).toBe(false);
    expect(isWindowInFront(win as never)).toBe(true);
    win.blur();
    expect(isWindowInFront(win as never)).toBe(false);
    expect(isWindowInFront(null)).toBe(false);
  });
});

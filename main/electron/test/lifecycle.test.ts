// App lifecycle pieces: single-instance lock (second launch focuses and imports its YAML paths),
// close-to-tray while jobs are active (announced once), window focus helpers.
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { acquireSingleInstance, yamlPathsFromArgv } from '../single-instance';
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
  function setup(active: { n: number }, quitting = { v: false }) {
    const win = new BrowserWindow();
    win.show();
    win.focus();
    const announced: number[] = [];
    keepRunningInTrayOnClose(win as never, { activeJobs: () => active.n, isQuitting: () => quitting.v, announce: (n) => announced.push(n) });
    return { win, announced, quitting };
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

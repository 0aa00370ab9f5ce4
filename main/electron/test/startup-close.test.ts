// Issue 17 defect 1, the close half: the user closes the window while the backend is still
// starting (2 s esphome probe). Before the fix the close handler read `be` before it was
// initialised (ReferenceError) and close-to-tray failed. Now the close goes ahead (nothing is
// active), the app quits, and will-quit waits for the starting backend to stop it cleanly.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../../test/support/wait-until';
import { startDesktopApp } from '../main';
import { app, fake, resetFakeElectron } from './fake-electron';

let dir: string;
let started: Promise<void>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-startclose-'));
  const configDir = join(dir, 'esphome');
  mkdirSync(configDir);
  cpSync(join(process.cwd(), 'assets', 'tray'), join(dir, 'app', 'out', 'main', 'tray'), { recursive: true });
  const esphome = join(dir, 'esphome-slow-probe');
  writeFileSync(esphome, '#!/bin/sh\ncase " $* " in *" version "*|*" --version "*) sleep 2; echo "Version: 2026.1.0";; esac\nexit 0\n');
  chmodSync(esphome, 0o755);
  resetFakeElectron();
  started = startDesktopApp({
    mainDir: join(dir, 'app', 'out', 'main'),
    env: { KILN_CONFIG_DIR: configDir, KILN_ESPHOME: esphome, KILN_PEER_LINK_PORT: '0', KILN_MDNS: '0', PATH: process.env.PATH, SHELL: '/bin/sh' },
    argv: ['/opt/Kiln/kiln'],
    platform: 'linux',
    home: dir,
    trayHostAvailable: async () => true,
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('closing the window while the backend starts', () => {
  it('does not throw; the app quits once the starting backend is stopped', async () => {
    await app.whenReady();
    // (the old shell opened the window only here, through the second launch's focus)
    app.emit('second-instance', {}, ['/opt/Kiln/kiln'], dir, {});
    const win = await waitUntil(() => fake.windows[0]);
    expect(started).toBeInstanceOf(Promise);
    let closed = false;
    expect(() => (closed = !win.userClose())).not.toThrow();
    expect(closed).toBe(true);
    expect(fake.exitCode).toBeNull(); // will-quit holds the exit until the backend is stopped
    await started;
    await waitUntil(() => fake.exitCode !== null);
    expect(fake.exitCode).toBe(0);
    expect(fake.lifecycle.slice(-4)).toEqual(['window-all-closed', 'before-quit', 'will-quit', 'exit 0']);
  });
});

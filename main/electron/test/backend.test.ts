// The desktop backend's options from the environment and its mDNS wiring (a fake stack: tests
// never multicast). backend.ts does not import electron, so the real createApp runs here.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingDesktop } from '../../core/desktop';
import { FakeBonjour } from '../../core/peer-link/test/fake-bonjour';
import { desktopOptionsFromEnv, startDesktopBackend, type DesktopBackend } from '../backend';

let dir: string;
let backend: DesktopBackend | null = null;
afterEach(async () => {
  await backend?.stop();
  backend = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('desktop backend', () => {
  it('reads KILN_MDNS=0 (off) and KILN_DATA_DIR from the environment; mDNS is on by default', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-desktop-'));
    expect(await desktopOptionsFromEnv({ KILN_CONFIG_DIR: dir })).toMatchObject({ configDir: dir, mdns: true, peerLink: {} });
    expect(await desktopOptionsFromEnv({ KILN_CONFIG_DIR: dir, KILN_MDNS: '0' })).toMatchObject({ mdns: false });
    expect(await desktopOptionsFromEnv({ KILN_CONFIG_DIR: dir, KILN_MDNS: '1', KILN_DATA_DIR: join(dir, 'd') })).toMatchObject({ mdns: true, dataDir: join(dir, 'd') });
  });

  it('reads the stored "config dir" through SettingsStore (validated; a corrupt file is set aside, the default used)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-desktop-'));
    const kiln = join(dir, 'esphome', '.kiln');
    mkdirSync(kiln, { recursive: true });
    writeFileSync(join(kiln, 'settings.json'), JSON.stringify({ config_dir: join(dir, 'elsewhere'), notifications: 'yes' }));
    expect((await desktopOptionsFromEnv({}, dir)).configDir).toBe(join(dir, 'elsewhere'));
    writeFileSync(join(kiln, 'settings.json'), JSON.stringify({ config_dir: 'relative/dir' }));
    expect((await desktopOptionsFromEnv({}, dir)).configDir).toBe(join(dir, 'esphome'));
    writeFileSync(join(kiln, 'settings.json'), '{ not json');
    expect((await desktopOptionsFromEnv({}, dir)).configDir).toBe(join(dir, 'esphome'));
    expect(readdirSync(kiln).some((n) => n.startsWith('settings.json.corrupt-'))).toBe(true); // the store's own handling
    expect(existsSync(join(kiln, 'settings.json'))).toBe(false);
  });

  it('queue control calls the engine\'s pause/resume directly', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-desktop-'));
    backend = await startDesktopBackend({ configDir: dir, esphome: ['/bin/true'], desktop: new RecordingDesktop(), isJobVisible: () => false, peerLink: false, mdns: false });
    expect(backend.queueControl.isPaused()).toBe(false);
    backend.queueControl.pause();
    expect(backend.app.engine.isPaused()).toBe(true);
    backend.queueControl.resume();
    expect(backend.app.engine.isPaused()).toBe(false);
    expect(backend.buildServer()).toBeNull(); // no peer-link, no role
  });

  it('stop() is bounded: a part whose stop hangs is left behind at the deadline', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-desktop-'));
    backend = await startDesktopBackend({
      configDir: dir,
      esphome: ['/bin/true'],
      desktop: new RecordingDesktop(),
      isJobVisible: () => false,
      peerLink: false,
      mdns: false,
      extensions: [() => () => new Promise<void>(() => {})],
      report: () => undefined,
    });
    const t0 = Date.now();
    expect(await backend.stop({ deadlineMs: 300 })).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
    backend = null;
  });

  it('advertises the build-server role on the given stack while bound; stop withdraws it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-desktop-'));
    const fake = new FakeBonjour();
    backend = await startDesktopBackend({
      configDir: dir,
      esphome: ['/bin/true'],
      desktop: new RecordingDesktop(),
      isJobVisible: () => false,
      peerLink: { listenHost: '127.0.0.1', listenPort: 0, friendlyName: 'desk', buildServerRole: 'on' },
      mdns: fake,
    });
    const role = backend.app.peerLink!.role!;
    expect(fake.live()).toHaveLength(1);
    expect(fake.live()[0]).toMatchObject({ type: 'esphomebuilder', port: role.port, txt: { friendly_name: 'desk', remote_build_port: String(role.port) } });
    await backend.stop();
    backend = null;
    expect(fake.live()).toEqual([]);
  });

  it('mdns false: nothing is advertised', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-desktop-'));
    backend = await startDesktopBackend({
      configDir: dir,
      esphome: ['/bin/true'],
      desktop: new RecordingDesktop(),
      isJobVisible: () => false,
      peerLink: { listenHost: '127.0.0.1', listenPort: 0, buildServerRole: 'on' },
      mdns: false,
    });
    expect(backend.app.peerLink!.role!.port).toBeGreaterThan(0);
    expect(backend.app.peerLink!.role!.advertised).toBeNull();
  });
});

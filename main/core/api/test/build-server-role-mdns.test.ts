// The app's build-server role advertises _esphomebuilder._tcp (peer-link-protocol.md §16) while
// its listener is bound, through an injected fake bonjour (no multicast in tests): a real
// createApp with a real listener on 127.0.0.1, switched through the API.
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildServerRoleState } from '../../../../preload/contract';
import { createApp, type KilnApp } from '../../app';
import { FakeBonjour } from '../../peer-link/test/fake-bonjour';
import type { ApiConnection } from '../api-service';
import { cleanupDirs, Recorder, SIM, tempConfigDir } from './helpers';
import { must } from '../../../../test/support/must';

let app: KilnApp | null = null;
let conn: ApiConnection | null = null;

async function boot(o: { mdns?: FakeBonjour | false; role?: boolean; report?: (m: string) => void } = {}): Promise<KilnApp> {
  conn?.close();
  app = await createApp({
    configDir: tempConfigDir({}, ['kitchen-plug.yaml', 'secrets.yaml']),
    esphome: [SIM],
    appVersion: '9.9.9',
    report: o.report ?? (() => undefined),
    ...(o.mdns === undefined ? {} : { mdns: o.mdns }),
    peerLink: { listenHost: '127.0.0.1', listenPort: 0, friendlyName: 'buildbox', buildServerRole: o.role === false ? false : 'on' },
  });
  conn = app.service.connect(new Recorder().sink);
  return app;
}

const call = async <T>(method: string, params: unknown = {}): Promise<T> => (await conn!.call(method, params)) as T;

afterEach(async () => {
  conn?.close();
  await app?.stop();
  app = null;
  conn = null;
  cleanupDirs();
});

describe('build-server role over mDNS', () => {
  it('advertises while the listener is bound with the §16 TXT, withdraws on disable and on stop', async () => {
    const fake = new FakeBonjour();
    const a = await boot({ mdns: fake });
    const role = await call<BuildServerRoleState>('getBuildServerRole');
    expect(role).toMatchObject({ enabled: true, listening: true });
    const { pin, dashboardId } = role.identity;
    const esphomeVersion = (await a.esphomeStatus).version;
    expect(esphomeVersion).toMatch(/^\d{4}\.\d+\.\d+/);
    const name = `esphome-builder-${dashboardId.slice(0, 8)}`;
    expect(fake.live()).toEqual([
      {
        name,
        type: 'esphomebuilder',
        protocol: 'tcp',
        port: role.port,
        host: `${name}.local`,
        txt: { server_version: '9.9.9', esphome_version: esphomeVersion, friendly_name: 'buildbox', pin_sha256: pin, remote_build_port: String(role.port) },
      },
    ]);
    expect(a.peerLink!.role!.advertised).toEqual(fake.live()[0]);

    // Role off: the listener unbinds and the record is withdrawn (nothing points at a closed port).
    await call('setBuildServerRole', { enabled: false });
    expect((await call<BuildServerRoleState>('getBuildServerRole')).listening).toBe(false);
    expect(fake.live()).toEqual([]);
    expect(a.peerLink!.role!.advertised).toBeNull();

    // Role on again: advertised again with the port actually bound now.
    await call('setBuildServerRole', { enabled: true });
    const again = await call<BuildServerRoleState>('getBuildServerRole');
    expect(again.listening).toBe(true);
    expect(fake.live()).toHaveLength(1);
    expect(fake.live()[0]).toMatchObject({ name, port: again.port, txt: { pin_sha256: pin, remote_build_port: String(again.port) } });

    // App stop withdraws it; the full dashboard id was never published (§16).
    await a.stop();
    app = null;
    expect(fake.live()).toEqual([]);
    expect(JSON.stringify(fake.published)).not.toContain(dashboardId);
    expect(fake.published.length).toBe(2);
  });

  it('a role that is off at start advertises nothing until it is switched on', async () => {
    const fake = new FakeBonjour();
    const a = await boot({ mdns: fake });
    await call('setBuildServerRole', { enabled: false });
    await a.stop();
    // The stored setting now says off: a new app on the same data dir binds nothing.
    conn?.close();
    const fake2 = new FakeBonjour();
    app = await createApp({ configDir: a.configDir, esphome: [SIM], report: () => undefined, mdns: fake2, peerLink: { listenHost: '127.0.0.1', listenPort: 0 } });
    conn = app.service.connect(new Recorder().sink);
    expect((await call<BuildServerRoleState>('getBuildServerRole')).listening).toBe(false);
    expect(fake2.published).toEqual([]);
    await call('setBuildServerRole', { enabled: true });
    expect(fake2.live()).toHaveLength(1);
    expect(must(fake2.live()[0]).txt.remote_build_port).toBe(String(app.peerLink!.role!.port));
  });

  it('without an mDNS stack (the default) nothing is advertised; a failing stack never takes the role down', async () => {
    const a = await boot();
    expect(a.peerLink!.role!.port).toBeGreaterThan(0);
    expect(a.peerLink!.role!.advertised).toBeNull();
    await a.stop();

    const reports: string[] = [];
    const broken = new FakeBonjour();
    broken.failPublish = true;
    const b = await boot({ mdns: broken, report: (m) => reports.push(m) });
    expect((await call<BuildServerRoleState>('getBuildServerRole')).listening).toBe(true);
    expect(b.peerLink!.role!.advertised).toBeNull();
    expect(reports.some((m) => m.includes('mDNS advertising failed: multicast unavailable'))).toBe(true);
  });

  it('--no-build-server (no role) publishes nothing even with a stack', async () => {
    const fake = new FakeBonjour();
    const a = await boot({ mdns: fake, role: false });
    expect(a.peerLink!.role).toBeNull();
    expect(fake.published).toEqual([]);
  });
});

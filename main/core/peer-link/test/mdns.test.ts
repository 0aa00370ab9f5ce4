// mDNS record building, advertising with the listener and browsing (peer-link-protocol.md §16),
// with an injected fake bonjour (no multicast in unit tests).
import { describe, expect, it } from 'vitest';
import { BuildServerAdvertiser, browseBuildServers, buildTxtRecord, createBonjour, instanceName, parseDiscovered, type MdnsDiscoveredService } from '../mdns';
import { FakeBonjour } from './fake-bonjour';
import { newIdentity, startReceiver } from './helpers';

describe('mDNS TXT record', () => {
  it('always has the versions, friendly_name when set, pin and port only while the listener is bound', () => {
    const pin = 'a'.repeat(64);
    expect(buildTxtRecord({ serverVersion: '0.1.0', esphomeVersion: '2026.4.1', friendlyName: 'Box', pin, listenerPort: 6056 })).toEqual({
      server_version: '0.1.0',
      esphome_version: '2026.4.1',
      friendly_name: 'Box',
      pin_sha256: pin,
      remote_build_port: '6056',
    });
    expect(buildTxtRecord({ serverVersion: '0.1.0', esphomeVersion: '2026.4.1', friendlyName: '', pin, listenerPort: null })).toEqual({ server_version: '0.1.0', esphome_version: '2026.4.1' });
    expect(buildTxtRecord({ serverVersion: '0.1.0', esphomeVersion: '2026.4.1', pin, listenerPort: 0 })).not.toHaveProperty('pin_sha256');
    expect(instanceName('AbCdEfGhIjKl')).toBe('esphome-builder-AbCdEfGh');
  });
});

describe('BuildServerAdvertiser', () => {
  it('advertises the bound listener port and pin, re-publishes on change, and drops pin/port when the listener stops', async () => {
    const rx = await startReceiver();
    const fake = new FakeBonjour();
    const adv = new BuildServerAdvertiser({
      bonjour: fake,
      dashboardId: 'DashboardIdXYZ0123456789abcdefgh',
      serverVersion: '0.1.0',
      esphomeVersion: () => '2026.4.1',
      friendlyName: () => 'Build box',
      pin: () => rx.identity.pin,
      servicePort: 6052,
    });
    try {
      await adv.setListenerPort(rx.listener.port);
      expect(fake.live()).toEqual([
        {
          name: 'esphome-builder-Dashboar',
          type: 'esphomebuilder',
          protocol: 'tcp',
          port: rx.listener.port,
          host: 'esphome-builder-Dashboar.local',
          txt: { server_version: '0.1.0', esphome_version: '2026.4.1', friendly_name: 'Build box', pin_sha256: rx.identity.pin, remote_build_port: String(rx.listener.port) },
        },
      ]);
      await rx.listener.close();
      await adv.setListenerPort(null);
      const live = fake.live();
      expect(live).toHaveLength(1);
      expect(live[0].port).toBe(6052);
      expect(live[0].txt).toEqual({ server_version: '0.1.0', esphome_version: '2026.4.1', friendly_name: 'Build box' });
      await adv.stop();
      expect(fake.live()).toEqual([]);
      expect(JSON.stringify(fake.published)).not.toContain('DashboardIdXYZ0123456789abcdefgh'); // never the full id
    } finally {
      await rx.stop();
    }
  });

  it('without a service port nothing is advertised while the listener is down', async () => {
    const fake = new FakeBonjour();
    const adv = new BuildServerAdvertiser({ bonjour: fake, dashboardId: 'abcdefghij', serverVersion: '1', esphomeVersion: () => '2', pin: () => 'a'.repeat(64) });
    await adv.setListenerPort(null);
    expect(fake.published).toEqual([]);
    await adv.setListenerPort(6055);
    expect(adv.current?.txt.remote_build_port).toBe('6055');
    await adv.setListenerPort(null);
    expect(fake.live()).toEqual([]);
  });
});

describe('browsing', () => {
  it('lists only servers with a bound listener and a valid pin that are not paired and not ourselves', () => {
    const fake = new FakeBonjour();
    const me = newIdentity();
    const paired = newIdentity();
    const fresh = newIdentity();
    const svc = (name: string, txt: Record<string, unknown>): MdnsDiscoveredService => ({ name, host: `${name}.local`, port: 6052, addresses: ['10.0.0.9'], txt });
    fake.browser.services.push(
      svc('fresh', { pin_sha256: fresh.pin, remote_build_port: '6055', friendly_name: 'Fresh', esphome_version: '2026.4.1', server_version: '0.1' }),
      svc('paired', { pin_sha256: paired.pin, remote_build_port: '6055' }),
      svc('self', { pin_sha256: me.pin, remote_build_port: '6055' }),
      svc('down', { server_version: '1', esphome_version: '2' }),
      svc('zero', { pin_sha256: fresh.pin, remote_build_port: '0' }),
      svc('badpin', { pin_sha256: 'xyz', remote_build_port: '6055' }),
      svc('bufs', { pin_sha256: Buffer.from(newIdentity().pin), remote_build_port: Buffer.from('7000') }),
    );
    const b = browseBuildServers({ bonjour: fake, pairedPins: () => [paired.pin], ownPin: me.pin });
    let changes = 0;
    b.onChange(() => changes++);
    const list = b.list();
    expect(list.map((d) => d.name)).toEqual(['fresh', 'bufs']);
    expect(list[0]).toEqual({ name: 'fresh', host: 'fresh.local', addresses: ['10.0.0.9'], port: 6055, pin: fresh.pin, friendly_name: 'Fresh', esphome_version: '2026.4.1', server_version: '0.1' });
    fake.browser.emit('up', list[0]);
    expect(changes).toBe(1);
    b.stop();
    expect(fake.browser.stopped).toBe(true);
    expect(parseDiscovered(svc('x', { pin_sha256: fresh.pin, remote_build_port: '70000' }))).toBeUndefined();
  });
});

describe('createBonjour (the real stack)', () => {
  it('is lazy: no UDP socket exists until something is published or browsed, and destroy is then a no-op', () => {
    const udp = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    const before = udp();
    const errors: Error[] = [];
    const b = createBonjour((e) => errors.push(e));
    expect(udp()).toBe(before);
    b.destroy();
    b.destroy();
    expect(udp()).toBe(before);
    expect(errors).toEqual([]);
  });
});

// mDNS record building, advertising with the listener and browsing (peer-link-protocol.md §16),
// with an injected fake bonjour (no multicast in unit tests).
import { describe, expect, it } from 'vitest';
import { BuildServerAdvertiser, buildTxtRecord, createBonjour, instanceName } from '../mdns';
import { FakeBonjour } from './fake-bonjour';
import { startReceiver } from './helpers';
import { must } from '../../../../test/support/must';

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
      expect(must(live[0]).port).toBe(6052);
      expect(must(live[0]).txt).toEqual({ server_version: '0.1.0', esphome_version: '2026.4.1', friendly_name: 'Build box' });
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

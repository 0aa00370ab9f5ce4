// Build server discovery over mDNS ("Build servers on your network"; peer-link-protocol.md §16, ui-and-users.md §5.1). The first block
// runs over REAL multicast: an advertiser stack (BuildServerAdvertiser, as `kiln receiver` and the
// app's build-server role use it) and a separate browsing stack in this process, both the real
// bonjour-service through createBonjour. The second block feeds hand-made records through the
// fake stack to cover malformed input without waiting on the network.
//
// Real multicast can reach the machine's network: the records these tests advertise are named
// "Kiln test: …" and live for a few seconds. KILN_TEST_MULTICAST chooses where they go:
//   (unset)  — loopback when `lo` carries multicast (its MULTICAST flag is set), else the default
//              interface with a notice printed (`lo` has no MULTICAST flag on the CI machine);
//   loopback — only 127.0.0.1 (needs `ip link set lo multicast on`);
//   lan      — the default interface, as the product does;
//   off      — the real-multicast block is skipped (reported as skipped, with this reason).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { EventBus } from '../../events';
import { BuildServerDiscovery, parseBuildServer, type DiscoveredServer, type PairedEndpoint } from '../discovery';
import { BuildServerAdvertiser, createBonjour, instanceName } from '../mdns';
import { FakeBonjour } from './fake-bonjour';
import { newIdentity } from './helpers';

const stacks: Array<{ destroy(): void }> = [];
const stoppers: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const s of stoppers.splice(0).reverse()) await s();
  for (const s of stacks.splice(0)) s.destroy();
});

/** IFF_MULTICAST in /sys/class/net/lo/flags (Linux); false where it cannot be read. */
function loopbackCarriesMulticast(): boolean {
  try {
    return (Number(readFileSync('/sys/class/net/lo/flags', 'utf8').trim()) & 0x1000) !== 0;
  } catch {
    return false;
  }
}
const MULTICAST = process.env.KILN_TEST_MULTICAST ?? (loopbackCarriesMulticast() ? 'loopback' : 'lan');
if (MULTICAST === 'lan') console.log('[discovery tests] real multicast on the default interface for a few seconds ("Kiln test: …" records); KILN_TEST_MULTICAST=off skips it');
const SOCKET_OPTIONS = MULTICAST === 'loopback' ? { interface: '127.0.0.1' } : {};
const TEST_NAME = (name: string) => `Kiln test: ${name}`;

function stack() {
  const errors: Error[] = [];
  const b = createBonjour((e) => errors.push(e), SOCKET_OPTIONS);
  stacks.push(b);
  return Object.assign(b, { errors });
}

/** A unique dashboard id per test: concurrent runs on the same link never see each other's. */
const newDashboardId = () => randomBytes(12).toString('base64url');

async function advertise(o: { friendlyName?: string; port?: number; servicePort?: number } = {}) {
  const bonjour = stack();
  const identity = newIdentity();
  const dashboardId = newDashboardId();
  const adv = new BuildServerAdvertiser({
    bonjour,
    dashboardId,
    serverVersion: '0.3.0',
    esphomeVersion: () => '2026.4.1',
    friendlyName: () => TEST_NAME(o.friendlyName ?? 'Workshop PC'),
    pin: () => identity.pin,
    servicePort: o.servicePort,
  });
  await adv.setListenerPort(o.port ?? 40000 + Math.floor(Math.random() * 20000));
  stoppers.push(() => adv.stop());
  return { adv, pin: identity.pin, dashboardId, instance: instanceName(dashboardId), port: adv.current!.port };
}

function discover(o: { bonjour?: ReturnType<typeof stack>; paired?: () => PairedEndpoint[]; ownPin?: string; ownDashboardId?: string; rebrowseMs?: number; ttlMs?: number } = {}) {
  const bus = new EventBus();
  const counts: number[] = [];
  bus.on('discovered_build_servers_changed', ({ count }) => counts.push(count));
  const reports: string[] = [];
  const d = new BuildServerDiscovery({
    bonjour: o.bonjour ?? stack(),
    bus,
    ownPin: () => o.ownPin ?? newIdentity().pin,
    ownDashboardId: () => o.ownDashboardId ?? 'self-not-advertised',
    paired: o.paired ?? (() => []),
    rebrowseMs: o.rebrowseMs,
    ttlMs: o.ttlMs,
    report: (m) => reports.push(m),
  });
  d.start();
  stoppers.push(() => d.stop());
  return { d, bus, counts, reports };
}

const find = (list: DiscoveredServer[], instance: string) => list.find((e) => e.instance === instance);

describe.skipIf(MULTICAST === 'off')('discovery over real multicast (skipped when KILN_TEST_MULTICAST=off)', () => {
  it('a build server that starts advertising appears with its advertised fields, and leaves when it unpublishes', async () => {
    const { d, counts } = discover();
    const srv = await advertise({ friendlyName: 'Workshop PC' });
    const entry = await waitUntil(() => find(d.list(), srv.instance), { what: 'the advertised server' });
    expect(entry).toMatchObject({
      instance: srv.instance,
      name: TEST_NAME('Workshop PC'),
      host: `${srv.instance}.local`,
      port: srv.port,
      esphomeVersion: '2026.4.1',
      serverVersion: '0.3.0',
      pin: srv.pin,
    });
    expect(entry.addresses.length).toBeGreaterThan(0);
    expect(counts.length).toBeGreaterThan(0);

    // Unpublish (goodbye packet): gone from the list, and the bus said so.
    const before = counts.length;
    await srv.adv.stop();
    await waitUntil(() => !find(d.list(), srv.instance), { what: 'the server to leave' });
    expect(counts.length).toBeGreaterThan(before);
  }, 15_000);

  it('a server whose listener stops (TXT loses the port) leaves the list while its record stays up', async () => {
    const { d } = discover();
    const srv = await advertise({ servicePort: 6052 });
    await waitUntil(() => find(d.list(), srv.instance), { what: 'the advertised server' });
    await srv.adv.setListenerPort(null);
    expect(srv.adv.current?.port).toBe(6052);
    await waitUntil(() => !find(d.list(), srv.instance), { what: 'the listener-less record to be dropped' });
  }, 15_000);

  it('an already paired server is hidden (by pin), and shows up again once it is unpaired', async () => {
    const srv = await advertise();
    const paired: PairedEndpoint[] = [{ pin: srv.pin, host: 'somewhere-else.lan', port: 1 }];
    // A witness without filters on the SAME stack receives every packet in the same tick, so once
    // it lists the server the filtered browser has seen it too.
    const shared = stack();
    const witness = discover({ bonjour: shared });
    const { d, bus } = discover({ bonjour: shared, paired: () => paired });
    const other = await advertise({ friendlyName: 'Other' });
    await waitUntil(() => find(witness.d.list(), srv.instance) && find(witness.d.list(), other.instance), { what: 'both servers on the witness' });
    expect(find(d.list(), other.instance)).toBeTruthy();
    expect(find(d.list(), srv.instance)).toBeUndefined();

    paired.length = 0;
    const before = vi.fn();
    d.onChange(before);
    bus.emit('pairings_changed', { pin: srv.pin, change: 'removed' });
    expect(find(d.list(), srv.instance)?.pin).toBe(srv.pin);
    expect(before).toHaveBeenCalledTimes(1);
  }, 15_000);

  it('this app itself is never listed: not by dashboard id, not by pin', async () => {
    const self = await advertise({ friendlyName: 'Me' });
    const shared = stack();
    const witness = discover({ bonjour: shared });
    const byId = discover({ bonjour: shared, ownDashboardId: self.dashboardId });
    const byPin = discover({ bonjour: shared, ownPin: self.pin });
    await waitUntil(() => find(witness.d.list(), self.instance), { what: 'the server on the witness' });
    expect(find(byId.d.list(), self.instance)).toBeUndefined();
    expect(find(byPin.d.list(), self.instance)).toBeUndefined();
    expect(byId.d.list().length).toBe(witness.d.list().length - 1);
    expect(byPin.d.list().length).toBe(witness.d.list().length - 1);
  }, 15_000);

  it('a server that vanishes without a goodbye expires after the TTL (re-browse keeps live ones)', async () => {
    const { d } = discover({ rebrowseMs: 300, ttlMs: 1500 });
    const live = await advertise({ friendlyName: 'Live' });
    const gone = await advertise({ friendlyName: 'Gone' });
    stoppers.pop(); // its stack is destroyed below: no goodbye, and no unpublish on a dead socket
    await waitUntil(() => find(d.list(), live.instance) && find(d.list(), gone.instance), { what: 'both servers' });
    // Destroying the stack drops its socket without sending goodbye packets (a pulled cable).
    const goneStack = stacks.at(-1)!;
    goneStack.destroy();
    await waitUntil(() => !find(d.list(), gone.instance), { timeoutMs: 6000, what: 'the silent server to expire' });
    // Still answering the re-browses: still listed.
    expect(find(d.list(), live.instance)).toBeTruthy();
  }, 15_000);

  it('stop() ends browsing: later announcements change nothing and no timer keeps running', async () => {
    const { d, counts } = discover({ rebrowseMs: 100 });
    d.stop();
    // A witness browsing on another stack: once it has seen the announcement, the stopped
    // browser has had its chance to see it too (a condition, not a guessed sleep).
    const witness = discover();
    const srv = await advertise();
    await waitUntil(() => find(witness.d.list(), srv.instance), { what: 'the announcement on the witness' });
    expect(d.list()).toEqual([]);
    expect(counts).toEqual([]);
  }, 10_000);
});

describe('untrusted records (fake stack)', () => {
  const pin = 'ab'.repeat(32);
  const good = (over: Record<string, unknown> = {}, txt: Record<string, unknown> = {}) => ({
    name: 'esphome-builder-Good1234',
    host: 'esphome-builder-Good1234.local',
    port: 6052,
    addresses: ['fe80::1', '2001:db8::5', '10.0.0.9'],
    referer: { address: '10.0.0.9' },
    txt: { remote_build_port: '6055', pin_sha256: pin, friendly_name: 'Good', esphome_version: '2026.4.1', server_version: '0.1', ...txt },
    ...over,
  });

  it('parses a good record (IPv4 first, link-local dropped) and drops every malformed one', () => {
    expect(parseBuildServer(good())).toEqual({
      instance: 'esphome-builder-Good1234',
      name: 'Good',
      host: 'esphome-builder-Good1234.local',
      port: 6055,
      addresses: ['10.0.0.9', '2001:db8::5'],
      esphomeVersion: '2026.4.1',
      serverVersion: '0.1',
      pin,
    });
    // No pin advertised: kept with pin "" (filtered by host:port instead). No friendly name: the instance name.
    expect(parseBuildServer(good({}, { pin_sha256: undefined, friendly_name: undefined }))).toMatchObject({ pin: '', name: 'esphome-builder-Good1234' });
    // Buffers (binary TXT decoding) are read as UTF-8; control characters are stripped.
    expect(parseBuildServer(good({}, { remote_build_port: Buffer.from('7000'), friendly_name: Buffer.from('Bad\u0007 name\n') }))).toMatchObject({ port: 7000, name: 'Bad name' });
    // The spec's SRV target from a base64url dashboard id ('_' inside, '-' at the end) is a host name.
    for (const host of ['esphome-builder-ab_cd12.local', 'esphome-builder-abcd123-.local', 'esphome-builder-_b-c_d-_.local']) {
      expect(parseBuildServer(good({ host }))?.host).toBe(host);
    }
    // A host that is not a host name falls back to an address; with no address either, dropped.
    expect(parseBuildServer(good({ host: 'evil host; rm -rf' }))?.host).toBe('10.0.0.9');
    expect(parseBuildServer(good({ host: '-x', addresses: ['not-an-ip'], referer: undefined }))).toBeUndefined();
    for (const bad of [
      null,
      'string',
      [],
      good({ name: '' }),
      good({ name: 42 }),
      good({ name: 'a\u0000b' }),
      good({ txt: 'nope' }),
      good({ txt: null }),
      good({}, { remote_build_port: undefined }),
      good({}, { remote_build_port: '0' }),
      good({}, { remote_build_port: '70000' }),
      good({}, { remote_build_port: '-1' }),
      good({}, { remote_build_port: '60 55' }),
      good({}, { remote_build_port: 6055 }),
      good({}, { pin_sha256: 'xyz' }),
      good({}, { pin_sha256: pin.toUpperCase() }),
    ]) {
      expect(parseBuildServer(bad), JSON.stringify(bad)).toBeUndefined();
    }
    // Long text is capped.
    expect(parseBuildServer(good({}, { friendly_name: 'x'.repeat(1000), esphome_version: 'y'.repeat(1000) }))).toMatchObject({ name: 'x'.repeat(128), esphomeVersion: 'y'.repeat(64) });
  });

  it('malformed events never throw, pin-less servers are filtered by host:port, and the list is capped', () => {
    const fake = new FakeBonjour();
    const reports: string[] = [];
    const paired: PairedEndpoint[] = [{ pin: 'cd'.repeat(32), host: '10.0.0.7', port: 6055 }];
    const d = new BuildServerDiscovery({ bonjour: fake, ownPin: () => 'ef'.repeat(32), ownDashboardId: () => 'me', paired: () => paired, maxEntries: 3, report: (m) => reports.push(m) });
    let changes = 0;
    d.onChange(() => changes++);
    d.start();
    for (const junk of [undefined, null, 7, 'x', { name: {} }, { name: 'n', txt: { remote_build_port: 'nan' } }]) fake.browser.emit('up', junk);
    fake.browser.emit('down', null);
    expect(d.list()).toEqual([]);
    expect(changes).toBe(0);

    fake.browser.emit('up', good());
    // Paired by endpoint (no pin in TXT): 10.0.0.7:6055 is one of its addresses.
    fake.browser.emit('up', good({ name: 'nopin', host: 'nopin.local', addresses: ['10.0.0.7'], referer: undefined }, { pin_sha256: undefined }));
    fake.browser.emit('up', good({ name: 'nopin2', host: 'nopin2.local', addresses: ['10.0.0.8'], referer: undefined }, { pin_sha256: undefined }));
    expect(d.list().map((e) => e.instance)).toEqual(['esphome-builder-Good1234', 'nopin2']);
    expect(changes).toBe(2);
    // Same record again: no change event.
    fake.browser.emit('up', good());
    expect(changes).toBe(2);
    // Cap: the fourth distinct instance is ignored (and reported once).
    fake.browser.emit('up', good({ name: 'fourth' }));
    fake.browser.emit('up', good({ name: 'fifth' }));
    expect(d.list()).toHaveLength(2);
    expect(reports.filter((r) => r.includes('too many'))).toHaveLength(1);
    // A TXT update that turns the record malformed removes it.
    fake.browser.emit('txt-update', good({}, { pin_sha256: 'bad' }));
    expect(d.list().map((e) => e.instance)).toEqual(['nopin2']);
    d.stop();
    expect(fake.browser.stopped).toBe(true);
  });

  it('entries not heard from within the TTL are swept', () => {
    const fake = new FakeBonjour();
    const d = new BuildServerDiscovery({ bonjour: fake, ownPin: () => '', ownDashboardId: () => 'me', paired: () => [], ttlMs: 1000 });
    d.start();
    fake.browser.emit('up', good());
    expect(d.list()).toHaveLength(1);
    d.sweep(Date.now() + 500);
    expect(d.list()).toHaveLength(1);
    d.sweep(Date.now() + 1500);
    expect(d.list()).toHaveLength(0);
    d.stop();
  });
});

// Issue 11 defect 11: a fresh `kiln serve` opens no network port beyond its own window server on
// 127.0.0.1 and advertises nothing over mDNS; the build-server role listens and advertises only
// when asked (`--build-server`, or the Settings switch). Real children, their sockets read from
// /proc, a real mDNS browser on the multicast network.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type BuildServerRoleState } from '../../../preload/contract';
import { RecordingDesktop } from '../../core/desktop';
import { createBonjour } from '../../core/peer-link/mdns';
import { FakeBonjour } from '../../core/peer-link/test/fake-bonjour';
import { desktopOptionsFromEnv, startDesktopBackend } from '../../electron/backend';
import { SIM_CMD, spawnKiln, type KilnChild } from '../../../test/e2e-remote/helpers';
import { listeningSockets } from '../../../test/support/listening';
import { waitUntil } from '../../../test/support/wait-until';
import { openClient } from './ws-client';

const children: KilnChild[] = [];
const dirs: string[] = [];
const stacks: Array<{ destroy(): void }> = [];

afterAll(async () => {
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGTERM');
      await c.exit;
    }
  }
  for (const s of stacks) s.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function serve(extra: string[]): Promise<{ child: KilnChild; port: number; token: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-serve-defaults-'));
  dirs.push(dir);
  // Note: no --no-mdns and the default --peer-link-port: exactly what a user types.
  const child = spawnKiln(['serve', '--config-dir', join(dir, 'config'), '--port', '0', '--esphome', SIM_CMD, ...extra], { ESPHOME_SIM_SPEED: '0' });
  children.push(child);
  const line = await waitUntil(() => child.out.find((l) => l.startsWith('KILN_SERVE_URL=')), { timeoutMs: 60_000, what: () => `kiln serve ready:\n${child.text()}` });
  const url = new URL(line.slice('KILN_SERVE_URL='.length));
  return { child, port: Number(url.port), token: url.hash.slice('#token='.length) };
}

async function roleState(port: number, token: string): Promise<BuildServerRoleState> {
  const c = await openClient(`ws://127.0.0.1:${port}/rpc`);
  await c.client.call('hello', { protocol: PROTOCOL_VERSION, token });
  const s = await c.client.call('getBuildServerRole', {});
  c.ws.close();
  return s;
}

describe('the build-server role is off by default (issue 11 defect 11)', () => {
  it('a fresh kiln serve listens only on 127.0.0.1:<http port> and advertises nothing; --build-server listens and advertises', async () => {
    const seen = new Set<string>();
    const stack = createBonjour();
    stacks.push(stack);
    const browser = stack.find({ type: 'esphomebuilder', protocol: 'tcp' });
    browser.on('up', (s: { name: string }) => seen.add(s.name));

    const fresh = await serve([]);
    const asked = await serve(['--build-server', '--peer-link-port', '0', '--peer-link-host', '127.0.0.1']);

    // Sockets: the fresh process has exactly one listener, the window server on loopback.
    expect(listeningSockets(fresh.child.proc.pid!)).toEqual([{ address: '127.0.0.1', port: fresh.port }]);
    expect(fresh.child.text()).not.toMatch(/build server: listening/);
    const freshRole = await roleState(fresh.port, fresh.token);
    expect(freshRole).toMatchObject({ enabled: false, listening: false, port: null });

    // The control: the process that was asked listens on the peer-link port as well.
    const askedRole = await roleState(asked.port, asked.token);
    expect(askedRole.listening).toBe(true);
    expect(listeningSockets(asked.child.proc.pid!).map((l) => l.port).sort()).toEqual([asked.port, askedRole.port!].sort());

    // mDNS: wait until the asked process's advertisement arrives; the fresh one started first
    // and would have announced at the same time, so by then its absence means "not advertised".
    const name = (id: string) => `esphome-builder-${id.slice(0, 8)}`;
    await waitUntil(() => seen.has(name(askedRole.identity.dashboardId)), { timeoutMs: 30_000, what: () => `the --build-server advertisement (seen: ${[...seen].join(', ')})` });
    expect(seen.has(name(freshRole.identity.dashboardId))).toBe(false);
    browser.stop();
  }, 120_000);
});

describe('the desktop app opens no listener on first launch (issue 11 defect 11)', () => {
  it('startDesktopBackend with the options of a plain launch: role present but off, nothing bound, nothing advertised', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-desktop-defaults-'));
    dirs.push(dir);
    // Port 0 only so that turning the role on at the end cannot collide with another process here.
    const fromEnv = await desktopOptionsFromEnv({ KILN_CONFIG_DIR: dir, KILN_PEER_LINK_PORT: '0' });
    const fake = new FakeBonjour();
    const backend = await startDesktopBackend({ ...fromEnv, esphome: ['/bin/true'], desktop: new RecordingDesktop(), isJobVisible: () => false, mdns: fake });
    try {
      const role = backend.app.peerLink!.role!;
      expect(role.port).toBeNull();
      expect(role.state()).toMatchObject({ enabled: false, listening: false });
      expect(listeningSockets(process.pid)).toEqual([]);
      expect(fake.published).toEqual([]);
      // Turning it on in Settings binds it (the switch works; the default is what changed).
      await role.setEnabled(true);
      expect(role.port).toBeGreaterThan(0);
    } finally {
      await backend.stop();
    }
  }, 60_000);
});

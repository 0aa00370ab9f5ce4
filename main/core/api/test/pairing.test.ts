// Pairing and remote builds through the API, between two real backends on 127.0.0.1: a sender
// (offloader) and a build server (receiver role), each composed by createApp.
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildServerPairing, BuildServerRoleState, Job } from '../../../../preload/contract';
import { createApp, type KilnApp } from '../../app';
import type { ApiConnection } from '../api-service';
import { cleanupDirs, Recorder, SIM, tempConfigDir } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

interface Side {
  app: KilnApp;
  rec: Recorder;
  conn: ApiConnection;
  call<T = unknown>(method: string, params?: unknown): Promise<T>;
}

const sides: Side[] = [];

async function side(opts: { role: boolean; name: string }): Promise<Side> {
  const configDir = tempConfigDir({}, ['kitchen-plug.yaml', 'secrets.yaml']);
  const app = await createApp({
    configDir,
    esphome: [SIM],
    report: () => undefined,
    peerLink: {
      listenHost: '127.0.0.1',
      listenPort: 0,
      buildServerRole: opts.role ? 'on' : false,
      friendlyName: opts.name,
      backoffBaseMs: 50,
      backoffCapMs: 200,
      startupGraceMs: 0,
    },
  });
  const rec = new Recorder();
  const conn = app.service.connect(rec.sink);
  const s: Side = { app, rec, conn, call: async (m, p = {}) => (await conn.call(m, p)) as never };
  sides.push(s);
  return s;
}

afterEach(async () => {
  for (const s of sides.splice(0).reverse()) {
    s.conn.close();
    await s.app.stop();
  }
  cleanupDirs();
});

describe('pairing through the API', () => {
  it('preview → request → pending → approve → connected, same fingerprint on both sides; then a remote compile', async () => {
    process.env.ESPHOME_SIM_SPEED = '0';
    const server = await side({ role: true, name: 'buildbox' });
    const sender = await side({ role: false, name: 'laptop' });
    const role = await server.call<BuildServerRoleState>('getBuildServerRole');
    expect(role).toMatchObject({ enabled: true, listening: true });
    expect(role.port).toBeGreaterThan(0);

    // The sender needs the window: without it the request is refused with a typed error.
    const preview = await sender.call<{ pin: string; friendlyName: string }>('previewBuildServer', { host: '127.0.0.1', port: role.port });
    expect(preview.pin).toBe(role.identity.pin);
    expect(preview.friendlyName).toBe('buildbox');
    const closed = await sender.conn.call('pairBuildServer', { host: '127.0.0.1', port: role.port, expectedPin: preview.pin }).catch((e) => e);
    expect(closed).toMatchObject({ code: 'no_pairing_window' });
    // A wrong expected pin is refused before anything is sent (TOCTOU guard).
    await server.call('openPairingWindow');
    const wrong = await sender.conn.call('pairBuildServer', { host: '127.0.0.1', port: role.port, expectedPin: 'a'.repeat(64) }).catch((e) => e);
    expect(wrong).toMatchObject({ code: 'precondition_failed' });

    const req = await sender.call<{ status: string; pairing: BuildServerPairing }>('pairBuildServer', {
      host: '127.0.0.1',
      port: role.port,
      expectedPin: preview.pin,
      label: 'Fast box',
    });
    expect(req.status).toBe('pending');
    expect(req.pairing).toMatchObject({ status: 'pending', label: 'Fast box' });

    const senderIdentity = await sender.call<{ pin: string; dashboardId: string }>('getIdentity');
    await waitUntil(() => server.rec.of('pairRequest').length > 0, { timeoutMs: 10_000, what: 'pairRequest event' });
    const pending = (await server.call<BuildServerRoleState>('getBuildServerRole')).pending;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ dashboardId: senderIdentity.dashboardId, pin: senderIdentity.pin, label: 'laptop', peerIp: '127.0.0.1' });

    await server.call('approvePairRequest', { dashboardId: senderIdentity.dashboardId });
    await waitUntil(() => sender.rec.of('pairStatus').find((e) => e.status === 'approved'), { timeoutMs: 10_000, what: 'pairStatus approved' });
    await waitUntil(() => sender.rec.of('buildServerConnection').find((e) => e.connection === 'connected'), { timeoutMs: 10_000, what: 'connected' });
    const p = must((await sender.call<BuildServerPairing[]>('listBuildServers'))[0]);
    expect(p).toMatchObject({ pin: role.identity.pin, status: 'approved', connection: 'connected', enabled: true, label: 'Fast box' });
    const senders = (await server.call<BuildServerRoleState>('getBuildServerRole')).senders;
    expect(senders).toEqual([expect.objectContaining({ dashboardId: senderIdentity.dashboardId, pin: senderIdentity.pin, connected: true })]);

    // A compile now goes to the build server.
    const job = await sender.call<Job>('compile', { configuration: 'kitchen-plug.yaml' });
    expect(['remote_pending', 'remote']).toContain(job.source);
    const end = await waitUntil(() => sender.rec.of('jobLifecycle').find((e) => e.job.job_id === job.job_id && ['completed', 'failed', 'cancelled'].includes(e.kind)), { timeoutMs: 30_000, what: 'remote compile end' });
    expect(end.job.error).toBeNull();
    expect(end).toMatchObject({ kind: 'completed', job: { source: 'remote', source_pin_sha256: role.identity.pin, source_label: 'Fast box' } });
    // The build server ran it as a receiver job labelled with the sender.
    const remoteJobs = await server.call<Job[]>('getJobs');
    expect(remoteJobs[0]).toMatchObject({ remote_peer: senderIdentity.dashboardId, remote_peer_label: 'laptop', status: 'completed' });

    // Disable, then unpair.
    const disabled = await sender.call<BuildServerPairing>('setBuildServerEnabled', { pin: p.pin, enabled: false });
    expect(disabled.enabled).toBe(false);
    await sender.call('unpairBuildServer', { pin: p.pin });
    expect(await sender.call('listBuildServers')).toEqual([]);
    expect(await sender.conn.call('unpairBuildServer', { pin: p.pin }).catch((e) => e)).toMatchObject({ code: 'not_found' });
  });

  it('the build server can reject a request and remove an approved sender', async () => {
    const server = await side({ role: true, name: 'buildbox' });
    const sender = await side({ role: false, name: 'laptop' });
    const role = await server.call<BuildServerRoleState>('getBuildServerRole');
    await server.call('openPairingWindow');
    const senderId = await sender.call<{ dashboardId: string }>('getIdentity');
    const pin = role.identity.pin;
    await sender.call('pairBuildServer', { host: '127.0.0.1', port: role.port, expectedPin: pin });
    await waitUntil(() => server.rec.of('pairRequest').length > 0, 10_000);
    await server.call('rejectPairRequest', { dashboardId: senderId.dashboardId });
    await waitUntil(() => sender.rec.of('pairStatus').find((e) => e.status === 'rejected'), { timeoutMs: 10_000, what: 'declined' });
    expect(await sender.call('listBuildServers')).toEqual([]);
    expect(await server.conn.call('rejectPairRequest', { dashboardId: senderId.dashboardId }).catch((e) => e)).toMatchObject({ code: 'not_found' });

    // Pair again, approve, then remove from the server side.
    await sender.call('pairBuildServer', { host: '127.0.0.1', port: role.port, expectedPin: pin });
    await waitUntil(() => server.rec.of('pairRequest').length === 2, { timeoutMs: 10_000, what: 'second request' });
    expect((await server.call<BuildServerRoleState>('getBuildServerRole')).pending).toHaveLength(1);
    await server.call('approvePairRequest', { dashboardId: senderId.dashboardId });
    await waitUntil(() => sender.rec.of('buildServerConnection').find((e) => e.connection === 'connected'), 10_000);
    await server.call('removeSender', { dashboardId: senderId.dashboardId });
    expect((await server.call<BuildServerRoleState>('getBuildServerRole')).senders).toEqual([]);
    const lost = await waitUntil(() => sender.rec.of('buildServerConnection').find((e) => e.connection === 'disconnected'), { timeoutMs: 10_000, what: 'disconnect' });
    expect(lost.lastError).not.toBe('');
  });

  it('the pairing window is held per connection and released when it closes; the role switches live', async () => {
    const server = await side({ role: true, name: 'buildbox' });
    const w = await server.call<{ open: boolean; expiresInSeconds: number }>('openPairingWindow');
    expect(w.open).toBe(true);
    expect(w.expiresInSeconds).toBeGreaterThan(290);
    const other = server.app.service.connect(() => undefined);
    await other.call('openPairingWindow', {});
    server.conn.close();
    expect((await other.call('getBuildServerRole', {}) as BuildServerRoleState).window.open).toBe(true);
    other.close();
    const probe = server.app.service.connect(() => undefined);
    expect(((await probe.call('getBuildServerRole', {})) as BuildServerRoleState).window.open).toBe(false);
    const off = (await probe.call('setBuildServerRole', { enabled: false })) as BuildServerRoleState;
    expect(off).toMatchObject({ enabled: false, listening: false, port: null });
    const on = (await probe.call('setBuildServerRole', { enabled: true })) as BuildServerRoleState;
    expect(on).toMatchObject({ enabled: true, listening: true });
    probe.close();
  });
});

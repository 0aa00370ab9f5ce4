// "Build servers on your network" through the API (listDiscoveredBuildServers + discoveredBuildServersChanged):
// two real backends composed by createApp, each on its OWN real mDNS stack (createBonjour, real
// multicast), the sender reached over a real WebSocket (`kiln serve`'s server) and over a Node
// MessagePort with the same RPC layer. The build server shows up, pairing with it moves it out of
// the list, unpairing brings it back; the sender never lists itself.
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildServerRoleState, DiscoveredBuildServers, FrontendEvents } from '../../../../preload/contract';
import { RpcClient, type ClientChannel } from '../../../../renderer/src/backend/rpc-client';
import { startKilnServer, type KilnServer } from '../../../headless/server';
import { openClient, type OpenedClient } from '../../../headless/test/ws-client';
import { createApp, type KilnApp } from '../../app';
import { BuildServerDiscovery } from '../../peer-link/discovery';
import { createBonjour, instanceName } from '../../peer-link/mdns';
import { serveRpc } from '../rpc-server';
import { cleanupDirs, SIM, tempConfigDir } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

async function backend(o: { name: string; mdns: boolean; peerLink?: boolean }): Promise<KilnApp> {
  const stack = o.mdns ? createBonjour() : null;
  const app = await createApp({
    configDir: tempConfigDir({}, ['kitchen-plug.yaml', 'secrets.yaml']),
    esphome: [SIM],
    report: () => undefined,
    ...(stack ? { mdns: stack } : {}),
    peerLink: o.peerLink === false ? false : { listenHost: '127.0.0.1', listenPort: 0, buildServerRole: 'on', friendlyName: o.name, backoffBaseMs: 50, backoffCapMs: 200, startupGraceMs: 0 },
  });
  // The entry point owns the stack: destroyed after the app stopped (as `kiln serve` does).
  cleanups.push(() => stack?.destroy());
  cleanups.push(() => app.stop());
  return app;
}

async function overWebSocket(app: KilnApp): Promise<{ c: OpenedClient; events: Array<FrontendEvents['discoveredBuildServersChanged']> }> {
  const server: KilnServer = await startKilnServer({ service: app.service, port: 0, token: 'tok-0123456789', staticDir: app.configDir });
  cleanups.push(() => server.close());
  const c = await openClient(`ws://127.0.0.1:${server.port}/rpc`);
  cleanups.push(() => c.client.close());
  await c.client.hello('tok-0123456789');
  const events: Array<FrontendEvents['discoveredBuildServersChanged']> = [];
  c.client.on('discoveredBuildServersChanged', (e) => events.push(e));
  return { c, events };
}

/** The same RPC layer over a Node MessagePort (structured clone), as the Electron shell uses it. */
function overMessagePort(app: KilnApp): RpcClient {
  const { port1, port2 } = new MessageChannel();
  const handle = serveRpc(
    {
      send: (m) => port1.postMessage(m),
      onMessage: (fn) => {
        const h = (m: unknown) => fn(m);
        port1.on('message', h);
        return () => port1.off('message', h);
      },
      onClose: (fn) => {
        port1.on('close', fn);
        return () => port1.off('close', fn);
      },
      close: () => port1.close(),
    },
    { service: app.service },
  );
  const channel: ClientChannel = {
    send: (m) => port2.postMessage(m),
    onMessage: (fn) => {
      const h = (m: unknown) => fn(m);
      port2.on('message', h);
      return () => port2.off('message', h);
    },
    onClose: (fn) => {
      const h = () => fn({ code: 1000, reason: 'closed' });
      port2.on('close', h);
      return () => port2.off('close', h);
    },
    close: () => port2.close(),
  };
  cleanups.push(() => {
    handle.close();
    port2.close();
  });
  return new RpcClient(channel);
}

describe('listDiscoveredBuildServers / discoveredBuildServersChanged', () => {
  it('lists a build server found over mDNS, drops it once paired, brings it back on unpair; never lists itself', async () => {
    // The sender also runs the build-server role, so it advertises itself on its own stack.
    const sender = await backend({ name: 'laptop', mdns: true });
    const { c, events } = await overWebSocket(sender);
    const port = overMessagePort(sender);
    await port.hello();
    const server = await backend({ name: 'buildbox', mdns: true });
    const role = await server.service.connect(() => undefined).call('getBuildServerRole', {}) as BuildServerRoleState;
    const serverInstance = instanceName(role.identity.dashboardId);
    const senderRole = (await c.client.api.getBuildServerRole({}));
    const senderInstance = instanceName(senderRole.identity.dashboardId);

    // The server arrives as an event carrying the whole list, and in the method's answer.
    const arrived = await waitUntil(() => events.find((e) => e.servers.some((s) => s.instance === serverInstance)), { timeoutMs: 8000, what: 'the build server in an event' });
    expect(arrived.enabled).toBe(true);
    const listed = await c.client.api.listDiscoveredBuildServers({});
    const entry = listed.servers.find((s) => s.instance === serverInstance)!;
    expect(entry).toMatchObject({
      name: 'buildbox',
      host: `${serverInstance}.local`,
      port: role.port,
      pin: role.identity.pin,
      esphomeVersion: (await server.esphomeStatus).version,
    });
    expect(entry.addresses.length).toBeGreaterThan(0);
    // The MessagePort transport carries the very same answer (no transport-specific code).
    expect(await port.api.listDiscoveredBuildServers({})).toEqual(listed);

    // Never itself: a witness on a third stack sees the sender's own record; the sender does not list it.
    const witnessStack = createBonjour();
    cleanups.push(() => witnessStack.destroy());
    const witness = new BuildServerDiscovery({ bonjour: witnessStack, ownPin: () => '', ownDashboardId: () => 'witness', paired: () => [] });
    witness.start();
    cleanups.push(() => witness.stop());
    await waitUntil(() => witness.list().some((s) => s.instance === senderInstance), { timeoutMs: 8000, what: "the sender's own record on the witness" });
    await new Promise((r) => setTimeout(r, 300));
    const again = await c.client.api.listDiscoveredBuildServers({});
    expect(again.servers.map((s) => s.instance)).not.toContain(senderInstance);
    expect(events.flatMap((e) => e.servers.map((s) => s.instance))).not.toContain(senderInstance);

    // Pair (the preview handshake is the trust step; the TXT pin only hinted at it).
    const serverConn = server.service.connect(() => undefined);
    await serverConn.call('openPairingWindow', {});
    const preview = await c.client.api.previewBuildServer({ host: '127.0.0.1', port: entry.port });
    expect(preview.pin).toBe(entry.pin);
    const n = events.length;
    const req = await c.client.api.pairBuildServer({ host: '127.0.0.1', port: entry.port, expectedPin: preview.pin });
    expect(req.status).toBe('pending');
    // A pending pairing already shows under "Paired build servers": it leaves Build servers on your network.
    const gone = await waitUntil(() => events.slice(n).find((e) => !e.servers.some((s) => s.instance === serverInstance)), { timeoutMs: 5000, what: 'the paired server to leave' });
    expect(gone.enabled).toBe(true);
    expect((await c.client.api.listDiscoveredBuildServers({})).servers.map((s) => s.instance)).not.toContain(serverInstance);

    // Unpair: it is back.
    const m = events.length;
    await c.client.api.unpairBuildServer({ pin: preview.pin });
    await waitUntil(() => events.slice(m).find((e) => e.servers.some((s) => s.instance === serverInstance)), { timeoutMs: 5000, what: 'the server back after unpair' });

    // app.stop() stops browsing: the list is empty and stays so.
    await sender.stop();
    expect(sender.discovery!.list()).toEqual([]);
  }, 30_000);

  it('with mDNS off (or without peer-link) the answer is [] with enabled: false, on both transports', async () => {
    const off = await backend({ name: 'quiet', mdns: false });
    expect(off.discovery).toBeNull();
    const { c } = await overWebSocket(off);
    expect(await c.client.api.listDiscoveredBuildServers({})).toEqual<DiscoveredBuildServers>({ enabled: false, servers: [] });
    const port = overMessagePort(off);
    await port.hello();
    expect(await port.api.listDiscoveredBuildServers({})).toEqual({ enabled: false, servers: [] });
    // Params are validated like every method's.
    await expect(c.client.call('listDiscoveredBuildServers', { extra: 1 } as never)).rejects.toMatchObject({ code: 'invalid_args' });

    const noPeerLink = await backend({ name: 'local-only', mdns: true, peerLink: false });
    expect(noPeerLink.discovery).toBeNull();
    expect(await noPeerLink.service.connect(() => undefined).call('listDiscoveredBuildServers', {})).toEqual({ enabled: false, servers: [] });
  }, 20_000);
});

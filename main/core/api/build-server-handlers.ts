// The build-server part of the API: this computer's identity, the sender side (paired build
// servers, discovery) and the build-server role (listener, pairing window, requests, senders).
// Spread into ApiService's handlers like the toolchain and firmware parts.
import type { BuildServerRoleState, DiscoveredBuildServers, EventName, FrontendEvents } from '../../../preload/contract';
import { ApiError } from '../errors';
import type { Handlers } from './connection';
import type { IdentityPort, SenderPort, BuildServerRolePort } from './ports';

type BuildServerMethods =
  | 'getIdentity'
  | 'listBuildServers'
  | 'previewBuildServer'
  | 'pairBuildServer'
  | 'getBuildServer'
  | 'unpairBuildServer'
  | 'setBuildServerEnabled'
  | 'listDiscoveredBuildServers'
  | 'getBuildServerRole'
  | 'setBuildServerRole'
  | 'openPairingWindow'
  | 'extendPairingWindow'
  | 'closePairingWindow'
  | 'approvePairRequest'
  | 'rejectPairRequest'
  | 'removeSender';

export interface BuildServerHandlerDeps {
  identity(): IdentityPort | undefined;
  senderOrNull(): SenderPort | null;
  /** Throws 'unavailable' when this mode has no sender side. */
  sender(): SenderPort;
  /** Throws 'unavailable' when this mode has no build-server role. */
  buildServer(): BuildServerRolePort;
  discovered(): DiscoveredBuildServers;
  roleState(): BuildServerRoleState;
  broadcast<E extends EventName>(event: E, data: FrontendEvents[E]): void;
}

export function buildServerHandlers(d: BuildServerHandlerDeps): Pick<Handlers, BuildServerMethods> {
  return {
    getIdentity: () => {
      const id = d.identity();
      if (!id) throw new ApiError('unavailable', 'no peer-link identity in this mode');
      return id.identity();
    },

    listBuildServers: () => (d.senderOrNull()?.list() ?? []),
    previewBuildServer: (p) => d.sender().preview(p.host, p.port),
    pairBuildServer: (p) => d.sender().pair(p),
    getBuildServer: (p) => d.sender().get(p.pin),
    unpairBuildServer: async (p) => {
      if (!d.sender().get(p.pin)) throw new ApiError('not_found', `No pairing with pin ${p.pin.slice(0, 16)}…`);
      await d.sender().unpair(p.pin);
      return { ok: true as const };
    },
    setBuildServerEnabled: (p) => {
      if (!d.sender().get(p.pin)) throw new ApiError('not_found', `No pairing with pin ${p.pin.slice(0, 16)}…`);
      return d.sender().setEnabled(p.pin, p.enabled);
    },

    listDiscoveredBuildServers: () => d.discovered(),

    getBuildServerRole: () => d.roleState(),
    setBuildServerRole: async (p) => {
      await d.buildServer().setEnabled(p.enabled);
      d.broadcast('buildServerRoleChanged', { reason: p.enabled ? 'enabled' : 'disabled' });
      return d.roleState();
    },
    openPairingWindow: (_p, conn) => {
      const w = d.buildServer().openWindow(conn.id);
      conn.holdsWindow = true;
      return w;
    },
    extendPairingWindow: (_p, conn) => {
      const w = d.buildServer().extendWindow(conn.id);
      conn.holdsWindow = true;
      return w;
    },
    closePairingWindow: (_p, conn) => {
      conn.holdsWindow = false;
      return d.buildServer().closeWindow(conn.id);
    },
    approvePairRequest: async (p) => {
      await d.buildServer().approve(p.dashboardId);
      return { ok: true as const };
    },
    rejectPairRequest: async (p) => {
      await d.buildServer().reject(p.dashboardId);
      return { ok: true as const };
    },
    removeSender: async (p) => {
      await d.buildServer().removeSender(p.dashboardId);
      return { ok: true as const };
    },
  };
}

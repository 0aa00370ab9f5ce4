// SenderPort over the peer-link: the pairing store (pairings.json), the client manager (live
// connection state, last error, queue status) and the pairing flow (preview → request → poll).
import { hostname } from 'node:os';
import type { BuildServerPairing } from '../../../preload/contract';
import { ApiError } from '../errors';
import type { PeerLinkClientManager } from '../peer-link/client-manager';
import type { OffloaderPairingFlow } from '../peer-link/sender-pairing';
import type { PairingStore, StoredPairing } from '../peer-link/pairing-store';
import type { SenderPort } from './ports';
import { alertText, formatLastError } from './api-service';

export interface SenderPortDeps {
  store: PairingStore;
  clients: PeerLinkClientManager;
  flow: OffloaderPairingFlow;
  /** How this app introduces itself in pair requests when the user leaves it empty. */
  defaultIntroduction?: () => string;
}

export function pairingView(p: StoredPairing, clients: PeerLinkClientManager): BuildServerPairing {
  const st = clients.state(p.pin_sha256);
  const connection = p.status === 'pending' ? 'disconnected' : (st?.status ?? 'disconnected');
  let lastError = '';
  if (st?.alert) lastError = alertText(st.alert, st.lastError);
  else if (st?.lastError && connection !== 'connected') lastError = formatLastError(st.lastError);
  const q = st?.lastQueueStatus;
  return {
    pin: p.pin_sha256,
    host: p.receiver_hostname,
    port: p.receiver_port,
    label: p.label || p.receiver_hostname,
    friendlyName: p.label,
    status: p.status,
    enabled: p.enabled,
    connection,
    lastError,
    esphomeVersion: p.esphome_version,
    autoProvision: p.auto_provision_supported === true,
    queue: q ? { idle: q.idle, running: q.running, queueDepth: q.queue_depth } : null,
    pairedAt: new Date(p.paired_at * 1000).toISOString(),
  };
}

export function createSenderPort(d: SenderPortDeps): SenderPort {
  const intro = d.defaultIntroduction ?? (() => hostname());
  const view = (p: StoredPairing) => pairingView(p, d.clients);
  const must = (pin: string): StoredPairing => {
    const p = d.store.get(pin);
    if (!p) throw new ApiError('not_found', `Not paired with a build server with pin ${pin.slice(0, 16)}…`);
    return p;
  };
  return {
    list: () =>
      d.store
        .list()
        .sort((a, b) => a.paired_at - b.paired_at)
        .map(view),
    get: (pin) => {
      const p = d.store.get(pin);
      return p ? view(p) : null;
    },
    preview: async (host, port) => {
      const r = await d.flow.preview(host, port);
      return {
        host: r.host,
        port: r.port,
        pin: r.pin,
        friendlyName: r.friendly_name,
        esphomeVersion: r.esphome_version,
        requiresPairingKey: r.requires_pairing_key,
      };
    },
    pair: async (req) => {
      const introduceAs = req.introduceAs?.trim();
      const r = await d.flow.request({
        host: req.host,
        port: req.port,
        previewedPin: req.expectedPin,
        receiverLabel: req.label ?? '',
        label: introduceAs || intro(),
        labelAuto: !introduceAs,
        pairingKey: req.pairingKey,
      });
      return { status: r.status, pairing: view(r.pairing) };
    },
    unpair: async (pin) => {
      const p = must(pin);
      if (p.status === 'pending') await d.flow.cancel(pin);
      else await d.store.remove(pin);
    },
    setEnabled: async (pin, enabled) => {
      must(pin);
      await d.store.setEnabled(pin, enabled);
      return view(must(pin));
    },
    getSettings: () => {
      const s = d.store.settings;
      return { remoteBuildsEnabled: s.remote_builds_enabled, includeLocalInPool: s.include_local_in_pool, versionPolicy: s.version_match_policy };
    },
    updateSettings: async (patch) => {
      const next: Parameters<PairingStore['updateSettings']>[0] = {};
      if (patch.remoteBuildsEnabled !== undefined) next.remote_builds_enabled = patch.remoteBuildsEnabled;
      if (patch.includeLocalInPool !== undefined) next.include_local_in_pool = patch.includeLocalInPool;
      if (patch.versionPolicy !== undefined) next.version_match_policy = patch.versionPolicy;
      await d.store.updateSettings(next);
    },
  };
}

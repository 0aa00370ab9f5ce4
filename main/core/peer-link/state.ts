// Opens all peer-link state of one data dir: identity, offloader pairings, receiver peers, and a
// single dashboard_id shared by both roles.
import type { EventBus } from '../events';
import { defaultReporter, type Reporter } from './atomic-json';
import { identityFilePath, loadOrCreateIdentity, type PeerLinkIdentity } from './identity';
import { PairingStore } from './pairing-store';
import { ApprovedSenderStore } from './approved-senders';

export interface PeerLinkState {
  identityFile: string;
  identity: PeerLinkIdentity;
  pairings: PairingStore;
  receiverPeers: ApprovedSenderStore;
  /** This instance's dashboard_id (offloader identity towards receivers; mDNS name as receiver). */
  dashboardId: string;
}

export interface OpenStateOptions {
  bus?: EventBus;
  report?: Reporter;
  receiverDebounceMs?: number;
}

/**
 * The offloader's dashboard_id is authoritative (receivers key approved rows by it, so it must
 * never change once used); the receiver settings mirror it. Only when the pairings file had none
 * and the receiver file had one is the receiver's adopted.
 */
export async function openPeerLinkState(dataDir: string, opts: OpenStateOptions = {}): Promise<PeerLinkState> {
  const report = opts.report ?? defaultReporter;
  const identityFile = identityFilePath(dataDir);
  const identity = loadOrCreateIdentity(identityFile, report);
  const pairings = PairingStore.inDataDir(dataDir, { bus: opts.bus, report });
  const receiverPeers = ApprovedSenderStore.inDataDir(dataDir, { report, debounceMs: opts.receiverDebounceMs });
  if (pairings.dashboardIdGenerated && !receiverPeers.dashboardIdGenerated) {
    await pairings.setDashboardId(receiverPeers.settings.dashboard_id);
  } else if (receiverPeers.settings.dashboard_id !== pairings.dashboardId) {
    await receiverPeers.updateSettings({ dashboard_id: pairings.dashboardId });
  }
  await pairings.flush();
  await receiverPeers.flush();
  return { identityFile, identity, pairings, receiverPeers, dashboardId: pairings.dashboardId };
}

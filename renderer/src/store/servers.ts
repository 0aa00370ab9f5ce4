// Build servers we send to (pairings), the ones found over mDNS ("Build servers on your network"), and this
// machine's build-server role.
import { create } from 'zustand';
import type { BuildServerPairing, BuildServerRoleState, DiscoveredBuildServers, Identity, PairingWindowState } from '../../../preload/contract';

/** Where the pair dialog should connect right away (a "Build servers on your network" row's Pair button). */
export interface PairTarget {
  host: string;
  port: number;
}

interface ServersState {
  pairings: BuildServerPairing[] | null;
  /** Unpaired build servers found over mDNS (null until fetched). */
  discovered: DiscoveredBuildServers | null;
  /** Set by a discovered row's Pair button, taken (and cleared) by the pair dialog when it opens. */
  pairTarget: PairTarget | null;
  role: BuildServerRoleState | null;
  /** Window state with the moment it was received, for a local countdown. */
  window: (PairingWindowState & { at: number }) | null;
  identity: Identity | null;
  set(p: Partial<Omit<ServersState, 'set'>>): void;
  patchPairing(pin: string, p: Partial<BuildServerPairing>): void;
}

export const useServers = create<ServersState>((set) => ({
  pairings: null,
  discovered: null,
  pairTarget: null,
  role: null,
  window: null,
  identity: null,
  set: (p) => set(p),
  patchPairing: (pin, p) =>
    set((s) => ({ pairings: s.pairings?.map((x) => (x.pin === pin ? { ...x, ...p } : x)) ?? null })),
}));

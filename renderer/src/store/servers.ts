// Build servers we send to (pairings) and this machine's build-server role.
import { create } from 'zustand';
import type { BuildServerPairing, BuildServerRoleState, Identity, PairingWindowState } from '../../../preload/contract';

interface ServersState {
  pairings: BuildServerPairing[] | null;
  role: BuildServerRoleState | null;
  /** Window state with the moment it was received, for a local countdown. */
  window: (PairingWindowState & { at: number }) | null;
  identity: Identity | null;
  set(p: Partial<Omit<ServersState, 'set'>>): void;
  patchPairing(pin: string, p: Partial<BuildServerPairing>): void;
}

export const useServers = create<ServersState>((set) => ({
  pairings: null,
  role: null,
  window: null,
  identity: null,
  set: (p) => set(p),
  patchPairing: (pin, p) =>
    set((s) => ({ pairings: s.pairings?.map((x) => (x.pin === pin ? { ...x, ...p } : x)) ?? null })),
}));

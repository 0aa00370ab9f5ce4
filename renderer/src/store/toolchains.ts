// Managed ESPHome toolchains as the window sees them: the backend's state, the installs in
// progress (from toolchainInstall events), and the last update check.
import { create } from 'zustand';
import type { ToolchainInstall, ToolchainsState, ToolchainUpdateCheck } from '../../../preload/contract';

interface ToolchainsStore {
  state: ToolchainsState | null;
  /** By install id, newest event wins. */
  installs: Record<string, ToolchainInstall>;
  update: ToolchainUpdateCheck | null;
  set(p: Partial<Omit<ToolchainsStore, 'set' | 'onInstall'>>): void;
  onInstall(i: ToolchainInstall): void;
}

export const useToolchains = create<ToolchainsStore>((set) => ({
  state: null,
  installs: {},
  update: null,
  set: (p) => set(p),
  onInstall: (i) => set((s) => ({ installs: { ...s.installs, [i.id]: i } })),
}));

/** The newest user install (running, or the last one that ended). */
export function latestInstall(installs: Record<string, ToolchainInstall>, origin: 'user' | 'provision' = 'user'): ToolchainInstall | null {
  const list = Object.values(installs).filter((i) => i.origin === origin);
  list.sort((a, b) => Number(b.id.slice(1)) - Number(a.id.slice(1)));
  return list[0] ?? null;
}

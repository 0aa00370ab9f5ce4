// UI state that is not jobs or logs: connection, environment, settings, configurations,
// navigation, dialogs and toasts.
import { useMemo } from 'react';
import { create } from 'zustand';
import type { ConfigurationEntry, Environment, Settings, ToastEvent } from '../../../preload/contract';
import type { ConnectionStatus } from '../backend/backend';

export type View = 'tasks' | 'servers' | 'settings';
export type TaskFilter = 'all' | 'failed';

export interface Toast extends ToastEvent {
  id: number;
}

export interface InstallDialogState {
  configuration: string;
  /** Desktop drop: where the imported file came from (display only). */
  importedFrom?: string;
  /** Set once started: the dialog follows this compile job. */
  jobId?: string;
}

interface AppState {
  connection: ConnectionStatus;
  env: Environment | null;
  settings: Settings | null;
  configurations: ConfigurationEntry[] | null;
  view: View;
  filter: TaskFilter;
  selectedJobId: string | null;
  /** The backend's queue pause (null until fetched). */
  queuePaused: boolean | null;
  installDialog: InstallDialogState | null;
  pairDialogOpen: boolean;
  toasts: Toast[];
  dragging: boolean;
  set(p: Partial<Omit<AppState, 'set' | 'toast' | 'dismissToast'>>): void;
  toast(t: ToastEvent, ttlMs?: number): void;
  dismissToast(id: number): void;
}

let nextToast = 1;

/** configuration file → friendly name (else device name), for labelling local jobs. */
export function deviceNamesOf(configs: ConfigurationEntry[] | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of configs ?? []) if (c.friendlyName || c.deviceName) out[c.name] = c.friendlyName || c.deviceName;
  return out;
}

export const useDeviceNames = (): Record<string, string> => {
  const configs = useApp((s) => s.configurations);
  return useMemo(() => deviceNamesOf(configs), [configs]);
};

export const useApp = create<AppState>((set, get) => ({
  connection: { state: 'connecting', attempt: 1 },
  env: null,
  settings: null,
  configurations: null,
  view: 'tasks',
  filter: 'all',
  selectedJobId: null,
  queuePaused: null,
  installDialog: null,
  pairDialogOpen: false,
  toasts: [],
  dragging: false,
  set: (p) => set(p),
  toast: (t, ttlMs = t.kind === 'error' ? 10_000 : 5_000) => {
    const id = nextToast++;
    set((s) => ({ toasts: [...s.toasts.slice(-4), { ...t, id }] }));
    setTimeout(() => get().dismissToast(id), ttlMs);
  },
  dismissToast: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
}));

// Calls shared by the first-run panel and Settings → Toolchains.
import { useApp } from '../store/app';
import { useToolchains } from '../store/toolchains';
import { errorMessage, getBackend } from '../sync';

export async function refreshToolchains(): Promise<void> {
  const api = getBackend().api;
  const state = await api.getToolchains({});
  const s = useToolchains.getState();
  s.set({ state });
  for (const i of state.installs) s.onInstall(i);
}

/** After an install or a default change: the esphome in use may be another one now. */
export async function refreshEnvironment(): Promise<void> {
  useApp.getState().set({ env: await getBackend().api.getEnvironment({}) });
}

export async function startInstall(version?: string): Promise<void> {
  try {
    const i = await getBackend().api.installToolchain(version ? { version } : {});
    useToolchains.getState().onInstall(i);
  } catch (err) {
    useApp.getState().toast({ kind: 'error', title: 'Could not start the ESPHome install', body: errorMessage(err) });
  }
}

export async function stopInstall(id: string): Promise<void> {
  await getBackend().api.stopToolchainInstall({ id }).catch(() => undefined);
}

export async function runToolchainAction(title: string, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    await refreshToolchains();
    await refreshEnvironment();
    return true;
  } catch (err) {
    useApp.getState().toast({ kind: 'error', title, body: errorMessage(err) });
    return false;
  }
}

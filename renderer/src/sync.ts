// Glue between the backend connection and the stores: fetch on (re)connect, apply events.
import type { BackendClient } from './backend/backend';
import { RpcError } from './backend/rpc-client';
import { onLogBatch, onLogGap } from './log/follow';
import { useApp } from './store/app';
import { useJobs } from './store/jobs';
import { useServers } from './store/servers';
import { useToolchains } from './store/toolchains';
import { refreshEnvironment, refreshToolchains } from './ui/toolchain-actions';

let backend: BackendClient | null = null;

export function getBackend(): BackendClient {
  if (!backend) throw new Error('backend not started');
  return backend;
}

export function errorMessage(err: unknown): string {
  if (err instanceof RpcError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

export async function refreshJobs(): Promise<void> {
  const jobs = await getBackend().api.getJobs({});
  useJobs.getState().setAll(jobs);
}

export async function refreshConfigurations(): Promise<void> {
  useApp.getState().set({ configurations: await getBackend().api.listConfigurations({}) });
}

export async function refreshServers(): Promise<void> {
  const b = getBackend();
  const hello = b.status().state === 'open' ? (b.status() as { hello: { capabilities: { pairing: boolean; buildServerRole: boolean } } }).hello : null;
  const s = useServers.getState();
  if (hello?.capabilities.pairing !== false) {
    s.set({ pairings: await b.api.listBuildServers({}).catch(() => []) });
  } else s.set({ pairings: [] });
  if (hello?.capabilities.buildServerRole) {
    const role = await b.api.getBuildServerRole({}).catch(() => null);
    s.set({ role, window: role ? { ...role.window, at: Date.now() } : null, identity: role?.identity ?? null });
  }
  if (!useServers.getState().identity) {
    const identity = await b.api.getIdentity({}).catch(() => null);
    s.set({ identity });
  }
}

export function startSync(b: BackendClient): void {
  backend = b;
  const app = useApp.getState();
  b.onStatus((connection) => useApp.getState().set({ connection }));
  app.set({ connection: b.status() });

  b.on('jobLifecycle', ({ job }) => useJobs.getState().upsert(job));
  b.on('jobProgress', ({ jobId, progress }) => useJobs.getState().setProgress(jobId, progress));
  b.on('jobsChanged', () => void refreshJobs().catch(() => undefined));
  b.on('logBatch', ({ jobId, firstSeq, lines }) => onLogBatch(jobId, firstSeq, lines));
  b.on('logGap', ({ jobId, fromSeq, toSeq }) => onLogGap(jobId, fromSeq, toSeq));
  b.on('toast', (t) => useApp.getState().toast(t));
  b.on('queuePaused', ({ paused }) => useApp.getState().set({ queuePaused: paused }));
  // An OS notification was clicked (Electron): show that job and its log.
  b.on('selectJob', ({ jobId }) => useApp.getState().set({ view: 'tasks', selectedJobId: jobId }));
  b.on('settingsChanged', (settings) => useApp.getState().set({ settings }));
  b.on('toolchainInstall', (i) => useToolchains.getState().onInstall(i));
  b.on('toolchainsChanged', () => {
    void refreshToolchains().catch(() => undefined);
    void refreshEnvironment().catch(() => undefined);
  });
  b.on('configurationsChanged', () => void refreshConfigurations().catch(() => undefined));
  b.on('buildServersChanged', () => void refreshServers().catch(() => undefined));
  b.on('buildServerConnection', ({ pin, connection, lastError }) => useServers.getState().patchPairing(pin, { connection, lastError }));
  b.on('buildServerQueue', ({ pin, queue }) => useServers.getState().patchPairing(pin, { queue }));
  b.on('buildServerRoleChanged', () => void refreshServers().catch(() => undefined));
  b.on('pairingWindow', (w) => useServers.getState().set({ window: { ...w, at: Date.now() } }));
  b.on('pairRequest', (r) => {
    useApp.getState().toast({ kind: 'info', title: 'Pairing request', body: `${r.label || r.dashboardId} (${r.peerIp}) wants to send builds here` });
    void refreshServers().catch(() => undefined);
  });
  b.on('pairStatus', ({ status }) => {
    if (status === 'rejected') useApp.getState().toast({ kind: 'error', title: 'Pairing declined', body: 'The build server declined or removed the request.' });
    void refreshServers().catch(() => undefined);
  });

  b.onConnected(() => {
    void (async () => {
      try {
        const [env, settings, queue] = await Promise.all([b.api.getEnvironment({}), b.api.getSettings({}), b.api.getQueuePause({})]);
        useApp.getState().set({ env, settings, queuePaused: queue.paused });
        await Promise.all([refreshJobs(), refreshConfigurations(), refreshServers()]);
      } catch (err) {
        useApp.getState().toast({ kind: 'error', title: 'Could not load state', body: errorMessage(err) });
      }
    })();
  });
}

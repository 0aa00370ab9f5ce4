// Glue between the backend connection and the stores: fetch on (re)connect, apply events.
import type { BackendClient } from './backend/backend';
import { RpcError } from './backend/rpc-client';
import { onLogBatch, onLogGap } from './log/follow';
import type { ConfigurationEntry, ToastEvent } from '../../preload/contract';
import { deviceNamesOf, useApp } from './store/app';
import { deviceLabel } from './ui/format';
import { isActiveJob, useJobs } from './store/jobs';
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

/** Finished jobs per page: a connect fetches one page, not the whole history. */
export const JOBS_PAGE = 100;

/**
 * The first page again ((re)connect, or a history change without a lifecycle event). As many
 * finished jobs as the window already shows, so "load more" pages stay loaded.
 */
export async function refreshJobs(): Promise<void> {
  const shown = Object.values(useJobs.getState().byId).filter((j) => !isActiveJob(j)).length;
  const page = await getBackend().api.getJobsPage({ limit: Math.min(500, Math.max(JOBS_PAGE, shown)) });
  useJobs.getState().applyPage(page, 'first');
}

/** The next older page of finished jobs (the task list's "Show older tasks"). */
export async function loadOlderJobs(): Promise<void> {
  const cursor = useJobs.getState().nextCursor;
  if (cursor === null) return;
  const page = await getBackend().api.getJobsPage({ limit: JOBS_PAGE, cursor });
  useJobs.getState().applyPage(page, 'older');
}

export async function refreshConfigurations(): Promise<void> {
  useApp.getState().set({ configurations: await getBackend().api.listConfigurations({}) });
}

/** The list with `changed` entries replaced or added and `removed` names dropped, sorted by name. */
export function mergeConfigurations(list: ConfigurationEntry[], changed: ConfigurationEntry[], removed: string[]): ConfigurationEntry[] {
  const byName = new Map(list.map((c) => [c.name, c]));
  for (const name of removed) byName.delete(name);
  for (const c of changed) byName.set(c.name, c);
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
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
  b.on('toast', (t) => useApp.getState().toast(plainWords(withDeviceName(t))));
  b.on('queuePaused', ({ paused }) => useApp.getState().set({ queuePaused: paused }));
  // An OS notification was clicked (Electron): show that job and its log.
  b.on('selectJob', ({ jobId }) => useApp.getState().set({ view: 'tasks', selectedJobId: jobId }));
  b.on('settingsChanged', (settings) => useApp.getState().set({ settings }));
  b.on('toolchainInstall', (i) => useToolchains.getState().onInstall(i));
  b.on('toolchainsChanged', () => {
    void refreshToolchains().catch(() => undefined);
    void refreshEnvironment().catch(() => undefined);
  });
  b.on('configurationsChanged', (e) => {
    // A delta (folder watch) is merged; a bare notice (older server, import) re-fetches.
    const have = useApp.getState().configurations;
    if (have && (e.changed || e.removed)) useApp.getState().set({ configurations: mergeConfigurations(have, e.changed ?? [], e.removed ?? []) });
    else void refreshConfigurations().catch(() => undefined);
  });
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

/**
 * One name per device: the backend's job notices start with the device's name as the job knows
 * it (for a local job often the file name); the window says the name its rows show.
 */
export function withDeviceName(t: ToastEvent): ToastEvent {
  const job = t.jobId ? useJobs.getState().byId[t.jobId] : undefined;
  if (!job || job.job_type === 'reset_build_env') return t;
  // A failure notice says what failed (the job's first decisive error line), not the exit code.
  if (job.status === 'failed' && job.failure?.line && /exited with code|failed$/i.test(t.body)) t = { ...t, body: job.failure.line };
  const shown = deviceLabel(job, deviceNamesOf(useApp.getState().configurations));
  const stem = job.configuration.split(/[\\/]/).pop()!.replace(/\.ya?ml$/i, '');
  for (const known of [job.device_friendly_name, job.device_name, stem]) {
    if (known && known !== shown && t.title.startsWith(`${known}:`)) return { ...t, title: `${shown}${t.title.slice(known.length)}` };
  }
  return t;
}

/** Transport jargon in notices, in plain words ("code 1006" means nothing to a user). */
export function plainWords(t: ToastEvent): ToastEvent {
  const body = t.body
    .replace(/connection closed by the peer \(code \d+\)/g, 'it stopped answering')
    .replace(/heartbeat_timeout[^)]*/g, 'it stopped answering')
    .replace(/peer_hung_up/g, 'it hung up');
  return body === t.body ? t : { ...t, body };
}

// The desktop app's backend is the shared composition root (main/core/app.ts createApp), the
// same one `kiln serve` runs; this file only picks its options from the environment and adapts
// it to what the shell needs (queue pause, build-server role, a bounded stop).
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { BuildServerRoleState, ImportResult } from '../../preload/contract';
import { createApp, type AppOptions, type KilnApp, type PeerLinkAppOptions } from '../core/app';
import type { ApiService } from '../core/api/api-service';
import { SettingsStore } from '../core/api/settings-store';
import type { DesktopIntegration, DesktopPolicy } from '../core/desktop';
import type { FirmwareJob } from '../core/jobs/model';
import { createBonjour, type BonjourLike } from '../core/peer-link/mdns';

export interface QueueControl {
  pause(): void;
  resume(): void;
  isPaused(): boolean;
}

/** How long quitting may take before Kiln exits anyway (issue 17 defect 6). */
export const QUIT_DEADLINE_MS = 10_000;

export interface StopOptions {
  /** Whole stop, from the call (default QUIT_DEADLINE_MS). */
  deadlineMs?: number;
}

export interface DesktopBackend {
  readonly app: KilnApp;
  readonly service: ApiService;
  readonly policy: DesktopPolicy;
  readonly configDir: string;
  readonly settings: SettingsStore;
  jobs(): FirmwareJob[];
  /** The API's own import (same validation, configurationsChanged event). */
  importYaml(req: { name: string; content: string; overwrite?: boolean }): Promise<ImportResult>;
  queueControl: QueueControl;
  /** The build-server role's state; null when this backend has no role (peer-link off). */
  buildServer(): BuildServerRoleState | null;
  /** Opens the pairing window of the build-server role (same validated call as the UI's). */
  openPairingWindow(): Promise<void>;
  /** Turns the build-server role off (the stored setting too, like the UI's switch). */
  stopBuildServer(): Promise<void>;
  /** Subscribes to the API's events (what every window hears); returns the unsubscribe. */
  onEvent(fn: (event: string, data: unknown) => void): () => void;
  /**
   * Bounded stop: running jobs end cancelled (`cancelled_by: 'shutdown'`) and are persisted
   * first, then the rest of the app stops; whatever has not finished by the deadline is left
   * behind (reported) so quitting never hangs. Resolves to false when the deadline was hit.
   */
  stop(opts?: StopOptions): Promise<boolean>;
}

export interface DesktopBackendOptions {
  configDir: string;
  dataDir?: string;
  esphome?: string[];
  appVersion?: string;
  desktop: DesktopIntegration;
  isJobVisible: (jobId: string) => boolean;
  peerLink?: PeerLinkAppOptions | false;
  /**
   * Advertise the build-server role over mDNS while its listener is bound (default true; a
   * BonjourLike replaces the real stack, e.g. a fake in tests).
   */
  mdns?: boolean | BonjourLike;
  /** Extra parts composed on the app (createApp `extensions`). */
  extensions?: AppOptions['extensions'];
  report?: (message: string) => void;
}

/**
 * Desktop environment knobs (the CLI flags of `kiln serve`, as variables):
 * KILN_CONFIG_DIR (else the "config dir" setting stored under ~/esphome/.kiln, else ~/esphome;
 * APP_DATA_DIR is accepted for the e2e harness), KILN_DATA_DIR, KILN_ESPHOME (space-separated
 * argv prefix), KILN_PEER_LINK=0 (local builds only), KILN_PEER_LINK_PORT, KILN_MDNS=0 (no mDNS
 * advertising of the build-server role; `kiln serve --no-mdns`).
 */
export async function desktopOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): Promise<Pick<DesktopBackendOptions, 'configDir' | 'dataDir' | 'esphome' | 'peerLink' | 'mdns'>> {
  let configDir = env.KILN_CONFIG_DIR || env.APP_DATA_DIR || '';
  if (!configDir) {
    const fallback = join(home, 'esphome');
    configDir = (await storedConfigDir(fallback)) ?? fallback;
  }
  const esphome = (env.KILN_ESPHOME ?? '').split(' ').filter(Boolean);
  const port = Number.parseInt(env.KILN_PEER_LINK_PORT ?? '', 10);
  return {
    configDir,
    dataDir: env.KILN_DATA_DIR || undefined,
    esphome: esphome.length ? esphome : undefined,
    peerLink: env.KILN_PEER_LINK === '0' ? false : Number.isInteger(port) && port >= 0 && port < 65536 ? { listenPort: port } : {},
    mdns: env.KILN_MDNS !== '0',
  };
}

/** The "config dir" setting saved in the default location (applies from the next launch). */
async function storedConfigDir(defaultConfigDir: string): Promise<string | null> {
  try {
    // The same store (validation, corrupt-file handling) the backend uses for its settings.
    const stored = await SettingsStore.forDataDir(join(defaultConfigDir, '.kiln')).load();
    return stored.config_dir && isAbsolute(stored.config_dir) ? stored.config_dir : null;
  } catch {
    return null; // unreadable: the default location
  }
}

/** Resolves 'done' when p settles first, 'timeout' after ms. */
async function within(p: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(
        () => 'done' as const,
        () => 'done' as const,
      ),
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), Math.max(0, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startDesktopBackend(opts: DesktopBackendOptions): Promise<DesktopBackend> {
  const report = opts.report ?? ((m: string) => console.error(`[kiln] ${m}`));
  // The real multicast stack (its socket opens on the first advertisement) unless turned off or
  // replaced; without peer-link there is no build-server role to advertise.
  const wantsReal = (opts.mdns ?? true) === true && opts.peerLink !== false;
  const owned = wantsReal ? createBonjour((err) => report(`mDNS: ${err.message}`)) : null;
  const mdns: BonjourLike | false = owned ?? (typeof opts.mdns === 'object' ? opts.mdns : false);
  let app: KilnApp;
  try {
    app = await createApp({
      configDir: opts.configDir,
      dataDir: opts.dataDir,
      esphome: opts.esphome,
      appVersion: opts.appVersion,
      desktopShell: true,
      desktop: opts.desktop,
      isJobVisible: opts.isJobVisible,
      peerLink: opts.peerLink,
      mdns,
      extensions: opts.extensions,
      report,
    });
  } catch (err) {
    owned?.destroy();
    throw err;
  }
  // An in-process API connection: imports by path and the tray's build-server items go through
  // the same validated calls as a window's.
  const listeners = new Set<(event: string, data: unknown) => void>();
  const internal = app.service.connect((event, data) => {
    for (const fn of [...listeners]) fn(event, data);
  });
  const engine = app.engine;
  const hasRole = !!app.peerLink?.role;
  let stopping: Promise<boolean> | null = null;
  return {
    app,
    service: app.service,
    policy: app.policy,
    configDir: app.configDir,
    settings: app.settings,
    jobs: () => engine.getJobs(),
    importYaml: (req) => internal.call('importYaml', req) as Promise<ImportResult>,
    queueControl: { pause: () => engine.pause(), resume: () => engine.resume(), isPaused: () => engine.isPaused() },
    buildServer: () => (hasRole ? app.peerLink!.role!.state() : null),
    openPairingWindow: async () => {
      await internal.call('openPairingWindow', {});
    },
    stopBuildServer: async () => {
      await internal.call('setBuildServerRole', { enabled: false });
    },
    onEvent(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    stop(o: StopOptions = {}) {
      stopping ??= (async () => {
        const deadline = Date.now() + (o.deadlineMs ?? QUIT_DEADLINE_MS);
        listeners.clear();
        internal.close();
        let inTime = true;
        // The engine first: running jobs end cancelled by 'shutdown' and are persisted even if a
        // later part (peer-link sessions, mDNS, an extension) hangs. createApp's own stop calls
        // engine.stop() again, which returns the same promise.
        if ((await within(engine.stop(), deadline - Date.now())) === 'timeout') {
          report('quit: the job engine did not stop in time; exiting anyway');
          inTime = false;
        } else if ((await within(app.stop(), deadline - Date.now())) === 'timeout') {
          report('quit: shutting down took too long; exiting anyway');
          inTime = false;
        }
        owned?.destroy();
        return inTime;
      })();
      return stopping;
    },
  };
}

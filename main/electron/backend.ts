// The desktop app's backend is the shared composition root (main/core/app.ts createApp), the
// same one `kiln serve` runs; this file only picks its options from the environment and adapts
// it to what the shell needs.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ImportResult } from '../../preload/contract';
import { createApp, type KilnApp, type PeerLinkAppOptions } from '../core/app';
import type { ApiService } from '../core/api/service';
import type { DesktopIntegration, DesktopPolicy } from '../core/desktop';
import type { FirmwareJob } from '../core/jobs/model';
import { createBonjour, type BonjourLike } from '../core/peer-link/mdns';

export interface QueueControl {
  pause(): void;
  resume(): void;
  isPaused(): boolean;
}

export interface DesktopBackend {
  readonly app: KilnApp;
  readonly service: ApiService;
  readonly policy: DesktopPolicy;
  readonly configDir: string;
  jobs(): FirmwareJob[];
  /** The API's own import (same validation, configurationsChanged event). */
  importYaml(req: { name: string; content: string; overwrite?: boolean }): Promise<ImportResult>;
  /** Engine capability "pause the lanes"; null while the engine has none. */
  queueControl: QueueControl | null;
  stop(): Promise<void>;
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
): Promise<Pick<DesktopBackendOptions, 'configDir' | 'dataDir' | 'esphome' | 'peerLink' | 'mdns'>> {
  let configDir = env.KILN_CONFIG_DIR || env.APP_DATA_DIR || '';
  if (!configDir) {
    const fallback = join(homedir(), 'esphome');
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
    const raw = JSON.parse(await readFile(join(defaultConfigDir, '.kiln', 'settings.json'), 'utf8')) as { config_dir?: unknown };
    return typeof raw.config_dir === 'string' && isAbsolute(raw.config_dir) ? raw.config_dir : null;
  } catch {
    return null;
  }
}

/** Structural check, so the tray's Pause item lights up as soon as the engine grows the methods. */
function queueControlOf(engine: object): QueueControl | null {
  const e = engine as Partial<QueueControl>;
  return typeof e.pause === 'function' && typeof e.resume === 'function' && typeof e.isPaused === 'function'
    ? { pause: () => e.pause!.call(engine), resume: () => e.resume!.call(engine), isPaused: () => e.isPaused!.call(engine) }
    : null;
}

export async function startDesktopBackend(opts: DesktopBackendOptions): Promise<DesktopBackend> {
  // The real multicast stack (its socket opens on the first advertisement) unless turned off or
  // replaced; without peer-link there is no build-server role to advertise.
  const wantsReal = (opts.mdns ?? true) === true && opts.peerLink !== false;
  const owned = wantsReal ? createBonjour((err) => console.error(`[kiln] mDNS: ${err.message}`)) : null;
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
    });
  } catch (err) {
    owned?.destroy();
    throw err;
  }
  // An in-process API connection: drop imports by path go through the same validated call.
  const internal = app.service.connect(() => {});
  return {
    app,
    service: app.service,
    policy: app.policy,
    configDir: app.configDir,
    jobs: () => app.engine.getJobs(),
    importYaml: (req) => internal.call('importYaml', req) as Promise<ImportResult>,
    queueControl: queueControlOf(app.engine),
    async stop() {
      internal.close();
      try {
        await app.stop();
      } finally {
        owned?.destroy();
      }
    },
  };
}

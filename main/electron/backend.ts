// What the shell needs from the backend, and how it gets it. The backend itself is the shared
// composition root (main/core/app.ts) that `kiln serve` also uses; this file only adapts it.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ImportResult } from '../../preload/contract';
import { ApiService } from '../core/api/service';
import { SettingsStore } from '../core/api/settings-store';
import type { EventBus } from '../core/events';
import { JobEngine } from '../core/jobs/engine';
import type { FirmwareJob } from '../core/jobs/model';

export interface DesktopBackend {
  readonly service: ApiService;
  readonly bus: EventBus;
  readonly configDir: string;
  jobs(): FirmwareJob[];
  notificationsEnabled(): boolean;
  /** The API's own import (same validation, configurationsChanged event). */
  importYaml(req: { name: string; content: string; overwrite?: boolean }): Promise<ImportResult>;
  /** Engine capability "pause the lanes"; null when the engine has none. */
  queueControl: { pause(): void; resume(): void; isPaused(): boolean } | null;
  stop(): Promise<void>;
}

export interface DesktopBackendOptions {
  configDir?: string;
  appVersion?: string;
  /** argv prefix of the esphome command when the setting is empty (KILN_ESPHOME, else esphome). */
  esphome?: string[];
}

/** KILN_ESPHOME as an argv prefix (space-separated; paths with spaces go in the setting). */
export function esphomeFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const parts = (env.KILN_ESPHOME ?? '').split(' ').filter(Boolean);
  return parts.length ? parts : ['esphome'];
}

export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KILN_CONFIG_DIR || env.APP_DATA_DIR || join(homedir(), 'esphome');
}

export async function startDesktopBackend(opts: DesktopBackendOptions = {}): Promise<DesktopBackend> {
  const configDir = opts.configDir ?? defaultConfigDir();
  const dataDir = join(configDir, '.kiln');
  const settings = SettingsStore.forDataDir(dataDir);
  const stored = await settings.load();
  const defaultEsphome = opts.esphome ?? esphomeFromEnv();
  const engine = new JobEngine({ configDir, dataDir, esphome: stored.esphome_command.length ? stored.esphome_command : defaultEsphome });
  await engine.start();
  const service = new ApiService({ jobs: engine, settings, defaultEsphome, desktop: true, appVersion: opts.appVersion });
  const internal = service.connect(() => {});
  return {
    service,
    bus: engine.bus,
    configDir,
    jobs: () => engine.getJobs(),
    notificationsEnabled: () => service.notificationsOn(),
    importYaml: (req) => internal.call('importYaml', req) as Promise<ImportResult>,
    queueControl: null,
    async stop() {
      internal.close();
      service.dispose();
      await engine.stop();
    },
  };
}

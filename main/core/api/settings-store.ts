// App settings (`<dataDir>/settings.json`): the esphome command, notifications, the config dir
// the desktop app should use next launch, and — only when no peer-link store owns them — the
// offloader settings. Written atomically (temp + rename); a corrupt file is moved aside.
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { VERSION_POLICY_VALUES, type VersionPolicy } from '../../../preload/contract';
import { writeFileAtomicPrivate } from '../private-fs';
import { validKeep, validMaxBytes } from '../firmware/retention';
import { DEFAULT_RETENTION } from '../firmware/store';

export interface StoredSettings {
  esphome_command: string[];
  notifications: boolean;
  config_dir: string;
  remote_builds_enabled: boolean;
  include_local_in_pool: boolean;
  version_match_policy: VersionPolicy;
  /** Desktop app: start at login (applied by the Electron shell; ignored elsewhere). */
  launch_at_login: boolean;
  /** Firmware library: builds kept per device (1..50). */
  firmware_keep_per_device: number;
  /** Firmware library: total size limit in bytes (64 MiB..100 GiB). */
  firmware_max_bytes: number;
}

export const DEFAULT_SETTINGS: StoredSettings = {
  esphome_command: [],
  notifications: true,
  config_dir: '',
  remote_builds_enabled: true,
  include_local_in_pool: false,
  version_match_policy: 'any',
  launch_at_login: false,
  firmware_keep_per_device: DEFAULT_RETENTION.perDevice,
  firmware_max_bytes: DEFAULT_RETENTION.maxBytes,
};

export class SettingsStore {
  private current: StoredSettings = { ...DEFAULT_SETTINGS };
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  static forDataDir(dataDir: string): SettingsStore {
    return new SettingsStore(join(dataDir, 'settings.json'));
  }

  async load(): Promise<StoredSettings> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.get();
      throw err;
    }
    try {
      this.current = normalise(JSON.parse(text));
    } catch (err) {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      await rename(this.file, aside).catch(() => undefined);
      console.error(`[kiln] settings file was corrupt (${(err as Error).message}); moved to ${aside}`);
      this.current = { ...DEFAULT_SETTINGS };
    }
    return this.get();
  }

  get(): StoredSettings {
    return { ...this.current, esphome_command: [...this.current.esphome_command] };
  }

  async update(patch: Partial<StoredSettings>): Promise<StoredSettings> {
    this.current = normalise({ ...this.current, ...patch });
    const snapshot = JSON.stringify(this.current, null, 2) + '\n';
    // Serialise writes so a slow earlier write can never land after a later one.
    this.writing = this.writing.then(() => writeAtomic(this.file, snapshot));
    await this.writing;
    return this.get();
  }
}

function normalise(raw: unknown): StoredSettings {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('settings must be a JSON object');
  const r = raw as Record<string, unknown>;
  const cmd = Array.isArray(r.esphome_command) && r.esphome_command.every((s) => typeof s === 'string') ? (r.esphome_command) : [];
  const policy = VERSION_POLICY_VALUES.includes(r.version_match_policy as VersionPolicy)
    ? (r.version_match_policy as VersionPolicy)
    : DEFAULT_SETTINGS.version_match_policy;
  return {
    esphome_command: cmd,
    notifications: typeof r.notifications === 'boolean' ? r.notifications : DEFAULT_SETTINGS.notifications,
    config_dir: typeof r.config_dir === 'string' ? r.config_dir : '',
    remote_builds_enabled: typeof r.remote_builds_enabled === 'boolean' ? r.remote_builds_enabled : DEFAULT_SETTINGS.remote_builds_enabled,
    include_local_in_pool: typeof r.include_local_in_pool === 'boolean' ? r.include_local_in_pool : DEFAULT_SETTINGS.include_local_in_pool,
    version_match_policy: policy,
    launch_at_login: typeof r.launch_at_login === 'boolean' ? r.launch_at_login : DEFAULT_SETTINGS.launch_at_login,
    firmware_keep_per_device: validKeep(r.firmware_keep_per_device, DEFAULT_SETTINGS.firmware_keep_per_device),
    firmware_max_bytes: validMaxBytes(r.firmware_max_bytes, DEFAULT_SETTINGS.firmware_max_bytes),
  };
}

/** 0600 in a 0700 data dir whatever the umask (the esphome command and config dir are private). */
async function writeAtomic(file: string, text: string): Promise<void> {
  await writeFileAtomicPrivate(file, text);
}

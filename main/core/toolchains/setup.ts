// One place that turns "explicit flag/env > the user's setting > the managed default > `esphome`
// on the PATH" into the argv the job engine runs, for `kiln serve`, the desktop and
// `kiln receiver`. With toolchains on (POSIX), the engine runs Kiln's launcher, so a newly
// installed default applies without a restart and a build server can build one job in another
// version (peer-link §9.5).
import { resolveEsphomeCommand } from '../esphome/command';
import { BuildServerProvisioner } from '../build-server/provision';
import { launcherSupported, writeLauncher } from './launcher';
import { ToolchainManager, type ToolchainManagerOptions } from './manager';
import { ToolchainStore } from './store';

export interface ToolchainSetupOptions {
  /** Where the launcher is written (the app's data dir). */
  dataDir: string;
  /** `--esphome` / `KILN_ESPHOME`. */
  explicit?: readonly string[];
  /** The user's stored setting. */
  setting?: readonly string[];
  /** false: no managed toolchains (the esphome argv is used as is; no provisioning). */
  store?: ToolchainStore | false;
  pip?: ToolchainManagerOptions['pip'];
  updateUrl?: string;
  platform?: NodeJS.Platform;
}

export interface ToolchainSetup {
  readonly manager: ToolchainManager | null;
  /** The argv the engine is created with (the launcher, or the resolved command itself). */
  readonly engineCommand: string[];
  /** The engine runs the launcher: command changes apply without a restart. */
  readonly live: boolean;
  /** The esphome the launcher runs when a build does not ask for another version. */
  base(): string[];
  /** True when the chosen esphome is the managed default (it follows the default). */
  followsManaged(): boolean;
  /** Re-resolves after a setting or default change; true when `base()` changed. */
  refresh(setting?: readonly string[]): Promise<boolean>;
  /** For a build server; null when toolchains are off or builds cannot switch version here. */
  provisioner(ownVersion: () => string): BuildServerProvisioner | null;
}

export async function setupToolchains(o: ToolchainSetupOptions): Promise<ToolchainSetup> {
  const manager = o.store === false ? null : new ToolchainManager({ store: o.store ?? new ToolchainStore(), pip: o.pip, updateUrl: o.updateUrl });
  const usesLauncher = manager !== null && launcherSupported(o.platform);
  let setting = o.setting ? [...o.setting] : [];
  const resolve = (): string[] =>
    o.explicit && o.explicit.length > 0 ? [...o.explicit] : resolveEsphomeCommand({ setting, managed: manager?.store.defaultToolchain()?.command ?? null });
  let base = resolve();
  const engineCommand = usesLauncher ? await writeLauncher(o.dataDir, base) : base;
  return {
    manager,
    engineCommand,
    live: usesLauncher,
    base: () => [...base],
    followsManaged: () => !(o.explicit && o.explicit.length > 0) && setting.length === 0,
    async refresh(next?: readonly string[]): Promise<boolean> {
      if (next) setting = [...next];
      const b = resolve();
      if (b.join('\0') === base.join('\0')) return false;
      base = b;
      if (usesLauncher) await writeLauncher(o.dataDir, base);
      return true;
    },
    provisioner: (ownVersion) => (manager && usesLauncher ? new BuildServerProvisioner({ manager, ownVersion }) : null),
  };
}

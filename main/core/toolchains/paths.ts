// Where toolchains live: one per-user folder shared by every Kiln command on the machine.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface PlatformInfo {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  home: string;
}

const here = (): PlatformInfo => ({ platform: process.platform, env: process.env, home: homedir() });

/** `KILN_TOOLCHAINS` wins; else the platform's per-user data folder. */
export function toolchainsRoot(p: PlatformInfo = here()): string {
  const override = p.env.KILN_TOOLCHAINS?.trim();
  if (override) return resolve(override);
  switch (p.platform) {
    case 'darwin':
      return join(p.home, 'Library', 'Application Support', 'Kiln', 'toolchains');
    case 'win32':
      return join(p.env.LOCALAPPDATA || join(p.home, 'AppData', 'Local'), 'Kiln', 'toolchains');
    default:
      return join(p.env.XDG_DATA_HOME || join(p.home, '.local', 'share'), 'kiln', 'toolchains');
  }
}

/** The interpreter inside a virtual environment. */
export function venvPython(venvDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? join(venvDir, 'Scripts', 'python.exe') : join(venvDir, 'bin', 'python');
}

/**
 * The esphome argv of a toolchain. `python -m esphome`, not the console script: the venv is built
 * in a temp folder and renamed into place, and console scripts carry the old absolute path in
 * their shebang while the interpreter finds its venv from its own location.
 */
export function toolchainCommand(venvDir: string, platform: NodeJS.Platform = process.platform): string[] {
  return [venvPython(venvDir, platform), '-m', 'esphome'];
}

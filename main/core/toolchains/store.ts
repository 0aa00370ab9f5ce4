// The toolchains folder: `<root>/<version>/` (a venv + kiln-toolchain.json), `<root>/default.json`
// (the managed default, shared by every Kiln command on the machine), `<root>/.locks/`, and
// `<root>/.tmp-*` (installs in progress; left-overs of a crash are swept). Everything read from
// here was written by another process and is validated.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomicPrivate } from '../private-fs';
import { toolchainCommand, toolchainsRoot, venvPython } from './paths';
import { compareVersions, isEsphomeVersion, ToolchainError, checkVersion } from './version';

export const META_FILE = 'kiln-toolchain.json';

export interface ToolchainMeta {
  version: string;
  pythonVersion: string;
  python: string;
  installedAt: string;
  lastUsedAt: string;
}

export interface Toolchain extends ToolchainMeta {
  dir: string;
  /** The esphome argv of this toolchain. */
  command: string[];
  isDefault: boolean;
}

export class ToolchainStore {
  readonly root: string;

  constructor(root: string = toolchainsRoot()) {
    this.root = root;
  }

  dirFor(version: string): string {
    return join(this.root, checkVersion(version));
  }

  lockFile(name: string): string {
    return join(this.root, '.locks', `${name}.lock`);
  }

  /** Installed toolchains, newest version first. Folders without valid metadata are skipped. */
  list(): Toolchain[] {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch {
      return [];
    }
    const def = this.defaultVersion();
    const out: Toolchain[] = [];
    for (const name of names) {
      if (!isEsphomeVersion(name)) continue;
      const t = this.read(name, def);
      if (t) out.push(t);
    }
    return out.sort((a, b) => compareVersions(b.version, a.version));
  }

  get(version: string): Toolchain | null {
    if (!isEsphomeVersion(version)) return null;
    return this.read(version, this.defaultVersion());
  }

  /** The managed default's version, or null (none chosen, or it was removed by hand). */
  defaultVersion(): string | null {
    try {
      const raw = JSON.parse(readFileSync(join(this.root, 'default.json'), 'utf8')) as { version?: unknown };
      return isEsphomeVersion(raw.version) && existsSync(join(this.root, raw.version, META_FILE)) ? raw.version : null;
    } catch {
      return null;
    }
  }

  defaultToolchain(): Toolchain | null {
    const v = this.defaultVersion();
    return v ? this.get(v) : null;
  }

  async setDefault(version: string): Promise<Toolchain> {
    const t = this.get(checkVersion(version));
    if (!t) throw new ToolchainError(`ESPHome ${version} is not installed (install it first: kiln toolchain install ${version})`, 'not_installed');
    await writeFileAtomicPrivate(join(this.root, 'default.json'), `${JSON.stringify({ version, chosenAt: new Date().toISOString() })}\n`);
    return { ...t, isDefault: true };
  }

  /** Removes one toolchain. The default stays until another is chosen (`force` for the last one). */
  async remove(version: string, opts: { allowDefault?: boolean } = {}): Promise<void> {
    checkVersion(version);
    const t = this.get(version);
    if (!t) throw new ToolchainError(`ESPHome ${version} is not installed`, 'not_installed');
    if (t.isDefault && !opts.allowDefault) {
      throw new ToolchainError(`ESPHome ${version} is the default toolchain; choose another default first (kiln toolchain use VERSION)`, 'in_use');
    }
    // Rename first so a half-removed venv is never taken for an installed one.
    const doomed = join(this.root, `.tmp-remove-${version}-${process.pid}-${Date.now()}`);
    await rename(t.dir, doomed);
    await rm(doomed, { recursive: true, force: true });
    if (t.isDefault) await rm(join(this.root, 'default.json'), { force: true });
  }

  async touch(version: string): Promise<void> {
    const t = this.get(version);
    if (!t) return;
    const meta: ToolchainMeta = { version: t.version, pythonVersion: t.pythonVersion, python: t.python, installedAt: t.installedAt, lastUsedAt: new Date().toISOString() };
    await writeFileAtomicPrivate(join(t.dir, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
  }

  private read(version: string, def: string | null): Toolchain | null {
    const dir = join(this.root, version);
    try {
      const raw = JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as Partial<ToolchainMeta>;
      if (raw.version !== version || !existsSync(venvPython(dir))) return null;
      const str = (v: unknown): string => (typeof v === 'string' ? v.slice(0, 4096) : '');
      return {
        version,
        pythonVersion: str(raw.pythonVersion),
        python: str(raw.python),
        installedAt: str(raw.installedAt),
        lastUsedAt: str(raw.lastUsedAt) || str(raw.installedAt),
        dir,
        command: toolchainCommand(dir),
        isDefault: def === version,
      };
    } catch {
      return null;
    }
  }
}

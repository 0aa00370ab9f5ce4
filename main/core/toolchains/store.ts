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
/** Provisioned toolchains a build server keeps for reuse (upstream keeps every version; we bound it). */
export const DEFAULT_PROVISION_KEEP = 3;

export interface ToolchainMeta {
  version: string;
  pythonVersion: string;
  python: string;
  installedAt: string;
  lastUsedAt: string;
  /** 'user': installed on purpose (kept until removed); 'provision': installed by a build server for a sender's version (evicted oldest-unused first). */
  origin: 'user' | 'provision';
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

  /** Marks a provisioned toolchain as the user's (installing it on purpose keeps it). */
  async adopt(version: string): Promise<void> {
    const t = this.get(version);
    if (!t || t.origin === 'user') return;
    await this.writeMeta(t, { origin: 'user' });
  }

  private async writeMeta(t: Toolchain, patch: Partial<ToolchainMeta>): Promise<void> {
    const meta: ToolchainMeta = { version: t.version, pythonVersion: t.pythonVersion, python: t.python, installedAt: t.installedAt, lastUsedAt: t.lastUsedAt, origin: t.origin, ...patch };
    await writeFileAtomicPrivate(join(t.dir, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
  }

  /** Provisioning settings shared by every Kiln process (`settings.json`). */
  provisionKeep(): number {
    try {
      const raw = JSON.parse(readFileSync(join(this.root, 'settings.json'), 'utf8')) as { provisionKeep?: unknown };
      const n = raw.provisionKeep;
      return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 50 ? n : DEFAULT_PROVISION_KEEP;
    } catch {
      return DEFAULT_PROVISION_KEEP;
    }
  }

  async setProvisionKeep(n: number): Promise<void> {
    if (!Number.isInteger(n) || n < 1 || n > 50) throw new ToolchainError('The number of kept toolchains must be a whole number from 1 to 50', 'invalid_version');
    await writeFileAtomicPrivate(join(this.root, 'settings.json'), `${JSON.stringify({ provisionKeep: n })}\n`);
  }

  async touch(version: string): Promise<void> {
    const t = this.get(version);
    if (!t) return;
    await this.writeMeta(t, { lastUsedAt: new Date().toISOString() });
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
        origin: raw.origin === 'provision' ? 'provision' : 'user',
        dir,
        command: toolchainCommand(dir),
        isDefault: def === version,
      };
    } catch {
      return null;
    }
  }
}

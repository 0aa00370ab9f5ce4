// Install without rebuilding (issue 15): when the firmware library holds a build for the
// configuration's current digest and the ESPHome version this computer would compile with, the
// install stages that build's files into the local build tree and queues only the upload (no
// compile job, no esphome compile process). A damaged or missing entry falls back to a normal
// install with a notice in its log; `rebuild: true` ("Rebuild anyway") always compiles.
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resolveConfigPath } from '../esphome/argv';
import { esphomeDataDir } from '../esphome/storage-json';
import type { ConfigDigester } from '../firmware/digest';
import { readStorageFacts } from '../firmware/recorder';
import type { FirmwareLibrary, LibraryEntry } from '../firmware/store';
import type { FirmwareJob } from './model';

export interface InstallRequest {
  configuration: string;
  port?: string;
  forceLocal?: boolean;
  bootloader?: boolean;
  /** "Rebuild anyway": skip the library. */
  rebuild?: boolean;
}

/** The two engine operations the decision ends in (JobEngine implements both). */
export interface InstallTarget {
  install(a: InstallRequest & { note?: string }): FirmwareJob;
  upload(a: { configuration: string; port?: string; bootloader?: boolean; note?: string }): FirmwareJob;
}

export interface LibraryInstallOptions {
  library: FirmwareLibrary;
  digester: ConfigDigester;
  configDir: string;
  /** The ESPHome version a local compile would use now ('' = unknown: never use the library). */
  esphomeVersion: () => string;
  /** Environment esphome runs with (ESPHOME_DATA_DIR …), to find the build tree. */
  env: () => Record<string, string | undefined>;
  now?: () => number;
}

export type LibraryDecision = { kind: 'hit'; entry: LibraryEntry; digest: string } | { kind: 'miss'; notice: string | null };

/** "2 h ago", "5 min ago", "3 days ago". */
export function ago(fromIso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  const d = Math.round(s / 86400);
  return `${d} day${d === 1 ? '' : 's'} ago`;
}

export function describeBuild(entry: LibraryEntry, now: number): string {
  const where = entry.built_on === 'local' ? 'this computer' : entry.built_on_label;
  return `built ${ago(entry.built_at, now)} on ${where}, ESPHome ${entry.esphome_version}`;
}

export class LibraryInstall {
  private readonly now: () => number;

  constructor(private readonly opts: LibraryInstallOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Looks the configuration's current digest up in the library (verifying the files). */
  async decide(configuration: string): Promise<LibraryDecision> {
    const version = this.opts.esphomeVersion();
    if (!version) return { kind: 'miss', notice: null };
    const yaml = resolveConfigPath(this.opts.configDir, configuration);
    let digest: string;
    try {
      digest = (await this.opts.digester.digest(yaml, version)).digest;
    } catch {
      return { kind: 'miss', notice: null };
    }
    const { entry, problem } = await this.opts.library.findVerified(configuration, digest);
    if (entry) return { kind: 'hit', entry, digest };
    return { kind: 'miss', notice: problem ? `${problem}; rebuilding` : null };
  }

  /**
   * Install through the library when it can: a hit stages the files and queues an upload; a miss
   * (or `rebuild`) queues the normal compile + upload. Returns the first job of what was queued.
   */
  async install(target: InstallTarget, req: InstallRequest): Promise<FirmwareJob> {
    if (!req.rebuild) {
      const d = await this.decide(req.configuration);
      if (d.kind === 'hit') {
        try {
          await this.stage(d.entry, req.configuration);
        } catch (err) {
          return target.install({ ...req, note: `Firmware library: could not use build ${d.entry.id} (${(err as Error).message}); rebuilding.\n` });
        }
        const note = `Firmware library: installing build ${d.entry.id} (${describeBuild(d.entry, this.now())}) without compiling.\n`;
        return target.upload({ configuration: req.configuration, port: req.port ?? 'OTA', bootloader: req.bootloader, note });
      }
      if (d.notice) return target.install({ ...req, note: `Firmware library: ${d.notice}.\n` });
    }
    return target.install(req);
  }

  /** Flashes a chosen (older) entry: stage it, queue the upload. */
  async flash(target: InstallTarget, a: { configuration: string; id: string; port?: string; bootloader?: boolean }): Promise<FirmwareJob> {
    const entry = await this.opts.library.get(a.id);
    if (!entry || entry.device !== a.configuration) throw new Error(`no firmware build ${a.id} for ${a.configuration}`);
    await this.opts.library.verify(entry);
    await this.stage(entry, a.configuration);
    const note = `Firmware library: flashing build ${entry.id} (${describeBuild(entry, this.now())}).\n`;
    return target.upload({ configuration: a.configuration, port: a.port ?? 'OTA', bootloader: a.bootloader, note });
  }

  /**
   * Copies the entry's files to where esphome's upload looks for them: images under the build
   * path its storage.json names, storage.json/idedata under the esphome data dir. Each file is
   * copied to a temporary name, re-hashed, then renamed into place (a crash leaves no half image).
   */
  async stage(entry: LibraryEntry, configuration: string): Promise<void> {
    const yaml = resolveConfigPath(this.opts.configDir, configuration);
    const dataDir = esphomeDataDir(yaml, this.opts.env());
    const storage = entry.images.find((i) => i.role === 'storage');
    if (!storage) throw new Error('the build has no storage.json');
    const facts = await readStorageFacts(join(entry.dir, storage.file));
    if (!facts) throw new Error('the build\'s storage.json is unreadable');
    for (const im of entry.images) {
      const dest = join(im.base === 'build' ? facts.buildPath : dataDir, ...im.rel.split('/'));
      await mkdir(dirname(dest), { recursive: true });
      const tmp = `${dest}.kiln-${randomBytes(4).toString('hex')}`;
      try {
        await copyFile(join(entry.dir, im.file), tmp);
        const sha = createHash('sha256').update(await readFile(tmp)).digest('hex');
        if (sha !== im.sha256) throw new Error(`${im.file} changed while staging`);
        await rename(tmp, dest);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    }
  }
}

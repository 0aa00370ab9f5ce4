// The firmware library on disk: `<dataDir>/firmware/`.
//   entries/<id>/entry.json + image files   — write-once; built in tmp/ then renamed in whole
//   pins/<id>                               — marker: the user pinned this entry (kept by retention)
//   tmp/                                    — entries being written or deleted
// Several Kiln processes may share a data dir: ids are unique (time + random), an entry appears
// only complete (one rename), and the index is rebuilt from entries/ on every read, so there is
// no shared index file to race on. Deletion renames the entry into tmp/ first, so a reader sees a
// whole entry or none.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirPrivate, PRIVATE_FILE_MODE, writeFilePrivate } from '../private-fs';
import { ENTRY_ID, entrySize, parseEntry, type FirmwareEntry, type FirmwareImage, type ImageRole } from './entry';

export interface RetentionSettings {
  /** Entries kept per device (pinned ones not counted). Default 3. */
  perDevice: number;
  /** Total bytes of all entries. Default 1 GiB. */
  maxBytes: number;
}

export const DEFAULT_RETENTION: RetentionSettings = { perDevice: 3, maxBytes: 1024 ** 3 };

/** An image to add: the source file and where esphome expects it. */
export interface NewImage {
  role: ImageRole;
  source: string;
  base: 'build' | 'data';
  rel: string;
}

export type NewEntry = Omit<FirmwareEntry, 'format' | 'id' | 'images'> & { images: NewImage[] };

export interface LibraryEntry extends FirmwareEntry {
  pinned: boolean;
  size: number;
  /** Folder holding the entry's files. */
  dir: string;
}

export class FirmwareCorruptError extends Error {}

function newEntryId(now: number): string {
  return `${now.toString(36)}-${randomBytes(4).toString('hex')}`;
}

async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const data = await readFile(path);
  return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}

export class FirmwareLibrary {
  readonly root: string;
  private readonly retention: () => RetentionSettings;
  private readonly now: () => number;

  constructor(opts: { dataDir: string; retention?: () => RetentionSettings; now?: () => number }) {
    this.root = join(opts.dataDir, 'firmware');
    this.retention = opts.retention ?? (() => DEFAULT_RETENTION);
    this.now = opts.now ?? Date.now;
  }

  private get entriesDir(): string {
    return join(this.root, 'entries');
  }
  private get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  private get pinsDir(): string {
    return join(this.root, 'pins');
  }

  /** Copies the images into a new entry (hashing each), publishes it, then applies retention. */
  async add(input: NewEntry): Promise<LibraryEntry> {
    await Promise.all([mkdirPrivate(this.entriesDir), mkdirPrivate(this.tmpDir)]);
    const id = newEntryId(this.now());
    const tmp = join(this.tmpDir, `${id}.new`);
    await mkdirPrivate(tmp);
    try {
      const images: FirmwareImage[] = [];
      const used = new Set<string>();
      for (const im of input.images) {
        const baseName = im.rel.split('/').pop()!.replace(/[^A-Za-z0-9._-]/g, '_') || 'image.bin';
        let file = `${im.role}-${baseName}`;
        for (let n = 2; used.has(file); n++) file = `${im.role}${n}-${baseName}`;
        used.add(file);
        const dest = join(tmp, file);
        await copyFile(im.source, dest);
        await chmod(dest, PRIVATE_FILE_MODE);
        // Hash the copy, not the source: the copy is what will be flashed.
        const { sha256, size } = await sha256File(dest);
        images.push({ role: im.role, file, base: im.base, rel: im.rel, size, sha256 });
      }
      const entry: FirmwareEntry = { format: 1, id, ...input, images };
      parseEntry(entry, id);
      await writeFilePrivate(join(tmp, 'entry.json'), `${JSON.stringify(entry, null, 2)}\n`);
      await rename(tmp, join(this.entriesDir, id));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    await this.applyRetention();
    await this.sweepTmp();
    const added = await this.get(id);
    if (!added) throw new Error(`firmware entry ${id} was removed by retention at once (size cap too small?)`);
    return added;
  }

  /** Every readable entry, newest first. Damaged entries are skipped (see `get` for the reason). */
  async list(device?: string): Promise<LibraryEntry[]> {
    let ids: string[];
    try {
      ids = (await readdir(this.entriesDir)).filter((n) => ENTRY_ID.test(n));
    } catch {
      return [];
    }
    const pins = new Set(await readdir(this.pinsDir).catch(() => [] as string[]));
    const entries = await Promise.all(ids.map((id) => this.read(id, pins.has(id)).catch(() => null)));
    return entries
      .filter((e): e is LibraryEntry => e !== null && (device === undefined || e.device === device))
      .sort((a, b) => (a.built_at < b.built_at ? 1 : a.built_at > b.built_at ? -1 : a.id < b.id ? 1 : -1));
  }

  async get(id: string): Promise<LibraryEntry | null> {
    if (!ENTRY_ID.test(id)) return null;
    const pinned = await stat(join(this.pinsDir, id)).then(() => true, () => false);
    return this.read(id, pinned).catch(() => null);
  }

  /** The newest entry for this device and digest whose files are all present and intact. */
  async findVerified(device: string, digest: string): Promise<{ entry: LibraryEntry | null; problem: string | null }> {
    const candidates = (await this.list(device)).filter((e) => e.digest === digest);
    let problem: string | null = null;
    for (const entry of candidates) {
      try {
        await this.verify(entry);
        return { entry, problem };
      } catch (err) {
        problem ??= (err as Error).message;
      }
    }
    return { entry: null, problem };
  }

  /** Re-hashes every image; throws FirmwareCorruptError naming the first bad file. */
  async verify(entry: LibraryEntry): Promise<void> {
    for (const im of entry.images) {
      let got;
      try {
        got = await sha256File(join(entry.dir, im.file));
      } catch {
        throw new FirmwareCorruptError(`library build ${entry.id}: ${im.file} is missing`);
      }
      if (got.sha256 !== im.sha256 || got.size !== im.size) throw new FirmwareCorruptError(`library build ${entry.id}: ${im.file} does not match its SHA-256`);
    }
  }

  async setPinned(id: string, pinned: boolean): Promise<void> {
    if (!(await this.get(id))) throw new Error(`no firmware build ${id}`);
    await mkdirPrivate(this.pinsDir);
    if (pinned) await writeFilePrivate(join(this.pinsDir, id), '');
    else await rm(join(this.pinsDir, id), { force: true });
  }

  async remove(id: string): Promise<void> {
    if (!ENTRY_ID.test(id)) return;
    await mkdirPrivate(this.tmpDir);
    const doomed = join(this.tmpDir, `${id}.del-${randomBytes(3).toString('hex')}`);
    try {
      await rename(join(this.entriesDir, id), doomed);
    } catch {
      return; // already gone (another process removed it)
    }
    await rm(doomed, { recursive: true, force: true });
    await rm(join(this.pinsDir, id), { force: true });
  }

  /** Last N per device, then the total size cap; oldest first, pinned entries kept. */
  async applyRetention(): Promise<string[]> {
    const { perDevice, maxBytes } = this.retention();
    const all = await this.list();
    const removed = new Set<string>();
    const perDev = new Map<string, number>();
    for (const e of all) {
      if (e.pinned) continue;
      const n = (perDev.get(e.device) ?? 0) + 1;
      perDev.set(e.device, n);
      if (n > perDevice) removed.add(e.id);
    }
    let total = all.filter((e) => !removed.has(e.id)).reduce((n, e) => n + e.size, 0);
    for (const e of [...all].reverse()) {
      if (total <= maxBytes) break;
      if (e.pinned || removed.has(e.id)) continue;
      removed.add(e.id);
      total -= e.size;
    }
    for (const id of removed) await this.remove(id);
    return [...removed];
  }

  /** Removes what a crashed writer or remover left in tmp/ (older than an hour: never a live write). */
  async sweepTmp(maxAgeMs = 60 * 60 * 1000): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const p = join(this.tmpDir, name);
      const st = await stat(p).catch(() => null);
      if (st && this.now() - st.mtimeMs > maxAgeMs) {
        await rm(p, { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  private async read(id: string, pinned: boolean): Promise<LibraryEntry> {
    const dir = join(this.entriesDir, id);
    const entry = parseEntry(JSON.parse(await readFile(join(dir, 'entry.json'), 'utf8')), id);
    return { ...entry, pinned, size: entrySize(entry), dir };
  }
}

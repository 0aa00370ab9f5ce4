// Reuse of `esphome bundle` output for an unchanged configuration. Spawning the CLI is the largest
// fixed cost of a remote build (a Python start-up and a full config validation for the real CLI),
// and users rebuild the same device over and over. A cached bundle is served only while every
// file it was built from still has the content it had (SHA-256 of each member's source file: the
// main YAML, its includes and packages, secrets.yaml and any other file esphome put in it), the
// same esphome command, esphome version and bundle-relevant environment are in use, and the CLI printed no
// bundle warning (a warning means a file was skipped or missing, so the archive may depend on
// something outside its member list). Anything else rebuilds.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';

interface Entry {
  bundle: Buffer;
  /** Source files (absolute paths) and their SHA-256 when the bundle was built. */
  sources: ReadonlyArray<{ path: string; sha256: string }>;
  storedAt: number;
}

export interface BundleCacheOptions {
  maxEntries?: number;
  /** Upper bound on an entry's age, whatever its files say. Default 1 h. */
  ttlMs?: number;
  now?: () => number;
}

/** The environment variables that change what `esphome bundle` writes. */
const BUNDLE_ENV = ['ESPHOME_DATA_DIR', 'ESPHOME_IS_HA_ADDON', 'ESPHOME_BUILD_PATH'] as const;

/**
 * The cache key: the esphome command and its version (another esphome may bundle differently),
 * the YAML and the bundle-relevant environment. The files the bundle was made from are checked
 * on every hit (`get`). `null` when the version is unknown: then nothing is cached, since an
 * esphome upgraded under the same command could not be told apart.
 */
export function bundleCacheKey(esphome: readonly string[], esphomeVersion: string, yamlAbsPath: string, env: Record<string, string | undefined>): string | null {
  if (!esphomeVersion) return null;
  return JSON.stringify([esphome, esphomeVersion, yamlAbsPath, BUNDLE_ENV.map((k) => env[k] ?? '')]);
}

/** Member names of a gzip tar bundle (regular files only), in archive order. */
export async function bundleMembers(bundle: Buffer): Promise<string[]> {
  const names: string[] = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      if (header.type === 'file') names.push(header.name);
      stream.on('end', next);
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(gunzipSync(bundle));
  await done;
  return names;
}

async function sha256OfFile(path: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(path)).digest('hex');
  } catch {
    return null;
  }
}

export class BundleCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(opts: BundleCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 32;
    this.ttlMs = opts.ttlMs ?? 60 * 60 * 1000;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached bundle when every source file is unchanged; otherwise forgets it. */
  async get(key: string): Promise<Buffer | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.storedAt > this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    const now = await Promise.all(entry.sources.map((src) => sha256OfFile(src.path)));
    if (now.some((sha, i) => sha !== entry.sources[i]?.sha256)) {
      this.entries.delete(key);
      return undefined;
    }
    // Refresh recency so the most used configurations stay.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.bundle;
  }

  /**
   * Remembers a bundle built from `yamlAbsPath`. Bundle paths are relative to the YAML's folder
   * (esphome's config dir). Not cached when the CLI warned, a member has no source file, or a
   * source changed after `builtSince` (the time the CLI was started).
   */
  async put(key: string, yamlAbsPath: string, bundle: Buffer, cliOutput: string, builtSince: number): Promise<boolean> {
    this.entries.delete(key);
    // "WARNING Bundle: skipping …" / "cannot resolve …" (not the secrets notice, which is fine).
    const plain = cliOutput.replace(/\x1b\[[0-9;?]*[A-Za-z]|\\033\[[0-9;?]*[A-Za-z]/g, '');
    if (/WARNING Bundle:/.test(plain)) return false;
    const root = dirname(yamlAbsPath);
    let members: string[];
    try {
      members = await bundleMembers(bundle);
    } catch {
      return false;
    }
    const sources: Array<{ path: string; sha256: string }> = [];
    for (const name of members) {
      if (name === 'manifest.json') continue;
      const path = join(root, ...name.split('/'));
      if (!path.startsWith(root + sep)) return false;
      // A file written while the CLI ran may differ from what went into the archive: don't vouch
      // for it (one second of slack for coarse file-system timestamps).
      const mtime = await stat(path).then((st) => st.mtimeMs, () => null);
      if (mtime === null || mtime >= builtSince - 1000) return false;
      const sha256 = await sha256OfFile(path);
      if (sha256 === null) return false;
      sources.push({ path, sha256 });
    }
    if (!sources.some((s) => s.path === yamlAbsPath)) return false;
    this.entries.set(key, { bundle, sources, storedAt: this.now() });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return true;
  }

  clear(): void {
    this.entries.clear();
  }
}

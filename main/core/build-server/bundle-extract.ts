// Extract a submitted config bundle (esphome-cli.md §1.3) into the sender's device workspace.
// The archive is unpacked into a private staging directory first and validated completely;
// only then is the device workspace touched, so a rejected bundle writes nothing there.
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises';
import { mkdirPrivate, PRIVATE_DIR_MODE } from '../private-fs';
import { join, relative, isAbsolute, sep } from 'node:path';
import { BUNDLE_MAX_TOTAL_BYTES, MIB } from '../peer-link/transfer';
import { extractTarGzSafely, UnsafeArchiveError, type ExtractedMember } from './safe-tar';

/** Default bound on the inflated bundle (esphome itself allows 500 MB). */
export const BUNDLE_MAX_UNCOMPRESSED_BYTES = 512 * MIB;
export const MANIFEST_FILENAME = 'manifest.json';
export const MANIFEST_MAX_BYTES = 1_000_000;
export const CURRENT_MANIFEST_VERSION = 1;
/** Build caches kept across re-extractions (incremental builds), never shipped in a bundle. */
export const PRESERVED_ENTRIES: ReadonlySet<string> = new Set(['.esphome', '.pioenvs', '.pio']);
export const STAGING_DIR = '.staging';

export interface BundleManifest {
  manifest_version: number;
  esphome_version: string;
  config_filename: string;
  files: string[];
  has_secrets: boolean;
}

export class BundleExtractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleExtractError';
  }
}

export interface ExtractBundleOptions {
  bundle: Uint8Array;
  /** The receiver's remote-build root (`<dataDir>/remote_builds`); staging happens under it. */
  root: string;
  /** Target directory, which MUST lie under `root`. */
  deviceDir: string;
  /** The submitted (already validated leaf) YAML name, which must be a top-level member. */
  configurationFilename: string;
  maxCompressedBytes?: number;
  maxUncompressedBytes?: number;
  signal?: AbortSignal;
}

export interface ExtractedBundle {
  deviceDir: string;
  yamlPath: string;
  manifest: BundleManifest;
  members: ExtractedMember[];
}

/** A file-system write that failed for want of room (the disk, or the user's quota, is full). */
export function isOutOfDiskSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Why a bundle could not be unpacked for want of disk space, in the sender's words (it travels in
 * the job's error_message) and in the build server's own log (with the path and the errno).
 */
export function outOfDiskSpaceMessages(bundle: Uint8Array, root: string, err: Error): { sender: string; log: string } {
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  const unpacked = gzipStatedSize(bundle);
  const size = unpacked === undefined ? mb(bundle.length) : `${mb(bundle.length)}, ${mb(unpacked)} unpacked`;
  return {
    sender: `the build server is out of disk space: there was no room to unpack this bundle (${size}); free space on the build server, then build again`,
    log: `out of disk space under ${root} while unpacking a bundle (${size}): ${err.message}; nothing was kept`,
  };
}

/** The inflated size a one-member gzip states in its trailer (ISIZE, mod 2^32): for messages only. */
function gzipStatedSize(gz: Uint8Array): number | undefined {
  if (gz.length < 18 || gz[0] !== 0x1f || gz[1] !== 0x8b) return undefined;
  return Buffer.from(gz.buffer, gz.byteOffset, gz.byteLength).readUInt32LE(gz.length - 4);
}

/** True when `child` is `parent` or lies below it (lexically; both absolute). */
export function isPathInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

export async function extractBundle(opts: ExtractBundleOptions): Promise<ExtractedBundle> {
  const maxCompressed = opts.maxCompressedBytes ?? BUNDLE_MAX_TOTAL_BYTES;
  if (opts.bundle.length > maxCompressed) throw new BundleExtractError(`bundle is ${opts.bundle.length} bytes, cap ${maxCompressed}`);
  if (!isAbsolute(opts.root) || !isAbsolute(opts.deviceDir) || opts.deviceDir === opts.root || !isPathInside(opts.root, opts.deviceDir)) {
    throw new BundleExtractError('extract directory escapes the remote-build root');
  }
  const stagingParent = join(opts.root, STAGING_DIR);
  await mkdirPrivate(stagingParent);
  await chmod(opts.root, PRIVATE_DIR_MODE);
  const staging = await mkdtemp(join(stagingParent, 'bundle-'));
  try {
    let members: ExtractedMember[];
    try {
      members = await extractTarGzSafely(opts.bundle, staging, { maxUncompressedBytes: opts.maxUncompressedBytes ?? BUNDLE_MAX_UNCOMPRESSED_BYTES }, opts.signal);
    } catch (err) {
      if (err instanceof UnsafeArchiveError) throw new BundleExtractError(err.message);
      throw err;
    }
    const names = new Set(members.map((m) => m.name));
    for (const m of members) {
      const [top = ''] = m.name.split('/');
      if (PRESERVED_ENTRIES.has(top)) throw new BundleExtractError(`bundle member ${JSON.stringify(m.name)} is inside a reserved build-cache directory`);
    }
    const manifest = await readManifest(staging, names);
    if (!names.has(opts.configurationFilename)) {
      throw new BundleExtractError(`bundle does not contain ${JSON.stringify(opts.configurationFilename)}`);
    }
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
    await installIntoWorkspace(opts.root, staging, opts.deviceDir);
    return { deviceDir: opts.deviceDir, yamlPath: join(opts.deviceDir, opts.configurationFilename), manifest, members };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function readManifest(staging: string, names: Set<string>): Promise<BundleManifest> {
  if (!names.has(MANIFEST_FILENAME)) throw new BundleExtractError('invalid bundle: missing manifest.json');
  const path = join(staging, MANIFEST_FILENAME);
  const st = await lstat(path);
  if (st.size > MANIFEST_MAX_BYTES) throw new BundleExtractError('invalid bundle: manifest.json is larger than 1 MB');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    throw new BundleExtractError('invalid bundle: manifest.json is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BundleExtractError('invalid bundle: manifest.json is not an object');
  const m = parsed as Record<string, unknown>;
  const version = m.manifest_version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new BundleExtractError('invalid bundle: manifest_version is not a positive integer');
  }
  if (version > CURRENT_MANIFEST_VERSION) {
    throw new BundleExtractError(`bundle manifest version ${version} is newer than this receiver supports (max ${CURRENT_MANIFEST_VERSION})`);
  }
  if (typeof m.config_filename !== 'string' || m.config_filename === '') throw new BundleExtractError('invalid bundle: config_filename missing');
  const configName = m.config_filename;
  if (!names.has(configName)) throw new BundleExtractError(`invalid bundle: config_filename ${JSON.stringify(m.config_filename)} is not in the archive`);
  const files = Array.isArray(m.files) ? m.files.filter((f): f is string => typeof f === 'string') : [];
  return {
    manifest_version: version,
    esphome_version: typeof m.esphome_version === 'string' ? m.esphome_version : '',
    config_filename: configName,
    files,
    has_secrets: m.has_secrets === true,
  };
}

/**
 * Replace the device workspace's sources with the staged tree, keeping build caches. Every
 * directory on the way from `root` is checked to be a real directory (not a symlink), so a
 * planted link cannot redirect the move.
 */
async function installIntoWorkspace(root: string, staging: string, deviceDir: string): Promise<void> {
  const rel = relative(root, deviceDir).split(sep);
  let cur = root;
  for (const part of rel) {
    cur = join(cur, part);
    const st = await lstat(cur).catch(() => null);
    if (st === null) {
      await mkdir(cur, { mode: PRIVATE_DIR_MODE });
    } else if (!st.isDirectory() || st.isSymbolicLink()) {
      throw new BundleExtractError(`workspace path ${cur} is not a directory`);
    }
    // Also tightens a workspace an older version created 0755.
    await chmod(cur, PRIVATE_DIR_MODE);
  }
  for (const name of await readdir(deviceDir)) {
    if (PRESERVED_ENTRIES.has(name)) continue;
    await rm(join(deviceDir, name), { recursive: true, force: true });
  }
  for (const name of await readdir(staging)) {
    await rename(join(staging, name), join(deviceDir, name));
  }
}

// Offloader side of §10.1: stage a downloaded artifact tarball at esphome's canonical local paths
// so a later plain `esphome upload <yaml> --device X` finds the firmware (esphome-cli.md §4.3).
// Lives next to the packer so both ends of the format are in one place.
import { lstat, mkdir, mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join, posix, resolve, win32 } from 'node:path';
import { ARTIFACTS_MAX_TOTAL_BYTES } from '../peer-link/transfer';
import { IDEDATA_MEMBER, STORAGE_MEMBER, VALIDATED_YAML_MEMBER } from './artifact-pack';
import { isPathInside } from './bundle-extract';
import { extractTarGzSafely, UnsafeArchiveError } from './safe-tar';

export class ArtifactMaterializeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactMaterializeError';
  }
}

export interface MaterializeOptions {
  tarball: Uint8Array;
  /** The user's YAML folder. */
  configDir: string;
  /** The job's configuration (YAML path relative to configDir); its basename keys StorageJSON. */
  configuration: string;
  /** esphome's data dir for local commands; default `<configDir>/.esphome` (esphome's default). */
  esphomeDataDir?: string;
  signal?: AbortSignal;
}

export interface MaterializedArtifacts {
  name: string;
  storagePath: string;
  idedataPath: string | null;
  buildPath: string;
  firmwareBinPath: string;
  /** Build-tree members written under buildPath (POSIX relative names). */
  files: string[];
}

const SIDE_MEMBERS = new Set([STORAGE_MEMBER, IDEDATA_MEMBER, VALIDATED_YAML_MEMBER]);

/** The path flavour of a receiver-absolute path (the receiver may run another OS). */
function flavourOf(p: string): typeof posix {
  return p.startsWith('/') ? posix : /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\') ? (win32 as unknown as typeof posix) : posix;
}

/** `child` relative to `parent` as POSIX segments, or null when it does not lie below it. */
function remoteRelative(parent: string, child: string): string[] | null {
  const f = flavourOf(parent);
  if (flavourOf(child) !== f) return null;
  const rel = f.relative(f.normalize(parent), f.normalize(child));
  if (rel === '' || rel.startsWith('..') || f.isAbsolute(rel)) return rel === '' ? [] : null;
  return rel.split(f.sep).filter((s) => s !== '' && s !== '.');
}

/** Replaces every string under `remoteBuild` with its local counterpart (deep). */
function rewritePaths(value: unknown, remoteBuild: string, localBuild: string): unknown {
  if (typeof value === 'string') {
    const rel = remoteRelative(remoteBuild, value);
    return rel === null ? value : rel.length === 0 ? localBuild : join(localBuild, ...rel);
  }
  if (Array.isArray(value)) return value.map((v) => rewritePaths(v, remoteBuild, localBuild));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = rewritePaths(v, remoteBuild, localBuild);
    return out;
  }
  return value;
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, path);
}

/**
 * mkdir -p below `root`, refusing any existing component that is not a real directory.
 * `checked` (one per materialisation) remembers directories already made or verified, so the
 * members of one tarball do not re-walk the same path one file-system call at a time.
 */
async function ensureDirUnder(root: string, dir: string, checked: Set<string>): Promise<void> {
  if (!isPathInside(root, dir)) throw new ArtifactMaterializeError(`${dir} escapes ${root}`);
  const rel = dir.slice(root.length).split(/[\\/]/).filter(Boolean);
  let cur = root;
  if (!checked.has(root)) {
    await mkdir(root, { recursive: true });
    checked.add(root);
  }
  for (const part of rel) {
    cur = join(cur, part);
    if (checked.has(cur)) continue;
    const st = await lstat(cur).catch(() => null);
    if (!st) await mkdir(cur);
    else if (st.isSymbolicLink() || !st.isDirectory()) throw new ArtifactMaterializeError(`${cur} is not a directory`);
    checked.add(cur);
  }
}

export async function materializeArtifacts(opts: MaterializeOptions): Promise<MaterializedArtifacts> {
  const dataDir = resolve(opts.esphomeDataDir ?? join(opts.configDir, '.esphome'));
  await mkdir(dataDir, { recursive: true });
  const staging = await mkdtemp(join(dataDir, '.kiln-artifacts-'));
  try {
    let members;
    try {
      members = await extractTarGzSafely(opts.tarball, staging, { maxUncompressedBytes: ARTIFACTS_MAX_TOTAL_BYTES + 1024 * 1024 }, opts.signal);
    } catch (err) {
      if (err instanceof UnsafeArchiveError) throw new ArtifactMaterializeError(`malformed artifact tarball: ${err.message}`);
      throw err;
    }
    const names = new Set(members.map((m) => m.name));
    if (!names.has(STORAGE_MEMBER)) throw new ArtifactMaterializeError('malformed artifact tarball: storage.json missing');
    let storage: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(await readFile(join(staging, STORAGE_MEMBER), 'utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      storage = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ArtifactMaterializeError(`malformed artifact tarball: storage.json unreadable (${(err as Error).message})`);
    }
    const name = storage.name;
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[\\/\0]/.test(name)) {
      throw new ArtifactMaterializeError('malformed artifact tarball: storage.json has no usable name');
    }
    const remoteBuild = typeof storage.build_path === 'string' ? storage.build_path : '';
    const remoteFirmware = typeof storage.firmware_bin_path === 'string' ? storage.firmware_bin_path : '';
    const firmwareRel = remoteBuild && remoteFirmware ? remoteRelative(remoteBuild, remoteFirmware) : null;
    if (!firmwareRel || firmwareRel.length === 0) throw new ArtifactMaterializeError('malformed artifact tarball: firmware_bin_path is not inside build_path');
    if (!names.has(firmwareRel.join('/'))) throw new ArtifactMaterializeError(`malformed artifact tarball: firmware image ${firmwareRel.join('/')} missing`);

    const buildPath = join(dataDir, 'build', name);
    const storagePath = join(dataDir, 'storage', `${basename(opts.configuration)}.json`);
    const firmwareBinPath = join(buildPath, ...firmwareRel);

    // Build tree first (platformio.ini included), then the sidecars, then the idedata mtime bump.
    const checked = new Set<string>();
    await ensureDirUnder(dataDir, buildPath, checked);
    const files: string[] = [];
    for (const m of members) {
      if (SIDE_MEMBERS.has(m.name)) continue;
      const target = join(buildPath, ...m.name.split('/'));
      await ensureDirUnder(buildPath, join(target, '..'), checked);
      const existing = await lstat(target).catch(() => null);
      if (existing && !existing.isFile()) throw new ArtifactMaterializeError(`${target} exists and is not a regular file`);
      await rename(join(staging, ...m.name.split('/')), target);
      files.push(m.name);
    }

    const localStorage = rewritePaths(storage, remoteBuild, buildPath) as Record<string, unknown>;
    localStorage.build_path = buildPath;
    localStorage.firmware_bin_path = firmwareBinPath;
    await ensureDirUnder(dataDir, join(dataDir, 'storage'), checked);
    await writeAtomic(storagePath, `${JSON.stringify(localStorage, null, 2)}\n`);
    if (names.has(VALIDATED_YAML_MEMBER)) {
      await rename(join(staging, VALIDATED_YAML_MEMBER), storagePath.replace(/\.json$/, '.validated.yaml'));
    }

    let idedataPath: string | null = null;
    if (names.has(IDEDATA_MEMBER)) {
      let idedata: unknown;
      try {
        idedata = JSON.parse(await readFile(join(staging, IDEDATA_MEMBER), 'utf8'));
      } catch {
        throw new ArtifactMaterializeError('malformed artifact tarball: idedata.json is not valid JSON');
      }
      idedataPath = join(dataDir, 'idedata', `${name}.json`);
      await ensureDirUnder(dataDir, join(dataDir, 'idedata'), checked);
      await writeAtomic(idedataPath, `${JSON.stringify(rewritePaths(idedata, remoteBuild, buildPath), null, 2)}\n`);
      // esphome reuses cached idedata only while it is newer than platformio.ini.
      const ini = await stat(join(buildPath, 'platformio.ini')).catch(() => null);
      const stamp = new Date(Math.max(Date.now(), (ini?.mtimeMs ?? 0) + 2000));
      await utimes(idedataPath, stamp, stamp);
    }
    return { name, storagePath, idedataPath, buildPath, firmwareBinPath, files };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

// Offloader side of §10.1: stage a downloaded artifact tarball at esphome's canonical local paths
// so a later plain `esphome upload <yaml> --device X` finds the firmware (esphome-cli.md §4.3).
// Lives next to the packer so both ends of the format are in one place.
import { lstat, mkdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve, win32 } from 'node:path';
import { ARTIFACTS_MAX_TOTAL_BYTES } from '../peer-link/transfer';
import { parseDevice } from '../api/configurations';
import { IDEDATA_MEMBER, STORAGE_MEMBER, VALIDATED_YAML_MEMBER } from './artifact-pack';
import { checkArtifactMembers } from './artifact-allowlist';
import { isPathInside } from './bundle-extract';
import { readTarGzSafely, UnsafeArchiveError, type MemberData } from './safe-tar';

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
  /**
   * The job's device name (`esphome: name:`); default: read from the job's YAML. The tarball's
   * storage.json must name this device, so a build server can only stage files for the device
   * it was asked to build.
   */
  deviceName?: string;
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
  return p.startsWith('/') ? posix : /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\') ? (win32) : posix;
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

let tmpCounter = 0;
async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}-${tmpCounter++}`;
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, path);
}

/**
 * mkdir -p of every directory in `dirs` below `root`, refusing any existing component that is
 * not a real directory (a symlink planted in the build tree must not redirect the writes). All
 * components are looked at concurrently — one file-system round trip instead of one per path
 * segment — and the missing ones are then made parents first.
 */
async function ensureDirsUnder(root: string, dirs: readonly string[]): Promise<void> {
  const components = new Set<string>();
  for (const dir of dirs) {
    if (!isPathInside(root, dir)) throw new ArtifactMaterializeError(`${dir} escapes ${root}`);
    let cur = root;
    for (const part of dir.slice(root.length).split(/[\\/]/).filter(Boolean)) {
      cur = join(cur, part);
      components.add(cur);
    }
  }
  await mkdir(root, { recursive: true });
  const ordered = [...components].sort((x, y) => x.length - y.length);
  const looks = await Promise.all(ordered.map((c) => lstat(c).catch(() => null)));
  for (const [i, c] of ordered.entries()) {
    const st = looks[i];
    if (st && (st.isSymbolicLink() || !st.isDirectory())) throw new ArtifactMaterializeError(`${c} is not a directory`);
  }
  for (const [i, c] of ordered.entries()) {
    if (!looks[i]) await mkdir(c).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/** Writes `data` beside `target` and renames it over it: a reader never sees half a firmware image. */
async function writeMember(target: string, data: Uint8Array): Promise<void> {
  const existing = await lstat(target).catch(() => null);
  if (existing && !existing.isFile()) throw new ArtifactMaterializeError(`${target} exists and is not a regular file`);
  await writeAtomic(target, data);
}

function parseJsonObject(data: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new ArtifactMaterializeError(`malformed artifact tarball: ${what} is not valid JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ArtifactMaterializeError(`malformed artifact tarball: ${what} is not an object`);
  return parsed as Record<string, unknown>;
}

/**
 * Validates the whole tarball in memory first (every member name, type and size, storage.json,
 * the firmware image), so a refused tarball writes nothing; then writes each file once, in
 * place, concurrently.
 */
export async function materializeArtifacts(opts: MaterializeOptions): Promise<MaterializedArtifacts> {
  const dataDir = resolve(opts.esphomeDataDir ?? join(opts.configDir, '.esphome'));
  let members: MemberData[];
  try {
    members = await readTarGzSafely(opts.tarball, { maxUncompressedBytes: ARTIFACTS_MAX_TOTAL_BYTES + 1024 * 1024 }, opts.signal);
  } catch (err) {
    if (err instanceof UnsafeArchiveError) throw new ArtifactMaterializeError(`malformed artifact tarball: ${err.message}`);
    throw err;
  }
  const byName = new Map(members.map((m) => [m.name, m.data]));
  const storageData = byName.get(STORAGE_MEMBER);
  if (!storageData) throw new ArtifactMaterializeError('malformed artifact tarball: storage.json missing');
  const storage = parseJsonObject(storageData, 'storage.json');
  const name = storage.name;
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[\\/\0]/.test(name)) {
    throw new ArtifactMaterializeError('malformed artifact tarball: storage.json has no usable name');
  }
  const remoteBuild = typeof storage.build_path === 'string' ? storage.build_path : '';
  const remoteFirmware = typeof storage.firmware_bin_path === 'string' ? storage.firmware_bin_path : '';
  const firmwareRel = remoteBuild && remoteFirmware ? remoteRelative(remoteBuild, remoteFirmware) : null;
  if (!firmwareRel || firmwareRel.length === 0) throw new ArtifactMaterializeError('malformed artifact tarball: firmware_bin_path is not inside build_path');
  if (!byName.has(firmwareRel.join('/'))) throw new ArtifactMaterializeError(`malformed artifact tarball: firmware image ${firmwareRel.join('/')} missing`);
  const idedataData = byName.get(IDEDATA_MEMBER);
  const idedata = idedataData ? parseJsonObject(idedataData, 'idedata.json') : null;
  // Only §10.1 members for this job's own device; anything else refuses the whole tarball
  // before a single byte is written (a build server must not plant sources or build scripts).
  const deviceName = opts.deviceName ?? (await deviceNameOf(opts.configDir, opts.configuration));
  const refused = checkArtifactMembers({ members, storage, name, deviceName, firmwareRel: firmwareRel.join('/') });
  if (refused) throw new ArtifactMaterializeError(`refused the build server's artifacts: ${refused}; nothing was written`);

  const buildPath = join(dataDir, 'build', name);
  const storagePath = join(dataDir, 'storage', `${basename(opts.configuration)}.json`);
  const firmwareBinPath = join(buildPath, ...firmwareRel);
  const idedataPath = idedata ? join(dataDir, 'idedata', `${name}.json`) : null;
  if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');

  // Directories first (looked at together), then every file at once.
  const buildMembers = members.filter((m) => !SIDE_MEMBERS.has(m.name));
  const targets = buildMembers.map((m) => join(buildPath, ...m.name.split('/')));
  for (const target of targets) if (!isPathInside(buildPath, target)) throw new ArtifactMaterializeError(`${target} escapes ${buildPath}`);
  await ensureDirsUnder(dataDir, [buildPath, ...targets.map((t) => dirname(t)), join(dataDir, 'storage'), ...(idedataPath ? [join(dataDir, 'idedata')] : [])]);

  // Build tree first (platformio.ini included), then the sidecars, then the idedata mtime bump.
  await Promise.all(buildMembers.map(async (m, i) => {
    const target = targets[i];
    if (target === undefined) throw new ArtifactMaterializeError(`no target path for ${m.name}`); // targets is buildMembers mapped: never
    await writeMember(target, m.data);
  }));
  const localStorage = rewritePaths(storage, remoteBuild, buildPath) as Record<string, unknown>;
  localStorage.build_path = buildPath;
  localStorage.firmware_bin_path = firmwareBinPath;
  const sidecars: Array<Promise<void>> = [writeAtomic(storagePath, `${JSON.stringify(localStorage, null, 2)}\n`)];
  const validated = byName.get(VALIDATED_YAML_MEMBER);
  if (validated) sidecars.push(writeAtomic(storagePath.replace(/\.json$/, '.validated.yaml'), validated));
  if (idedata && idedataPath) {
    sidecars.push(
      (async () => {
        await writeAtomic(idedataPath, `${JSON.stringify(rewritePaths(idedata, remoteBuild, buildPath), null, 2)}\n`);
        // esphome reuses cached idedata only while it is newer than platformio.ini.
        const ini = await stat(join(buildPath, 'platformio.ini')).catch(() => null);
        const stamp = new Date(Math.max(Date.now(), (ini?.mtimeMs ?? 0) + 2000));
        await utimes(idedataPath, stamp, stamp);
      })(),
    );
  }
  await Promise.all(sidecars);
  return { name, storagePath, idedataPath, buildPath, firmwareBinPath, files: buildMembers.map((m) => m.name) };
}

/** The device name the job's own YAML declares (what storage.json must say). */
async function deviceNameOf(configDir: string, configuration: string): Promise<string> {
  try {
    return parseDevice(await readFile(join(configDir, configuration), 'utf8')).deviceName;
  } catch (err) {
    throw new ArtifactMaterializeError(`cannot check the artifacts: the device name of ${configuration} is unreadable (${(err as Error).message})`);
  }
}

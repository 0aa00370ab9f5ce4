// Receiver side of `download_artifacts` (peer-link-protocol.md §10, §10.1): pack a finished
// build into the materialise-locally tarball. Reads only regular files that resolve inside the
// sender's workspace: the YAML is the sender's, and `esphome: build_path:` must not become a way
// to read arbitrary files off the build server.
import { lstat, open, readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join, posix, relative, resolve, sep, isAbsolute } from 'node:path';
import { promisify } from 'node:util';
import { constants as zlibConstants, deflateRawSync, gzip } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { ARTIFACTS_MAX_TOTAL_BYTES, sha256Hex } from '../peer-link/transfer';
import { isPathInside } from './bundle-extract';
import { planTar, type TarFile } from './tar-writer';

export type ArtifactFailureReason = 'build_dir_missing' | 'pack_failed';

export class ArtifactPackError extends Error {
  constructor(
    readonly reason: ArtifactFailureReason,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'ArtifactPackError';
  }
}

export interface StorageJsonInfo {
  name: string;
  esp_platform: string;
  build_path: string;
  firmware_bin_path: string;
  raw: Record<string, unknown>;
}

export interface PackedArtifacts {
  tarball: Buffer;
  sha256: string;
  firmwareOffset: string;
  /** Member names in tarball order. */
  members: string[];
}

export const STORAGE_MEMBER = 'storage.json';
export const IDEDATA_MEMBER = 'idedata.json';
export const PLATFORMIO_INI_MEMBER = 'platformio.ini';
export const BUILD_INFO_MEMBER = 'build_info.json';
export const VALIDATED_YAML_MEMBER = 'validated.yaml';
/** The metadata members of an artifact tarball (§10.1), besides the build tree; the sender's allow-list uses it. */
export const METADATA_MEMBERS: readonly string[] = [STORAGE_MEMBER, IDEDATA_MEMBER, PLATFORMIO_INI_MEMBER, BUILD_INFO_MEMBER, VALIDATED_YAML_MEMBER];
const VALIDATED_YAML_STALE_MS = 60_000;
// zlib's thread pool, not the event loop: pings and other sessions keep being served.
// 1 MiB output chunks: the default 16 KiB makes a 5 MB tarball ~320 thread-pool round trips
// (~24 ms instead of ~3 ms for the same stored deflate).
const gzipAsyncRaw = promisify(gzip) as (data: Buffer, opts?: { level?: number; chunkSize?: number }) => Promise<Buffer>;
const GZIP_CHUNK_BYTES = 1024 * 1024;
const gzipAsync = (data: Buffer, opts: { level?: number } = {}): Promise<Buffer> => gzipAsyncRaw(data, { ...opts, chunkSize: GZIP_CHUNK_BYTES });

const LIBRETINY = new Set(['bk72xx', 'rtl87xx', 'ln882x']);

export function isEsp32Family(platform: string): boolean {
  return platform.toLowerCase().startsWith('esp32');
}

/** `"0x10000"` for the ESP32 family, `"0x0"` for everything else (§10). */
export function firmwareOffsetForPlatform(platform: string): string {
  return isEsp32Family(platform) ? '0x10000' : '0x0';
}

/** §10.1 table: build-tree members relative to the build path, in order; `null` = unknown platform. */
export function buildFilesForPlatform(platform: string, name: string): string[] | null {
  const p = platform.toLowerCase();
  const env = (f: string): string => `.pioenvs/${name}/${f}`;
  if (isEsp32Family(p)) {
    return [
      ...['firmware.bin', 'firmware.elf', 'firmware.factory.bin', 'firmware.ota.bin', 'bootloader.bin', 'partitions.bin', 'ota_data_initial.bin'].map(env),
      'build/firmware.factory.bin',
      `build/${name}.bin`,
      'build/firmware.elf',
    ];
  }
  if (p === 'esp8266') return ['firmware.bin', 'firmware.elf'].map(env);
  if (p === 'rp2040') return ['firmware.bin', 'firmware.uf2', 'firmware.ota.bin', 'firmware.elf'].map(env);
  if (LIBRETINY.has(p)) return ['firmware.uf2', 'firmware.bin', 'firmware.elf', 'firmware.json'].map(env);
  if (p === 'nrf52') {
    return ['firmware.bin', 'firmware.elf', 'zephyr/zephyr.uf2', 'firmware.zip', 'zephyr/zephyr.hex', 'zephyr/merged.hex', 'zephyr/app_update.bin', 'zephyr/zephyr.elf'].map(env);
  }
  return null;
}

/** Files the platform's download list names (next to firmware_bin_path), esphome-cli.md §4.2. */
async function downloadTypeFiles(platform: string, firmwareDir: string): Promise<string[]> {
  const p = platform.toLowerCase();
  if (isEsp32Family(p)) return ['firmware.factory.bin', 'firmware.ota.bin'];
  if (p === 'esp8266') return ['firmware.bin'];
  if (p === 'rp2040') return ['firmware.uf2', 'firmware.ota.bin'];
  if (LIBRETINY.has(p)) {
    const files = ['firmware.uf2'];
    // firmware.json lists the chip images; only its `public` entries are offered for download.
    try {
      const data: unknown = JSON.parse(await readFile(join(firmwareDir, 'firmware.json'), 'utf8'));
      const lists = data && typeof data === 'object' ? Object.values(data as Record<string, unknown>).filter(Array.isArray) : [];
      for (const list of lists) {
        for (const item of list as unknown[]) {
          if (!item || typeof item !== 'object') continue;
          const rec = item as Record<string, unknown>;
          const file = rec.filename ?? rec.file;
          if (rec.public === true && typeof file === 'string' && isLeaf(file)) files.push(file);
        }
      }
    } catch {
      // No or unreadable firmware.json: only the UF2.
    }
    return files;
  }
  return [];
}

function isLeaf(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\\') && !name.includes('\0');
}

export async function readStorageJson(path: string): Promise<StorageJsonInfo> {
  let text: string;
  try {
    const st = await lstat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    text = await readFile(path, 'utf8');
  } catch {
    throw new ArtifactPackError('build_dir_missing', `StorageJSON sidecar missing: ${path}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ArtifactPackError('pack_failed', `StorageJSON is not valid JSON: ${path}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ArtifactPackError('pack_failed', 'StorageJSON is not an object');
  const rec = raw as Record<string, unknown>;
  const str = (k: string): string => (typeof rec[k] === 'string' ? (rec[k]) : '');
  const info: StorageJsonInfo = {
    name: str('name'),
    esp_platform: str('esp_platform'),
    build_path: str('build_path'),
    firmware_bin_path: str('firmware_bin_path'),
    raw: rec,
  };
  if (!info.build_path) throw new ArtifactPackError('build_dir_missing', 'build_path unset in StorageJSON');
  if (!info.firmware_bin_path) throw new ArtifactPackError('build_dir_missing', 'firmware_bin_path unset in StorageJSON');
  if (!info.name) throw new ArtifactPackError('build_dir_missing', 'name unset in StorageJSON');
  if (!isLeaf(info.name)) throw new ArtifactPackError('pack_failed', `unsafe device name in StorageJSON: ${JSON.stringify(info.name)}`);
  return info;
}

export interface PackOptions {
  /** `<esphome data_dir>/storage/<yaml>.json`. */
  storageJsonPath: string;
  /** The esphome data dir the build used (idedata lives at `<dataDir>/idedata/<name>.json`). */
  esphomeDataDir: string;
  /** Every packed file must resolve inside this directory (the sender's workspace). */
  allowedRoot: string;
  maxBytes?: number;
}

interface PlannedMember {
  name: string;
  path: string;
  size: number;
}

/** Pack a finished build. Throws `ArtifactPackError` with `build_dir_missing` or `pack_failed`. */
export async function packArtifacts(opts: PackOptions): Promise<PackedArtifacts> {
  const cap = opts.maxBytes ?? ARTIFACTS_MAX_TOTAL_BYTES;
  const rootReal = await realpath(opts.allowedRoot).catch(() => resolve(opts.allowedRoot));
  const storage = await readStorageJson(opts.storageJsonPath);
  const platform = storage.esp_platform.toLowerCase();
  const buildFiles = buildFilesForPlatform(platform, storage.name);
  if (!buildFiles) throw new ArtifactPackError('pack_failed', `unknown platform ${JSON.stringify(storage.esp_platform)}`);
  if (!isAbsolute(storage.build_path) || !isAbsolute(storage.firmware_bin_path)) {
    throw new ArtifactPackError('pack_failed', 'StorageJSON paths are not absolute');
  }
  const buildPath = resolve(storage.build_path);
  const buildSt = await lstat(buildPath).catch(() => null);
  if (!buildSt || !buildSt.isDirectory()) throw new ArtifactPackError('build_dir_missing', `build directory missing: ${buildPath}`);
  const buildReal = await realpath(buildPath);
  if (!isPathInside(rootReal, buildReal)) throw new ArtifactPackError('pack_failed', 'build_path lies outside the sender workspace');
  const firmwareBin = resolve(storage.firmware_bin_path);
  if (!isPathInside(buildPath, firmwareBin) || firmwareBin === buildPath) throw new ArtifactPackError('pack_failed', 'firmware_bin_path lies outside build_path');
  const firmwareRel = relative(buildPath, firmwareBin).split(sep).join('/');
  const isPlatformIO = firmwareRel.startsWith('.pioenvs/');

  const members: PlannedMember[] = [];
  let total = 0;
  const add = (name: string, path: string, size: number): void => {
    total += size;
    if (total > cap) throw new ArtifactPackError('pack_failed', `artifacts exceed ${cap} bytes uncompressed`);
    members.push({ name, path, size });
  };
  const statInside = async (path: string): Promise<number | null> => {
    const st = await lstat(path).catch(() => null);
    if (!st || !st.isFile()) return null;
    const real = await realpath(path).catch(() => null);
    if (!real || !isPathInside(rootReal, real)) return null;
    return st.size;
  };

  // Every candidate is looked at up front, concurrently (each look is a file-system round trip);
  // the checks below then run in their order on the remembered answers.
  const looks = new Map<string, Promise<number | null>>();
  const statOnce = (path: string): Promise<number | null> => {
    let look = looks.get(path);
    if (!look) {
      look = statInside(path);
      looks.set(path, look);
    }
    return look;
  };
  const idedataPath = join(opts.esphomeDataDir, 'idedata', `${storage.name}.json`);
  const iniPath = join(buildPath, 'platformio.ini');
  const buildInfoPath = join(buildPath, BUILD_INFO_MEMBER);
  const validatedPath = opts.storageJsonPath.replace(/\.json$/, '.validated.yaml');
  for (const path of [opts.storageJsonPath, idedataPath, iniPath, buildInfoPath, validatedPath, ...buildFiles.map((rel) => join(buildPath, ...rel.split('/')))]) {
    void statOnce(path);
  }

  const storageSize = await statOnce(opts.storageJsonPath);
  if (storageSize === null) throw new ArtifactPackError('build_dir_missing', 'StorageJSON sidecar is not a regular file inside the workspace');
  add(STORAGE_MEMBER, opts.storageJsonPath, storageSize);

  const idedataSize = await statOnce(idedataPath);
  const iniSize = await statOnce(iniPath);
  if (isPlatformIO && idedataSize === null) throw new ArtifactPackError('build_dir_missing', `idedata cache missing: ${idedataPath}`);
  if (isPlatformIO && iniSize === null) throw new ArtifactPackError('build_dir_missing', `platformio.ini missing: ${iniPath}`);
  if (idedataSize !== null) add(IDEDATA_MEMBER, idedataPath, idedataSize);
  if (iniSize !== null) add(PLATFORMIO_INI_MEMBER, iniPath, iniSize);
  const buildInfoSize = await statOnce(buildInfoPath);
  if (buildInfoSize !== null) add(BUILD_INFO_MEMBER, buildInfoPath, buildInfoSize);
  // esphome >= 2026.6 writes a validated-config cache next to StorageJSON; only a copy written by
  // the same compile (≤ 60 s before the sidecar) is current.
  const validatedSize = await statOnce(validatedPath);
  if (validatedSize !== null) {
    const [vs, ss] = await Promise.all([lstat(validatedPath), lstat(opts.storageJsonPath)]);
    if (ss.mtimeMs - vs.mtimeMs <= VALIDATED_YAML_STALE_MS) add(VALIDATED_YAML_MEMBER, validatedPath, validatedSize);
  }

  // Build-tree members: missing ones skipped, deduplicated by basename (first wins).
  const seenBasenames = new Set<string>();
  const addBuildFile = async (rel: string): Promise<void> => {
    const base = posix.basename(rel);
    if (seenBasenames.has(base)) return;
    const path = join(buildPath, ...rel.split('/'));
    const size = await statOnce(path);
    if (size === null) return;
    seenBasenames.add(base);
    add(rel, path, size);
  };
  for (const rel of buildFiles) await addBuildFile(rel);
  const firmwareDirRel = posix.dirname(firmwareRel);
  for (const file of await downloadTypeFiles(platform, dirname(firmwareBin))) {
    await addBuildFile(firmwareDirRel === '.' ? file : `${firmwareDirRel}/${file}`);
  }
  if (!seenBasenames.has(basename(firmwareBin))) {
    await addBuildFile(firmwareRel);
    if (!members.some((m) => m.name === firmwareRel)) throw new ArtifactPackError('pack_failed', `firmware image missing: ${firmwareRel}`);
  }

  let tarball: Buffer;
  try {
    const { tar, level } = await renderTar(members);
    // Level 0 (stored blocks) for incompressible firmware: zlib in 1 MiB pieces, ~1 GB/s
    // (docs/notes/performance.md), so no hand-written gzip writer is needed.
    tarball = await gzipAsync(tar, { level });
    // Stored blocks add a little; should that cross the cap, the default level decides as before.
    if (tarball.length > cap) tarball = await gzipAsync(tar);
  } catch (err) {
    if (err instanceof ArtifactPackError) throw err;
    throw new ArtifactPackError('pack_failed', err instanceof Error ? err.message : String(err));
  }
  if (tarball.length > cap) throw new ArtifactPackError('pack_failed', `artifact tarball exceeds ${cap} bytes`);
  return { tarball, sha256: sha256Hex(tarball), firmwareOffset: firmwareOffsetForPlatform(platform), members: members.map((m) => m.name) };
}

const SAMPLE_BYTES = 16 * 1024;
/** Below this estimated saving the tarball is stored rather than deflated. */
const MIN_USEFUL_SAVING = 0.05;

/**
 * zlib level for the artifact tarball, from the member contents. Firmware images are mostly
 * incompressible: deflating them (even at level 1) costs ~20 ms per MB of CPU on the critical
 * path of every remote build for no gain, so when samples of the members say so the tarball is
 * stored (level 0, still a valid gzip). Otherwise (ELF debug info, JSON) level 1 keeps most of
 * level 6's saving at a fraction of its CPU: the tarball crosses a LAN faster than level 6 could
 * produce it.
 */
export function artifactGzipLevel(contents: readonly Uint8Array[]): number {
  let total = 0;
  let estimated = 0;
  for (const data of contents) {
    total += data.length;
    if (data.length < 2 * SAMPLE_BYTES) {
      estimated += data.length; // small members barely matter either way
      continue;
    }
    // Head, middle and tail: firmware images pad with compressible runs at either end.
    let sampled = 0;
    let packed = 0;
    for (const at of [0, Math.floor(data.length / 2) - SAMPLE_BYTES / 2, data.length - SAMPLE_BYTES]) {
      const slice = data.subarray(at, at + SAMPLE_BYTES);
      sampled += slice.length;
      packed += deflateRawSync(slice, { level: 1 }).length;
    }
    estimated += (data.length * packed) / sampled;
  }
  if (total === 0) return zlibConstants.Z_DEFAULT_COMPRESSION;
  return 1 - estimated / total < MIN_USEFUL_SAVING ? 0 : 1;
}

/** The tar (not yet compressed) and the level to compress it at. */
async function renderTar(members: PlannedMember[]): Promise<{ tar: Buffer; level: number }> {
  const plan = planTar(members);
  if (plan) {
    // Each file is read straight into its place in the archive, all at once; the first failure
    // in member order is the one reported.
    const reads = members.map(async (m, i) => {
      const slot = plan.slots[i];
      if (slot === undefined) throw new Error(`tar plan has no slot for ${m.name}`); // one slot per member: never
      await readExactly(m, slot);
    });
    for (const r of reads) r.catch(() => undefined);
    for (const r of reads) await r;
    return { tar: plan.archive, level: artifactGzipLevel(plan.slots) };
  }
  const reads = members.map((m) => readFile(m.path));
  for (const r of reads) r.catch(() => undefined);
  const files: TarFile[] = [];
  for (const [i, m] of members.entries()) {
    const data = await reads[i];
    if (data === undefined || data.length !== m.size) throw changedWhilePacking(m);
    files.push({ name: m.name, data });
  }
  return { tar: await renderTarWithPax(files), level: artifactGzipLevel(files.map((f) => f.data)) };
}

function changedWhilePacking(m: PlannedMember): ArtifactPackError {
  // A file that grew (or shrank) since it was measured must not break the cap or the layout.
  return new ArtifactPackError('pack_failed', `${m.name} changed while packing`);
}

/** Reads exactly `m.size` bytes of `m.path` into `into`; the file must be exactly that long. */
async function readExactly(m: PlannedMember, into: Buffer): Promise<void> {
  const fh = await open(m.path, 'r');
  try {
    let got = 0;
    while (got < into.length) {
      const { bytesRead } = await fh.read(into, got, into.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got !== into.length || (await fh.read(Buffer.alloc(1), 0, 1, got)).bytesRead !== 0) throw changedWhilePacking(m);
  } finally {
    await fh.close();
  }
}

/** tar-stream, for names the in-memory writer leaves to a PAX header (long or non-ASCII). */
async function renderTarWithPax(files: readonly TarFile[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((res, rej) => {
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  for (const f of files) {
    const data = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
    await new Promise<void>((res, rej) => {
      pack.entry({ name: f.name, size: data.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: 'file' }, data, (err) => (err ? rej(err) : res()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

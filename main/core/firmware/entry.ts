// A firmware library entry: what was built, from which inputs, where and when, and the files
// needed to flash it again. Entries come from disk (possibly written by another Kiln process or
// damaged), so `parseEntry` validates every field.

export const IMAGE_ROLES = ['ota', 'factory', 'storage', 'idedata', 'part'] as const;
export type ImageRole = (typeof IMAGE_ROLES)[number];

export interface FirmwareImage {
  role: ImageRole;
  /** File name inside the entry folder. */
  file: string;
  /** Where esphome expects it: relative to the build path (`build`) or the esphome data dir (`data`). */
  base: 'build' | 'data';
  rel: string;
  size: number;
  sha256: string;
}

export interface FirmwareEntry {
  format: 1;
  id: string;
  /** Configuration file name (relative to the config dir), e.g. `kitchen.yaml`. */
  device: string;
  /** Digest over inputs + ESPHome version (digest.ts). */
  digest: string;
  /** Digest over the inputs alone (tells config-changed from esphome-changed). */
  config_digest: string;
  esphome_version: string;
  platform: string;
  board: string;
  /** `local` = this computer; `remote` = a build server, `built_on_label` names it. */
  built_on: 'local' | 'remote';
  built_on_label: string;
  built_at: string;
  job_id: string;
  images: FirmwareImage[];
}

const HEX64 = /^[0-9a-f]{64}$/;
export const ENTRY_ID = /^[0-9a-z]{6,16}-[0-9a-f]{8}$/;
const SAFE_FILE = /^[A-Za-z0-9._-]{1,100}$/;

function str(v: unknown, name: string, max = 500): string {
  if (typeof v !== 'string' || v.length > max) throw new Error(`bad ${name}`);
  return v;
}

function safeRel(v: unknown): string {
  const s = str(v, 'image path', 1000);
  const parts = s.split('/');
  if (s === '' || s.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\'))) throw new Error('bad image path');
  return s;
}

/** Validates an entry read from disk; throws with a plain reason. */
export function parseEntry(raw: unknown, expectId?: string): FirmwareEntry {
  if (!raw || typeof raw !== 'object') throw new Error('not an object');
  const r = raw as Record<string, unknown>;
  if (r.format !== 1) throw new Error('unknown format');
  const id = str(r.id, 'id');
  if (!ENTRY_ID.test(id) || (expectId !== undefined && id !== expectId)) throw new Error('bad id');
  const digest = str(r.digest, 'digest');
  const configDigest = str(r.config_digest, 'config_digest');
  if (!HEX64.test(digest) || !HEX64.test(configDigest)) throw new Error('bad digest');
  if (r.built_on !== 'local' && r.built_on !== 'remote') throw new Error('bad built_on');
  const builtAt = str(r.built_at, 'built_at');
  if (Number.isNaN(Date.parse(builtAt))) throw new Error('bad built_at');
  if (!Array.isArray(r.images) || r.images.length > 32) throw new Error('bad images');
  const images = r.images.map((i: unknown): FirmwareImage => {
    const im = (i ?? {}) as Record<string, unknown>;
    if (!IMAGE_ROLES.includes(im.role as ImageRole)) throw new Error('bad image role');
    const file = str(im.file, 'image file');
    if (!SAFE_FILE.test(file) || file === 'entry.json') throw new Error('bad image file');
    if (im.base !== 'build' && im.base !== 'data') throw new Error('bad image base');
    if (typeof im.size !== 'number' || !Number.isSafeInteger(im.size) || im.size < 0) throw new Error('bad image size');
    const sha256 = str(im.sha256, 'image sha256');
    if (!HEX64.test(sha256)) throw new Error('bad image sha256');
    return { role: im.role as ImageRole, file, base: im.base, rel: safeRel(im.rel), size: im.size, sha256 };
  });
  return {
    format: 1,
    id,
    device: safeRel(r.device),
    digest,
    config_digest: configDigest,
    esphome_version: str(r.esphome_version, 'esphome_version', 100),
    platform: str(r.platform, 'platform', 100),
    board: str(r.board, 'board', 200),
    built_on: r.built_on,
    built_on_label: str(r.built_on_label, 'built_on_label', 200),
    built_at: builtAt,
    job_id: str(r.job_id, 'job_id', 100),
    images,
  };
}

export function entrySize(e: FirmwareEntry): number {
  return e.images.reduce((n, i) => n + i.size, 0);
}

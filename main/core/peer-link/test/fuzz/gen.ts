// Seeded input generators for the peer-link fuzz suite: a small PRNG (mulberry32, so a seed
// reproduces a run exactly) and generators of random, truncated, oversize, wrong-typed and
// valid-but-hostile frames, chunk streams and tarballs.
import { gzipSync } from 'node:zlib';
import { sha256Hex } from '../../transfer';
import { tarBytes, type RawMember } from '../../../build-server/test/tar-helpers';
import { must } from '../../../../../test/support/must';

export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return must(xs[this.int(xs.length)], 'a non-empty list to pick from');
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  str(max = 40): string {
    const alphabet = ['a', 'Z', '0', '-', '_', '.', '/', '\\', '\0', '\x1b', 'é', '🔥', '\u202e', '"', '{', ' ', '..'];
    let s = '';
    const n = this.int(max + 1);
    for (let i = 0; i < n; i++) s += this.pick(alphabet);
    return s;
  }
}

/** The seed of this run: KILN_FUZZ_SEED, else a fresh one (printed by the caller). */
export function fuzzSeed(): number {
  const env = process.env.KILN_FUZZ_SEED;
  if (env && /^\d+$/.test(env)) return Number(env) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** A JSON value of any type, including the awkward ones. */
export function anyValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 8 : 10)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1, 2 ** 31, 2 ** 53, -(2 ** 53), 1.5, 1e308, -0, 12]);
    case 3:
      return r.str();
    case 4:
      return 'x'.repeat(r.pick([0, 1, 64, 65, 128, 129, 4096, 70_000]));
    case 5:
      return r.pick(['compile', 'clean', 'upload', '', 'kitchen.yaml', '../x.yaml', 'a'.repeat(64), '0123456789ab']);
    case 6:
      return r.int(1_000_000);
    case 7:
      return r.pick(['true', 'null', '[]', '{}', 'NaN']);
    case 8:
      return Array.from({ length: r.int(4) }, () => anyValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(4); i > 0; i--) o[r.str(8)] = anyValue(r, depth + 1);
      return o;
    }
  }
}

export const FRAME_TYPES = [
  'ping', 'pong', 'terminate', 'submit_job', 'submit_job_chunk', 'cancel_job', 'download_artifacts', 'reset_build_env',
  'queue_status', 'job_output', 'job_state_changed', 'artifacts_start', 'artifacts_chunk', 'artifacts_end', 'submit_job_ack', 'unknown_type', '',
] as const;

const FIELDS = ['job_id', 'configuration_filename', 'target', 'total_bundle_bytes', 'num_chunks', 'bundle_sha256', 'chunk_index', 'data_b64', 'is_last', 'nonce', 'reason', 'device_name', 'device_friendly_name', 'target_esphome_version', 'line', 'status'];

/** A JSON object with a `type` and fields of the right names but any types. */
export function hostileObject(r: Rng): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (!r.chance(0.05)) o.type = r.chance(0.9) ? r.pick(FRAME_TYPES) : anyValue(r);
  for (let i = r.int(6); i > 0; i--) o[r.pick(FIELDS)] = anyValue(r);
  if (r.chance(0.05)) o.__proto__ = { polluted: true };
  return o;
}

/** Plaintext bytes of a frame: a hostile object, or broken JSON, or random bytes. */
export function hostilePlaintext(r: Rng): Buffer {
  const kind = r.int(10);
  if (kind < 6) return Buffer.from(JSON.stringify(hostileObject(r)));
  if (kind === 6) {
    const t = Buffer.from(JSON.stringify(hostileObject(r)));
    return t.subarray(0, r.int(t.length + 1)); // truncated
  }
  if (kind === 7) return Buffer.from(JSON.stringify(anyValue(r))); // not an object
  if (kind === 8) {
    // the chunk fast path's layout with broken pieces
    const b64 = r.chance(0.5) ? r.bytes(r.int(64)).toString('base64') : r.str(20);
    return Buffer.from(`{"type":"submit_job_chunk","job_id":${JSON.stringify(r.str(12))},"chunk_index":${r.pick(['0', '-1', '1.5', '99999999999', '"0"'])},"data_b64":"${b64}","is_last":${r.pick(['true', 'false', '1', 'null'])}}`);
  }
  return r.bytes(r.int(200));
}

/** A well-formed submit (header + chunks) of `bundle`, optionally made hostile. */
export function submitFrames(r: Rng, jobId: string, bundle: Buffer, chunkSize: number): Record<string, unknown>[] {
  const chunks: Buffer[] = [];
  for (let o = 0; o < bundle.length; o += chunkSize) chunks.push(bundle.subarray(o, o + chunkSize));
  const header: Record<string, unknown> = {
    type: 'submit_job',
    job_id: jobId,
    configuration_filename: r.chance(0.9) ? 'kitchen.yaml' : r.pick(['../evil.yaml', 'a/b.yaml', '.yaml', 'x.txt', '']),
    target: r.chance(0.9) ? 'compile' : r.pick(['upload', 'clean', 'flash', 7]),
    total_bundle_bytes: r.chance(0.9) ? bundle.length : r.pick([0, -5, bundle.length + 1, bundle.length - 1, 2 ** 40, 1.5]),
    num_chunks: r.chance(0.9) ? chunks.length : r.pick([0, chunks.length + 1, chunks.length - 1, -1]),
    bundle_sha256: r.chance(0.9) ? sha256Hex(bundle) : r.pick(['', 'zz', sha256Hex(Buffer.from('other'))]),
  };
  const frames: Record<string, unknown>[] = [header];
  chunks.forEach((c, i) => {
    const f: Record<string, unknown> = { type: 'submit_job_chunk', job_id: jobId, chunk_index: i, data_b64: c.toString('base64'), is_last: i === chunks.length - 1 };
    if (r.chance(0.03)) f.chunk_index = r.pick([i + 1, i - 1, 0, -1]);
    if (r.chance(0.03)) f.data_b64 = r.pick(['***', c.toString('base64').slice(1), '']);
    if (r.chance(0.02)) f.is_last = !f.is_last;
    if (r.chance(0.02)) f.job_id = 'other-job';
    frames.push(f);
  });
  if (r.chance(0.05)) frames.push(frames[1 + r.int(frames.length - 1)] ?? header); // replay
  if (r.chance(0.05)) frames.splice(1 + r.int(frames.length), 0, header); // header mid-stream
  return frames;
}

const MEMBER_NAMES = ['kitchen.yaml', 'manifest.json', 'secrets.yaml', 'common/wifi.yaml', '../escape', '/abs', 'a/../../b', 'C:x', 'a\\b', '.esphome/x', '.pioenvs/x', 'dup', 'dup', 'x/', 'x/y', '.', 'a'.repeat(300)];
const MEMBER_TYPES = ['file', 'file', 'file', 'file', 'symlink', 'link', 'directory', 'fifo', 'character-device'] as const;

/** A gzip tar: a valid bundle, or one with hostile members, or a mutated/truncated one. */
export async function hostileTarball(r: Rng): Promise<Buffer> {
  const members: RawMember[] = [];
  if (r.chance(0.8)) members.push({ name: 'manifest.json', data: r.chance(0.8) ? JSON.stringify({ manifest_version: r.pick([1, 1, 2, 0, '1']), config_filename: r.pick(['kitchen.yaml', 'missing.yaml', 5]), files: ['kitchen.yaml'] }) : r.str(30) });
  if (r.chance(0.8)) members.push({ name: 'kitchen.yaml', data: 'esphome:\n  name: kitchen\n' });
  for (let i = r.int(4); i > 0; i--) {
    const type = r.pick(MEMBER_TYPES);
    members.push({ name: r.pick(MEMBER_NAMES), type, linkname: type === 'symlink' || type === 'link' ? r.pick(['/etc/passwd', '../x', 'kitchen.yaml']) : undefined, data: type === 'file' ? r.bytes(r.int(300)) : undefined });
  }
  let tar: Buffer;
  try {
    tar = await tarBytes(members, r.chance(0.9));
  } catch {
    tar = r.bytes(512);
  }
  let gz: Buffer = gzipSync(tar);
  switch (r.int(8)) {
    case 0:
      gz = Buffer.from(gz.subarray(0, r.int(gz.length))); // truncated
      break;
    case 1: {
      gz = Buffer.from(gz);
      for (let i = r.int(4) + 1; i > 0; i--) {
        const at = r.int(gz.length);
        gz[at] = must(gz[at]) ^ (1 << r.int(8)); // bit flips
      }
      break;
    }
    case 2: {
      // a flipped byte inside the tar (valid gzip of a corrupt archive)
      const t = Buffer.from(tar);
      for (let i = r.int(4) + 1; i > 0; i--) t[r.int(t.length)] = r.int(256);
      gz = gzipSync(t);
      break;
    }
    case 3:
      gz = r.bytes(r.int(400));
      break;
    default:
      break;
  }
  return gz;
}

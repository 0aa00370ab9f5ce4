// Exact-type parsing of the job-transfer frames (peer-link-protocol.md §6.2) and the outbound
// frame helpers the receiver needs (job_output splitting, error_message cap).
import { APP_FRAME_MAX_BYTES, NOISE_TAG_BYTES } from '../peer-link/transfer';

export type Frame = { type: string; [k: string]: unknown };

export const isStr = (v: unknown): v is string => typeof v === 'string';
/** Integers are JSON numbers with no fractional part; booleans never count. */
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

export const SUBMIT_REASONS = [
  'duplicate_submit',
  'invalid_header',
  'invalid_chunk',
  'no_inflight_submit',
  'job_id_mismatch',
  'chunk_decode_failed',
  'extract_failed',
  'queue_rejected',
  'upload_unsupported',
  'out_of_order',
  'post_completion',
  'oversized',
  'undersized',
  'hash_mismatch',
  'chunk_count_mismatch',
  'empty_bundle',
] as const;
export type SubmitReason = (typeof SUBMIT_REASONS)[number];

export interface SubmitHeader {
  job_id: string;
  configuration_filename: string;
  target: string;
  total_bundle_bytes: number;
  num_chunks: number;
  bundle_sha256: string;
  device_name: unknown;
  device_friendly_name: unknown;
  target_esphome_version: unknown;
}

/** §8 step 1: the header schema. */
export function parseSubmitHeader(f: Frame): SubmitHeader | null {
  if (!isStr(f.job_id) || !isStr(f.configuration_filename) || !isStr(f.target) || !isStr(f.bundle_sha256)) return null;
  if (!isInt(f.total_bundle_bytes) || !isInt(f.num_chunks)) return null;
  return {
    job_id: f.job_id,
    configuration_filename: f.configuration_filename,
    target: f.target,
    total_bundle_bytes: f.total_bundle_bytes,
    num_chunks: f.num_chunks,
    bundle_sha256: f.bundle_sha256,
    device_name: f.device_name,
    device_friendly_name: f.device_friendly_name,
    target_esphome_version: f.target_esphome_version,
  };
}

export interface ChunkFrame {
  job_id: string;
  chunk_index: number;
  data_b64: string;
  is_last: boolean;
}

export function parseChunk(f: Frame): ChunkFrame | null {
  if (!isStr(f.job_id) || !isInt(f.chunk_index) || !isStr(f.data_b64) || !isBool(f.is_last)) return null;
  return { job_id: f.job_id, chunk_index: f.chunk_index, data_b64: f.data_b64, is_last: f.is_last };
}

export const DISPLAY_NAME_MAX = 256;
export const VERSION_MAX = 64;
// PEP 440 public version (release segment plus optional pre/post/dev), as esphome publishes.
const PEP440 = /^\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?$/;

/** §8 step 7: non-string or over-long display names become "". */
export function coerceDisplayName(v: unknown): string {
  return typeof v === 'string' && v.length <= DISPLAY_NAME_MAX ? v : '';
}

/** §8 step 7 / §17: a version string is coerced to a PEP 440 release string before any use. */
export function coerceVersion(v: unknown): string {
  return typeof v === 'string' && v.length <= VERSION_MAX && PEP440.test(v) ? v : '';
}

export const ERROR_MESSAGE_MAX_CHARS = 4096;

/** Caps `error_message` so a `job_state_changed` frame always fits the frame cap. */
export function capErrorMessage(msg: string | null | undefined): string {
  const s = msg ?? '';
  return s.length <= ERROR_MESSAGE_MAX_CHARS ? s : `${s.slice(0, ERROR_MESSAGE_MAX_CHARS - 15)} … (truncated)`;
}

const TERMINATOR = /(\r\n|\n|\r)$/;
const EMPTY_OUTPUT_FRAME_BYTES = Buffer.byteLength(JSON.stringify({ type: 'job_output', job_id: '', stream: 'stdout', line: '' }));

/** UTF-8 byte length of one code point once JSON-escaped (without quotes). */
function escapedBytes(cp: number): number {
  if (cp === 0x22 || cp === 0x5c) return 2;
  if (cp === 0x08 || cp === 0x09 || cp === 0x0a || cp === 0x0c || cp === 0x0d) return 2;
  if (cp < 0x20) return 6;
  if (cp >= 0xd800 && cp <= 0xdfff) return 6; // lone surrogate: JSON.stringify escapes it
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  return 4;
}

/**
 * Splits an output line into `job_output` pieces whose encrypted frame stays within the cap
 * (§6.1): pieces break on code-point boundaries and only the last piece carries the terminator.
 */
export function splitOutputLine(jobId: string, line: string, maxFrameBytes: number = APP_FRAME_MAX_BYTES): string[] {
  // Runs for every output line: a line that fits even if every UTF-16 unit (job_id included)
  // were escaped to six bytes needs no measuring (the 8 keeps the "cap too small" check below).
  if ((line.length + jobId.length) * 6 + EMPTY_OUTPUT_FRAME_BYTES + NOISE_TAG_BYTES + 8 <= maxFrameBytes) return [line];
  const overhead = Buffer.byteLength(JSON.stringify({ type: 'job_output', job_id: jobId, stream: 'stdout', line: '' })) + NOISE_TAG_BYTES;
  const budget = maxFrameBytes - overhead;
  if (budget < 8) throw new Error('splitOutputLine: frame cap too small');
  if (Buffer.byteLength(JSON.stringify(line)) - 2 <= budget) return [line];
  const term = TERMINATOR.exec(line)?.[0] ?? '';
  const body = line.slice(0, line.length - term.length);
  const pieces: string[] = [];
  let start = 0;
  let used = 0;
  for (let i = 0; i < body.length; ) {
    const cp = body.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    const cost = escapedBytes(cp);
    if (used + cost > budget) {
      pieces.push(body.slice(start, i));
      start = i;
      used = 0;
    }
    used += cost;
    i += width;
  }
  const termCost = [...term].reduce((n, c) => n + escapedBytes(c.codePointAt(0)!), 0);
  if (used + termCost > budget) {
    pieces.push(body.slice(start));
    pieces.push(term);
  } else {
    pieces.push(body.slice(start) + term);
  }
  return pieces.filter((p) => p !== '');
}

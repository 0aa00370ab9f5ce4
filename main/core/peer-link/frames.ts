// Application frames (peer-link-protocol.md §6): decoding of one decrypted frame and exact
// validators for the frames this module consumes. Job-transfer frames are validated by their
// consumers (transfer.ts / sender-jobs.ts / receiver).
import type { QueueStatus } from '../jobs/model';
import { decodeChunkFrame } from './transfer';
import { isBool, isInt, isObject, isStr, parseJson } from './strict-json';

/** One application message: a JSON object discriminated by a string `type`. */
export interface PeerMessage {
  type: string;
  [key: string]: unknown;
}

/** Decodes a decrypted frame; undefined = malformed (invalid JSON, not an object, no string type). */
export function decodeAppFrame(plaintext: Uint8Array): PeerMessage | undefined {
  // Chunk frames in their usual exact layout skip UTF-8 decoding and JSON.parse (same result).
  const chunk = decodeChunkFrame(plaintext);
  if (chunk) return chunk;
  const v = parseJson(plaintext);
  if (!isObject(v) || !isStr(v.type)) return undefined;
  return v as PeerMessage;
}

export function parsePingPong(m: PeerMessage): { nonce: number } | undefined {
  return isInt(m.nonce) ? { nonce: m.nonce } : undefined;
}

export function parseTerminate(m: PeerMessage): { reason: string } | undefined {
  return isStr(m.reason) ? { reason: m.reason } : undefined;
}

export function parseQueueStatus(m: PeerMessage): QueueStatus | undefined {
  if (!isBool(m.idle) || !isBool(m.running) || !isInt(m.queue_depth) || m.queue_depth < 0) return undefined;
  return { idle: m.idle, running: m.running, queue_depth: m.queue_depth };
}

export interface JobOutputFrame {
  job_id: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export function parseJobOutput(m: PeerMessage): JobOutputFrame | undefined {
  if (!isStr(m.job_id) || !isStr(m.line) || (m.stream !== 'stdout' && m.stream !== 'stderr')) return undefined;
  return { job_id: m.job_id, stream: m.stream, line: m.line };
}

export const WIRE_JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type WireJobStatus = (typeof WIRE_JOB_STATUSES)[number];

export interface JobStateChangedFrame {
  job_id: string;
  status: WireJobStatus;
  error_message: string;
  failure_reason?: 'provision';
}

export function parseJobStateChanged(m: PeerMessage): JobStateChangedFrame | undefined {
  if (!isStr(m.job_id) || !isStr(m.status) || !(WIRE_JOB_STATUSES as readonly string[]).includes(m.status)) return undefined;
  // error_message is required upstream; an absent one is tolerated as "", a wrong type is not.
  if (m.error_message !== undefined && !isStr(m.error_message)) return undefined;
  if (m.failure_reason !== undefined && !isStr(m.failure_reason)) return undefined;
  const out: JobStateChangedFrame = { job_id: m.job_id, status: m.status as WireJobStatus, error_message: m.error_message ?? '' };
  // Future categories are ignored rather than refused (additive enum upstream).
  if (m.failure_reason === 'provision') out.failure_reason = 'provision';
  return out;
}

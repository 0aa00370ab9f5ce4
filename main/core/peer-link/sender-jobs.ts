// Offloader side of the job transfer over an open peer-link session (peer-link-protocol.md §7,
// §8, §9.6, §10): submit a bundle and wait for its ack, download verified artifacts, cancel.
// Every pending request fails at once when the session ends (§8). One submit and one download at
// a time per session, as the receiver enforces (`duplicate_submit`, `duplicate_download`).
import { materializeArtifacts, type MaterializeOptions, type MaterializedArtifacts } from '../build-server/artifact-materialize';
import type { PeerMessage, PeerSession } from './session';
import { ARTIFACTS_MAX_TOTAL_BYTES, ChunkAssembler, chunkCount, chunkFrames, CHUNK_SIZE, MIB, sendFrames, TransferError, sha256Hex } from './transfer';
import { isBool, isInt, isStr } from './strict-json';

export { materializeArtifacts, type MaterializeOptions, type MaterializedArtifacts };

/** The part of a session these calls use (any PeerSession fits). */
export type TransferSession = Pick<PeerSession, 'send' | 'onMessage' | 'onClose' | 'closed' | 'pin'> & { readonly closeReason?: string };

export interface SubmitJobRequest {
  /** The offloader's job_id: the only id on the wire (§9.1). */
  jobId: string;
  /** YAML leaf name, e.g. `kitchen.yaml`. */
  configurationFilename: string;
  target: 'compile' | 'clean';
  /** The `esphome bundle` tarball. */
  bundle: Uint8Array;
  deviceName?: string;
  deviceFriendlyName?: string;
  targetEsphomeVersion?: string;
}

export interface SubmitJobAck {
  jobId: string;
  accepted: boolean;
  /** Present when not accepted (a §8 reason code). */
  reason?: string;
}

export interface SubmitJobOptions {
  /** Override of the ack wait after the last chunk; default `submitAckTimeoutMs(bundle.length)`. */
  ackTimeoutMs?: number;
  chunkSize?: number;
}

/** Why a request over the session failed without a protocol answer. */
export type TransferFailureKind = 'session_closed' | 'timeout' | 'send_failed' | 'protocol';

export class SenderTransferError extends Error {
  constructor(
    readonly kind: TransferFailureKind,
    message: string,
    /** Session close reason / detail when kind is session_closed. */
    readonly reason = '',
    readonly detail = '',
  ) {
    super(message);
    this.name = 'SenderTransferError';
  }
}

/** `artifacts_end{accepted:false}`: the receiver refused or failed the download. */
export class ArtifactsRejectedError extends Error {
  constructor(
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`receiver refused the artifact download: ${reason}${detail ? ` (${detail})` : ''}`);
    this.name = 'ArtifactsRejectedError';
  }
}

/** §8: after the last chunk wait at most 60 s + size / (2 MiB/s). */
export function submitAckTimeoutMs(bundleBytes: number): number {
  return 60_000 + Math.ceil((bundleBytes / (2 * MIB)) * 1000);
}

// Per-session serialisation of submits and downloads (the receiver allows one of each).
const submitLocks = new WeakMap<object, Promise<unknown>>();
const downloadLocks = new WeakMap<object, Promise<unknown>>();

function serialised<T>(locks: WeakMap<object, Promise<unknown>>, key: object, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  locks.set(
    key,
    run.catch(() => undefined),
  );
  return run;
}

/**
 * Wires a request to the session: `onFrame` sees every inbound frame until settled; the session
 * closing rejects at once. Returns the settle functions and a disposer.
 */
function request<T>(session: TransferSession, onFrame: (msg: PeerMessage, settle: Settle<T>) => void): { promise: Promise<T>; settle: Settle<T> } {
  let offMsg: () => void = () => undefined;
  let offClose: () => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  let resolveP!: (v: T) => void;
  let rejectP!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolveP = res;
    rejectP = rej;
  });
  const cleanup = (): void => {
    done = true;
    offMsg();
    offClose();
    if (timer) clearTimeout(timer);
  };
  const settle: Settle<T> = {
    get done() {
      return done;
    },
    resolve(v) {
      if (done) return;
      cleanup();
      resolveP(v);
    },
    reject(e) {
      if (done) return;
      cleanup();
      rejectP(e);
    },
    timeout(ms, make) {
      if (done) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => settle.reject(make()), ms);
    },
  };
  offMsg = session.onMessage((msg) => {
    if (!done) onFrame(msg, settle);
  });
  offClose = session.onClose((reason, detail) => {
    settle.reject(new SenderTransferError('session_closed', `peer-link session closed (${reason}${detail ? `: ${detail}` : ''})`, reason, detail));
  });
  if (session.closed) settle.reject(new SenderTransferError('session_closed', `peer-link session closed (${session.closeReason ?? 'closed'})`, session.closeReason ?? 'closed'));
  return { promise, settle };
}

interface Settle<T> {
  readonly done: boolean;
  resolve(v: T): void;
  reject(e: Error): void;
  timeout(ms: number, make: () => Error): void;
}

/**
 * Submit a bundle: header, then the chunks, then wait for `submit_job_ack`. Resolves with the
 * ack (accepted or not; a rejection can arrive before the last chunk, which stops the upload).
 * Rejects with SenderTransferError on session loss, send failure or ack timeout. Never
 * resubmit on the same session after a failure: the receiver may already have queued the job.
 */
export function submitJob(session: TransferSession, req: SubmitJobRequest, opts: SubmitJobOptions = {}): Promise<SubmitJobAck> {
  return serialised(submitLocks, session, () => submitJobNow(session, req, opts));
}

async function submitJobNow(session: TransferSession, req: SubmitJobRequest, opts: SubmitJobOptions): Promise<SubmitJobAck> {
  const bundle = req.bundle;
  const chunkSize = opts.chunkSize ?? CHUNK_SIZE;
  const numChunks = chunkCount(bundle.length, chunkSize);
  const { promise, settle } = request<SubmitJobAck>(session, (msg, s) => {
    if (msg.type !== 'submit_job_ack') return;
    // One submit per session at a time, so an ack with an empty job_id (unusable header) is ours.
    if (msg.job_id !== req.jobId && msg.job_id !== '') return;
    if (!isBool(msg.accepted) || (msg.reason !== undefined && !isStr(msg.reason))) {
      s.reject(new SenderTransferError('protocol', 'malformed submit_job_ack from the build server'));
      return;
    }
    const ack: SubmitJobAck = { jobId: req.jobId, accepted: msg.accepted };
    if (!msg.accepted) ack.reason = isStr(msg.reason) && msg.reason !== '' ? msg.reason : 'unknown';
    s.resolve(ack);
  });
  promise.catch(() => undefined);
  const header: PeerMessage = {
    type: 'submit_job',
    job_id: req.jobId,
    configuration_filename: req.configurationFilename,
    target: req.target,
    total_bundle_bytes: bundle.length,
    num_chunks: numChunks,
    bundle_sha256: sha256Hex(bundle),
    device_name: req.deviceName ?? '',
    device_friendly_name: req.deviceFriendlyName ?? '',
  };
  if (req.targetEsphomeVersion) header.target_esphome_version = req.targetEsphomeVersion;
  try {
    await session.send(header);
    // An early rejection (bad header, assembler error) ends the upload.
    await sendFrames(session, chunkFrames('submit_job_chunk', req.jobId, bundle, chunkSize), { stop: () => settle.done });
    if (settle.done) return promise;
  } catch (err) {
    settle.reject(
      session.closed
        ? new SenderTransferError('session_closed', `peer-link session closed (${session.closeReason ?? 'closed'})`, session.closeReason ?? 'closed')
        : new SenderTransferError('send_failed', `sending the bundle failed: ${(err as Error).message}`),
    );
    return promise;
  }
  const wait = opts.ackTimeoutMs ?? submitAckTimeoutMs(bundle.length);
  settle.timeout(wait, () => new SenderTransferError('timeout', `no submit_job_ack within ${Math.round(wait / 1000)} s`));
  return promise;
}

export interface DownloadedArtifacts {
  /** The verified gzip tarball (SHA-256 checked). */
  tarball: Buffer;
  /** `"0x10000"` (ESP32 family) or `"0x0"`. */
  firmwareOffset: string;
  sha256: string;
}

export interface DownloadOptions {
  signal?: AbortSignal;
}

const FIRMWARE_OFFSET = /^0x[0-9a-f]+$/;

/**
 * `download_artifacts{job_id}` → `artifacts_start`, chunks, `artifacts_end`. No timeout: it ends
 * with `artifacts_end` or session loss. Rejects with ArtifactsRejectedError (`reason`,
 * `detail`), SenderTransferError, or TransferError (assembler code, e.g. hash_mismatch).
 */
export function downloadArtifacts(session: TransferSession, jobId: string, opts: DownloadOptions = {}): Promise<DownloadedArtifacts> {
  return serialised(downloadLocks, session, () => downloadNow(session, jobId, opts));
}

async function downloadNow(session: TransferSession, jobId: string, opts: DownloadOptions): Promise<DownloadedArtifacts> {
  let assembler: ChunkAssembler | null = null;
  let firmwareOffset = '';
  let sha = '';
  const protocolError = (what: string) => new SenderTransferError('protocol', `malformed ${what} from the build server`);
  const { promise, settle } = request<DownloadedArtifacts>(session, (msg, s) => {
    if (msg.job_id !== jobId) return;
    try {
      switch (msg.type) {
        case 'artifacts_start': {
          if (!isInt(msg.total_bytes) || !isInt(msg.num_chunks) || !isStr(msg.artifacts_sha256) || !isStr(msg.firmware_offset)) throw protocolError('artifacts_start');
          if (assembler) throw protocolError('second artifacts_start');
          const offset = msg.firmware_offset.toLowerCase();
          if (!FIRMWARE_OFFSET.test(offset)) throw protocolError('firmware_offset');
          assembler = new ChunkAssembler({ totalBytes: msg.total_bytes, numChunks: msg.num_chunks, sha256: msg.artifacts_sha256, cap: ARTIFACTS_MAX_TOTAL_BYTES });
          firmwareOffset = offset;
          sha = msg.artifacts_sha256.toLowerCase();
          return;
        }
        case 'artifacts_chunk': {
          if (!isInt(msg.chunk_index) || !isStr(msg.data_b64) || !isBool(msg.is_last)) throw protocolError('artifacts_chunk');
          if (!assembler) throw protocolError('artifacts_chunk before artifacts_start');
          assembler.feed(msg.chunk_index, msg.data_b64, msg.is_last, msg);
          return;
        }
        case 'artifacts_end': {
          if (!isBool(msg.accepted)) throw protocolError('artifacts_end');
          if (!msg.accepted) {
            s.reject(new ArtifactsRejectedError(isStr(msg.reason) && msg.reason ? msg.reason : 'unknown', isStr(msg.detail) ? msg.detail : ''));
            return;
          }
          if (!assembler) throw protocolError('artifacts_end before artifacts_start');
          s.resolve({ tarball: assembler.finalize(), firmwareOffset, sha256: sha });
          return;
        }
        default:
          return;
      }
    } catch (err) {
      s.reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
  promise.catch(() => undefined);
  const onAbort = (): void => settle.reject(new SenderTransferError('protocol', 'download aborted'));
  if (opts.signal) {
    if (opts.signal.aborted) onAbort();
    opts.signal.addEventListener('abort', onAbort, { once: true });
  }
  try {
    if (!settle.done) await session.send({ type: 'download_artifacts', job_id: jobId });
  } catch (err) {
    settle.reject(
      session.closed
        ? new SenderTransferError('session_closed', `peer-link session closed (${session.closeReason ?? 'closed'})`, session.closeReason ?? 'closed')
        : new SenderTransferError('send_failed', `sending download_artifacts failed: ${(err as Error).message}`),
    );
  }
  try {
    return await promise;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** `cancel_job{job_id}`: fire-and-forget; the confirmation is `job_state_changed{cancelled}`. */
export async function cancelJob(session: TransferSession, jobId: string): Promise<void> {
  await session.send({ type: 'cancel_job', job_id: jobId });
}

export { TransferError };

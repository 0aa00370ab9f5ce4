// §8 on one session: the submit_job header rules and the submit_job_chunk stream, in order, with
// every reason code and the exact terminate split. The intake only decides; what an accepted
// bundle becomes (extract + enqueue) is the caller's `onAccepted`.
import { BUNDLE_MAX_TOTAL_BYTES, ChunkAssembler, chunkFrameBytes, TransferError, type AssemblerReason } from '../peer-link/transfer';
import { isSafeConfigurationFilename } from './filename';
import { coerceDisplayName, coerceVersion, isStr, parseChunk, parseSubmitHeader, type Frame, type SubmitReason } from './frame-parse';

export interface AcceptedSubmit {
  jobId: string;
  configurationFilename: string;
  target: 'compile' | 'clean';
  bundle: Buffer;
  deviceName: string;
  deviceFriendlyName: string;
  targetEsphomeVersion: string;
}

export interface SubmitIntakeHooks {
  /** Sends `submit_job_ack`. Called before `terminate` when both happen. */
  ack(jobId: string, accepted: boolean, reason?: SubmitReason): void;
  /** Sends terminate{malformed_frame} and closes the session (T in §8). */
  terminate(detail: string): void;
  /** True while this job_id of this sender is still extracting (post-ack, pre-enqueue). */
  isExtracting(jobId: string): boolean;
  /** Called right after the accepted ack; must not block the receive loop. */
  onAccepted(submit: AcceptedSubmit): void;
  /** Bundle cap (default 128 MiB). */
  maxBundleBytes?: number;
  /**
   * Per-sender limits (queued jobs, bytes held, disk): a reason to refuse this header with, or
   * undefined to go on. Checked after the filename and before anything is allocated.
   */
  admit?(jobId: string, totalBytes: number): SubmitReason | undefined;
}

/** Assembler codes that do not end the session (§8 chunk table). */
const SOFT_ASSEMBLER_CODES: ReadonlySet<AssemblerReason> = new Set(['oversized', 'undersized', 'hash_mismatch', 'empty_bundle']);

interface InFlight {
  jobId: string;
  totalBytes: number;
  configurationFilename: string;
  target: 'compile' | 'clean';
  assembler: ChunkAssembler;
  deviceName: string;
  deviceFriendlyName: string;
  targetEsphomeVersion: string;
}

export class SubmitIntake {
  private inflight: InFlight | null = null;

  constructor(private readonly hooks: SubmitIntakeHooks) {}

  get inFlightJobId(): string | null {
    return this.inflight?.jobId ?? null;
  }

  /** Bytes announced by the submit in flight (what its assembler holds or will hold). */
  get inFlightBytes(): number {
    return this.inflight?.totalBytes ?? 0;
  }

  /** Session ended: drop the in-flight submit (§13). */
  drop(): void {
    this.inflight = null;
  }

  header(frame: Frame): void {
    const h = parseSubmitHeader(frame);
    // 1. schema
    if (!h) {
      this.hooks.ack(isStr(frame.job_id) ? frame.job_id : '', false, 'invalid_header');
      this.hooks.terminate('submit_job header failed the schema');
      return;
    }
    // 2. one in-flight submit per session; a job still extracting is a duplicate too
    if (this.inflight || this.hooks.isExtracting(h.job_id)) return this.hooks.ack(h.job_id, false, 'duplicate_submit');
    // 3. a receiver never flashes
    if (h.target === 'upload') return this.hooks.ack(h.job_id, false, 'upload_unsupported');
    // 4.
    if (h.target !== 'compile' && h.target !== 'clean') return this.hooks.ack(h.job_id, false, 'invalid_header');
    // 5.
    if (!isSafeConfigurationFilename(h.configuration_filename)) return this.hooks.ack(h.job_id, false, 'invalid_header');
    // 5b. the build server's per-sender limits (queue_rejected)
    const refused = this.hooks.admit?.(h.job_id, h.total_bundle_bytes);
    if (refused) return this.hooks.ack(h.job_id, false, refused);
    // 6.
    let assembler: ChunkAssembler;
    try {
      assembler = new ChunkAssembler({
        totalBytes: h.total_bundle_bytes,
        numChunks: h.num_chunks,
        sha256: h.bundle_sha256,
        cap: this.hooks.maxBundleBytes ?? BUNDLE_MAX_TOTAL_BYTES,
      });
    } catch (err) {
      if (err instanceof TransferError) return this.hooks.ack(h.job_id, false, err.code);
      throw err;
    }
    // 7. coerce display fields and register; the ack comes after the last chunk
    this.inflight = {
      jobId: h.job_id,
      totalBytes: h.total_bundle_bytes,
      configurationFilename: h.configuration_filename,
      target: h.target,
      assembler,
      deviceName: coerceDisplayName(h.device_name),
      deviceFriendlyName: coerceDisplayName(h.device_friendly_name),
      targetEsphomeVersion: coerceVersion(h.target_esphome_version),
    };
  }

  chunk(frame: Frame): void {
    const c = parseChunk(frame);
    if (!c) {
      const jobId = isStr(frame.job_id) ? frame.job_id : (this.inflight?.jobId ?? '');
      this.inflight = null;
      this.hooks.ack(jobId, false, 'invalid_chunk');
      this.hooks.terminate('submit_job_chunk failed the schema');
      return;
    }
    const inflight = this.inflight;
    if (!inflight) return this.hooks.ack(c.job_id, false, 'no_inflight_submit');
    if (c.job_id !== inflight.jobId) return this.hooks.ack(c.job_id, false, 'job_id_mismatch');
    // Strict base64 (already decoded by the session's fast path when the frame took it; a view
    // valid until the next frame is decoded: feedBytes copies it at once).
    const bytes = chunkFrameBytes(frame, c.data_b64);
    if (!bytes) {
      this.inflight = null;
      this.hooks.ack(c.job_id, false, 'chunk_decode_failed');
      this.hooks.terminate(`chunk ${c.chunk_index} is not valid base64`);
      return;
    }
    let bundle: Buffer | null = null;
    try {
      inflight.assembler.feedBytes(c.chunk_index, bytes, c.is_last);
      if (c.is_last) bundle = inflight.assembler.finalize();
    } catch (err) {
      if (!(err instanceof TransferError)) throw err;
      this.inflight = null;
      this.hooks.ack(c.job_id, false, err.code);
      if (!SOFT_ASSEMBLER_CODES.has(err.code)) this.hooks.terminate(`bundle transfer: ${err.message}`);
      return;
    }
    if (!bundle) return;
    this.inflight = null;
    this.hooks.ack(c.job_id, true);
    this.hooks.onAccepted({
      jobId: inflight.jobId,
      configurationFilename: inflight.configurationFilename,
      target: inflight.target,
      bundle,
      deviceName: inflight.deviceName,
      deviceFriendlyName: inflight.deviceFriendlyName,
      targetEsphomeVersion: inflight.targetEsphomeVersion,
    });
  }
}

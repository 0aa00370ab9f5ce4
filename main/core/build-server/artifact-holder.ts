// A build server's artifacts for download (peer-link §10): packed the moment a compile completes
// (the sender asks right after it sees `completed`, so packing during that round trip takes it off
// the critical path of every remote build), held until downloaded or for `ttlMs` at most, then
// sent as artifacts_start → chunks → artifacts_end. Every read is confined to the owning sender's
// workspace (artifact-pack.ts).
import { join, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FirmwareJob } from '../jobs/model';
import type { BuildServerSession } from '../peer-link/session';
import { isStr, type Frame } from './frame-parse';
import { chunkCount, chunkFrames, CHUNK_SIZE, sendFrames } from '../peer-link/transfer';
import { ArtifactPackError, packArtifacts, type PackedArtifacts } from './artifact-pack';
import { senderEsphomeDataDir, senderWorkspace } from './workspace';

export interface ArtifactHolderOptions {
  /** The engine's config dir (jobs' configurations are relative to it). */
  configDir: () => string;
  /** Where `remote_builds/` lives. */
  dataDir: string;
  /** senderKey of the sender that owns a receiver job (JobOwners). */
  ownerOf: (jobId: string) => string | undefined;
  /** How long packed artifacts wait for their download (default 60 s). */
  ttlMs?: number;
}

export class ArtifactHolder {
  private readonly held = new Map<string, { packed: Promise<PackedArtifacts>; timer: NodeJS.Timeout }>();

  constructor(private readonly o: ArtifactHolderOptions) {}

  /** Packs a completed compile now and holds the result for its download (also returned). */
  hold(job: FirmwareJob): Promise<PackedArtifacts> {
    this.drop(job.job_id);
    const packed = this.pack(job);
    packed.catch(() => undefined); // reported when (if) it is downloaded
    const timer = setTimeout(() => this.drop(job.job_id), this.o.ttlMs ?? 60_000);
    timer.unref?.();
    this.held.set(job.job_id, { packed, timer });
    return packed;
  }

  async whenPacked(jobId: string): Promise<void> {
    await this.held.get(jobId)?.packed.catch(() => undefined);
  }

  /** The artifacts packed at completion (once), else packed now. */
  take(job: FirmwareJob): Promise<PackedArtifacts> {
    const held = this.held.get(job.job_id);
    this.drop(job.job_id);
    return held?.packed ?? this.pack(job);
  }

  dropAll(): void {
    for (const id of [...this.held.keys()]) this.drop(id);
  }

  private drop(jobId: string): void {
    const held = this.held.get(jobId);
    if (!held) return;
    clearTimeout(held.timer);
    this.held.delete(jobId);
  }

  private pack(job: FirmwareJob): Promise<PackedArtifacts> {
    const owner = this.o.ownerOf(job.job_id);
    if (!owner) return Promise.reject(new ArtifactPackError('build_dir_missing', 'this build server no longer knows which sender built this job'));
    const yamlPath = resolve(this.o.configDir(), job.configuration);
    const esphomeDataDir = senderEsphomeDataDir(this.o.dataDir, owner);
    const yamlName = yamlPath.split(sep).pop() ?? '';
    return packArtifacts({
      storageJsonPath: join(esphomeDataDir, 'storage', `${yamlName}.json`),
      esphomeDataDir,
      allowedRoot: senderWorkspace(this.o.dataDir, owner),
    });
  }
}

/** artifacts_start → chunks (windowed) → artifacts_end{accepted:true} for one completed job. */
export async function sendArtifacts(session: BuildServerSession, job: Pick<FirmwareJob, 'remote_job_id' | 'configuration'>, packing: Promise<PackedArtifacts>, log: (m: string) => void): Promise<void> {
  const packStarted = performance.now();
  const packed = await packing;
  const wireId = job.remote_job_id;
  const sendStarted = performance.now();
  await session.send({
    type: 'artifacts_start',
    job_id: wireId,
    total_bytes: packed.tarball.length,
    num_chunks: chunkCount(packed.tarball.length, CHUNK_SIZE),
    artifacts_sha256: packed.sha256,
    firmware_offset: packed.firmwareOffset,
  });
  await sendFrames(session, chunkFrames('artifacts_chunk', wireId, packed.tarball, CHUNK_SIZE));
  await session.send({ type: 'artifacts_end', job_id: wireId, accepted: true });
  const packMs = Math.round(sendStarted - packStarted);
  const sendMs = Math.round(performance.now() - sendStarted);
  log(`sent artifacts of ${job.configuration} (${packed.tarball.length} bytes; ready ${packMs} ms after the request, sent in ${sendMs} ms) to ${session.label || session.dashboardId}`);
}

/** What a download_artifacts is answered from: a build's job (or a stored build's) and its pack. */
export interface DownloadSource {
  job: Pick<FirmwareJob, 'remote_job_id' | 'configuration'>;
  packing: () => Promise<PackedArtifacts>;
}

/** §10 download_artifacts on one session: one at a time, refusals as artifacts_end{accepted:false}. */
export function serveDownload(a: {
  session: BuildServerSession;
  msg: Frame;
  state: { downloading: boolean };
  resolveJob: (jobId: string) => DownloadSource | 'unknown_job' | 'job_not_completed';
  send: (frame: Frame) => void;
  log: (m: string) => void;
}): void {
  if (!isStr(a.msg.job_id)) {
    void a.session.close('malformed_frame', 'download_artifacts without a string job_id');
    return;
  }
  const jobId = a.msg.job_id;
  const refuse = (reason: string, detail?: string): void => {
    const frame: Frame = { type: 'artifacts_end', job_id: jobId, accepted: false, reason };
    if (detail) frame.detail = detail.slice(0, 1024);
    a.send(frame);
  };
  if (a.state.downloading) return refuse('duplicate_download');
  const source = a.resolveJob(jobId);
  if (typeof source === 'string') return refuse(source);
  a.state.downloading = true;
  void sendArtifacts(a.session, source.job, source.packing(), a.log)
    .catch((err: unknown) => {
      if (err instanceof ArtifactPackError) refuse(err.reason, err.detail);
      else refuse('pack_failed', err instanceof Error ? err.message : String(err));
    })
    .finally(() => {
      a.state.downloading = false;
    });
}

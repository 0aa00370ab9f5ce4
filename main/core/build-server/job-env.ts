// The per-job environment of a build server's jobs: every build of one sender shares that sender's
// ESPHOME_DATA_DIR under the workspace root, and the HA add-on marker is removed. The job engine
// takes this as its `jobEnv` constructor option (local jobs, without `remote_peer`, get nothing).
//
// Which sender a receiver job belongs to is keyed on the sender's full identity (senderKey: full
// dashboard_id + pinned static key), never on the sender-chosen id or a prefix of it. The
// BuildServer records that owner when it enqueues a job; the engine (built before the receiver)
// reads it through the same `JobOwners` instance.
import { join } from 'node:path';
import type { FirmwareJob } from '../jobs/model';
import { remoteBuildsRoot, SENDER_DATA_DIR, senderEsphomeDataDir } from './workspace';

/** Receiver job id → senderKey of the sender that submitted it. Shared by the engine's job env and the BuildServer. */
export class JobOwners {
  private readonly owners = new Map<string, string>();
  /** Extra environment fixed when the job was queued (a provisioned toolchain's Python). */
  private readonly extraEnv = new Map<string, Record<string, string>>();
  get(jobId: string): string | undefined {
    return this.owners.get(jobId);
  }
  envOf(jobId: string): Record<string, string> {
    return this.extraEnv.get(jobId) ?? {};
  }
  set(jobId: string, key: string, env?: Record<string, string>): void {
    this.owners.set(jobId, key);
    if (env && Object.keys(env).length > 0) this.extraEnv.set(jobId, env);
    else this.extraEnv.delete(jobId);
  }
  delete(jobId: string): void {
    this.owners.delete(jobId);
    this.extraEnv.delete(jobId);
  }
  keys(): string[] {
    return [...this.owners.keys()];
  }
  get size(): number {
    return this.owners.size;
  }
}

/** `dataDir` is where `remote_builds/` lives (the BuildServer's dataDir, by default the engine's). */
export function buildServerJobEnv(dataDir: string, owners: JobOwners): (job: FirmwareJob) => Record<string, string | undefined> {
  return (job) => {
    if (!job.remote_peer) return {};
    const owner = owners.get(job.job_id);
    // A receiver job without a known owner is a leftover (cancelled at start): never let it use
    // the default data dir or another sender's.
    const esphomeDataDir = owner ? senderEsphomeDataDir(dataDir, owner) : join(remoteBuildsRoot(dataDir), '.orphaned', SENDER_DATA_DIR);
    return { ESPHOME_DATA_DIR: esphomeDataDir, ESPHOME_IS_HA_ADDON: undefined, ...owners.envOf(job.job_id) };
  };
}

// The per-job environment of a build server's jobs: every build of one sender shares that sender's
// ESPHOME_DATA_DIR under the workspace root, and the HA add-on marker is removed. The job engine
// takes this as its `jobEnv` constructor option (local jobs, without `remote_peer`, get nothing).
import type { FirmwareJob } from '../jobs/model';
import { senderEsphomeDataDir } from './workspace';

/** `dataDir` is where `remote_builds/` lives (the BuildReceiver's dataDir, by default the engine's). */
export function buildServerJobEnv(dataDir: string): (job: FirmwareJob) => Record<string, string | undefined> {
  return (job) => (job.remote_peer ? { ESPHOME_DATA_DIR: senderEsphomeDataDir(dataDir, job.remote_peer), ESPHOME_IS_HA_ADDON: undefined } : {});
}

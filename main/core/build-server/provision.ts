// Build-server provisioning (peer-link §9.5): a submit whose `target_esphome_version` is a valid
// release different from this build server's own ESPHome is built in a toolchain of exactly that
// version, installed on demand. The install's lines reach the sender as the job's output; a
// failure ends the job `failed` with `failure_reason:"provision"` so the sender rebuilds locally.
// The build itself runs through the engine's launcher (toolchains/launcher.ts) with the
// toolchain's Python in the job's environment.
import type { FirmwareJob } from '../jobs/model';
import { ToolchainError } from '../toolchains/version';
import { capErrorMessage, splitOutputLine, type Frame } from './frame-parse';
import { TOOLCHAIN_PYTHON_ENV } from '../toolchains/launcher';
import type { ToolchainManager } from '../toolchains/manager';
import { venvPython } from '../toolchains/paths';
import { isEsphomeVersion } from '../toolchains/version';

export interface ProvisionerOptions {
  manager: ToolchainManager;
  /** This build server's own ESPHome version ('' while unknown). */
  ownVersion: () => string;
}

export class BuildServerProvisioner {
  constructor(private readonly o: ProvisionerOptions) {}

  /** `auto_provision_supported` in the session response. */
  supported(): boolean {
    return true;
  }

  /** The version this submit must be built with, or null for the build server's own. */
  versionFor(target: string): string | null {
    if (!isEsphomeVersion(target)) return null;
    return target === this.o.ownVersion() ? null : target;
  }

  /**
   * Makes the toolchain of `version` ready. Rejects (with a message for the sender) when it
   * cannot; `signal` is the submit's cancel.
   */
  async prepare(version: string, opts: { signal: AbortSignal; onLine: (line: string) => void; inUse: () => Set<string> }): Promise<void> {
    const have = this.o.manager.store.get(version);
    if (!have) opts.onLine(`INFO Provisioning ESPHome ${version} on this build server (the sender's version; this build server has ${this.o.ownVersion() || 'another version'}); the first build of a version installs it and can take a few minutes...`);
    const t = await this.o.manager.ensure(version, opts);
    opts.onLine(`INFO Building with ESPHome ${t.version} (toolchain ${t.dir})`);
  }

  /** Extra environment of a receiver job: the toolchain's Python when its version is provisioned. */
  jobEnv(job: FirmwareJob): Record<string, string> {
    const v = this.versionFor(job.target_esphome_version);
    if (!v) return {};
    // Even when the toolchain has gone missing since: a build that needs another version must
    // fail (interpreter not found), never run with this build server's own.
    return { [TOOLCHAIN_PYTHON_ENV]: venvPython(this.o.manager.store.dirFor(v)) };
  }

  /** Versions active receiver jobs are built with (never evicted while in use). */
  static versionsInUse(jobs: FirmwareJob[]): Set<string> {
    const out = new Set<string>();
    for (const j of jobs) if (j.remote_peer && (j.status === 'queued' || j.status === 'running') && isEsphomeVersion(j.target_esphome_version)) out.add(j.target_esphome_version);
    return out;
  }
}

export const PROVISION_FAILURE_PREFIX = 'could not provision ESPHome ';

/**
 * The submit path's hook: provisions the submit's version when it needs one. True = go on and
 * queue the build; false = it ended here (failed with failure_reason "provision", already sent,
 * or the sender cancelled it meanwhile).
 */
export async function provisionSubmit(
  provisioner: BuildServerProvisioner | undefined,
  a: { jobId: string; target: string; signal: AbortSignal; send: (frame: Frame) => void; inUse: () => Set<string>; log: (m: string) => void },
): Promise<boolean> {
  const version = provisioner?.versionFor(a.target) ?? null;
  if (!provisioner || !version) return true;
  const out = (line: string): void => {
    for (const piece of splitOutputLine(a.jobId, `${line}\n`)) a.send({ type: 'job_output', job_id: a.jobId, stream: 'stdout', line: piece });
  };
  try {
    await provisioner.prepare(version, { signal: a.signal, onLine: out, inUse: a.inUse });
    return !a.signal.aborted;
  } catch (err) {
    if (a.signal.aborted) return false;
    const reason = err instanceof ToolchainError || err instanceof Error ? err.message : String(err);
    a.log(`job ${a.jobId}: provisioning ESPHome ${version} failed: ${reason}`);
    out(`ERROR Provisioning ESPHome ${version} failed: ${reason}`);
    a.send({ type: 'job_state_changed', job_id: a.jobId, status: 'failed', failure_reason: 'provision', error_message: capErrorMessage(`${PROVISION_FAILURE_PREFIX}${version}: ${reason}`) });
    return false;
  }
}

// A local run (firmware-jobs.md §6): the job's esphome command as a tracked process group, output
// through the shared ingest, exit-0 error scrape, chip verify before a serial flash (§9.5).
import { join } from 'node:path';
import { esphomeArgs, resolveConfigPath, type EsphomeCommand } from '../esphome/argv';
import { chipVerifyApplies } from '../esphome/chip-verify';
import { esphomeNotFoundMessage } from '../esphome/command';
import { runTracked, SpawnError, spawnReason } from '../esphome/tracked-process';
import { verifyChipBeforeFlash } from './chip-check';
import { errorText, type EngineContext, type Outcome, type RunState } from './engine-context';
import { isRenameTail, type FirmwareJob } from './model';

export async function runLocal(ctx: EngineContext, run: RunState): Promise<Outcome> {
  const { job } = run;
  let args: string[];
  try {
    args = esphomeArgs(commandFor(ctx.configDir, job));
  } catch (err) {
    return { status: 'failed', error: errorText(err) };
  }
  if ((job.job_type === 'upload' || job.job_type === 'install') && chipVerifyApplies(job.port)) {
    const stop = await verifyChipBeforeFlash(ctx, run);
    if (stop) return stop;
  }
  // A cancel that landed during chip verify: never start the flash.
  if (run.procSignal.aborted) return { status: 'cancelled' };
  try {
    const res = await runTracked([...ctx.esphome, ...args], {
      env: ctx.envFor(job),
      signal: run.procSignal,
      terminateGraceMs: ctx.terminateGraceMs,
      drainMs: ctx.drainMs,
      onChunk: (c) => ctx.ingest(run, c, true),
    });
    if (run.procSignal.aborted) return { status: 'cancelled', exitCode: res.exitCode };
    if (res.exitCode === 0) {
      const e = run.scrape.exit0Error();
      return e ? { status: 'failed', error: e, exitCode: 0 } : { status: 'completed', exitCode: 0 };
    }
    if (res.exitCode === null) return { status: 'failed', error: `Process was killed by ${res.signal ?? 'a signal'}`, exitCode: null };
    return { status: 'failed', error: run.scrape.exitError(res.exitCode), exitCode: res.exitCode };
  } catch (err) {
    if (err instanceof SpawnError) return { status: 'failed', error: esphomeNotFoundMessage(ctx.esphome, spawnReason(err.code)) };
    throw err;
  }
}

/** The esphome command a job runs (paths resolved inside the config dir; throws on traversal). */
export function commandFor(configDir: string, job: FirmwareJob): EsphomeCommand {
  if (job.job_type === 'reset_build_env') return { command: 'clean-all', configDir };
  const yamlPath = resolveConfigPath(configDir, job.configuration);
  switch (job.job_type) {
    case 'compile':
      return { command: 'compile', yamlPath };
    case 'upload':
      return { command: 'upload', yamlPath, port: job.port, bootloader: job.flash_bootloader };
    case 'install':
      return { command: 'run', yamlPath, port: job.port };
    case 'clean':
      return { command: 'clean', yamlPath };
    case 'rename':
      if (isRenameTail(job)) {
        const renamed = resolveConfigPath(configDir, join(job.configuration, '..', `${job.new_name}.yaml`));
        return { command: 'upload', yamlPath: renamed, port: job.port };
      }
      return { command: 'rename', yamlPath, newName: job.new_name };
  }
}

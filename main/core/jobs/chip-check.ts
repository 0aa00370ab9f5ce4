// Chip verify (firmware-jobs.md §9.5) as a step of a local serial flash: `esptool --port P
// chip-id` runs as the job's tracked process and is compared with the platform the configuration
// was compiled for (storage JSON).
import { resolveConfigPath } from '../esphome/argv';
import { verifyChip } from '../esphome/chip-verify';
import { readEspPlatform, storageJsonPath } from '../esphome/storage-json';
import type { EngineContext, Outcome, RunState } from './engine-context';

/**
 * Returns the outcome that ends the job (mismatch → failed, cancel → cancelled), or null to go
 * on with the flash (match, nothing to compare with, no chip detected, esptool missing — the last
 * two with a WARNING line in the job's log).
 */
export async function verifyChipBeforeFlash(ctx: EngineContext, run: RunState): Promise<Outcome | null> {
  const { job } = run;
  const env = ctx.envFor(job);
  const expected = await readEspPlatform(storageJsonPath(resolveConfigPath(ctx.configDir, job.configuration), env));
  if (expected === null) return null; // never compiled: no compile-time truth to compare with
  if (run.procSignal.aborted) return { status: 'cancelled' };
  ctx.ingest(run, `INFO Verifying the chip on ${job.port} (expecting ${expected.toLowerCase()})...\n`, false);
  const res = await verifyChip({
    esptool: ctx.esptool,
    port: job.port,
    expectedPlatform: expected,
    env,
    signal: run.procSignal,
    terminateGraceMs: ctx.terminateGraceMs,
    drainMs: ctx.drainMs,
    timeoutMs: ctx.chipVerifyTimeoutMs,
  });
  switch (res.kind) {
    case 'interrupted':
      return { status: 'cancelled' };
    case 'match':
      ctx.ingest(run, `INFO Chip verified: ${res.detected} on ${job.port}\n`, false);
      return null;
    case 'mismatch':
      ctx.ingest(run, `ERROR ${res.message}\n`, false);
      return { status: 'failed', error: res.message };
    case 'undetected':
    case 'unavailable':
      ctx.ingest(run, `WARNING Chip verification skipped: ${res.reason}; flashing without it\n`, false);
      return null;
  }
}

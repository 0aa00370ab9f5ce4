// The remote-runner hook (firmware-jobs.md §10): a job with `source === 'remote'` is handed to the
// runner given at construction, with a context (ingest, progress reset, cancel and shutdown
// signals, tracked esphome runs for bundle and flash); its verdict is checked before the shared
// end-of-run bookkeeping uses it.
import { resolveConfigPath } from '../esphome/argv';
import { esphomeNotFoundMessage } from '../esphome/command';
import { runTracked, SpawnError, spawnReason } from '../esphome/tracked-process';
import type { EngineContext, Outcome, RunState } from './engine-context';
import { resetProgress } from './ingest';
import type { FirmwareJob } from './model';
import type { RemoteRunContext, RunEsphomeResult } from './remote';
import type { BundlePriority } from '../esphome/bundle-slots';

export const NO_REMOTE_RUNNER = 'remote build: no remote runner is registered (remote builds are not available in this process)';

const RESULT_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled', 'reroute']);

export async function runRemote(ctx: EngineContext, run: RunState): Promise<Outcome> {
  const runner = ctx.hooks.remoteRunner;
  if (!runner) return { status: 'failed', error: NO_REMOTE_RUNNER };
  const res: unknown = await runner(remoteContext(ctx, run));
  if (typeof res !== 'object' || res === null || !RESULT_STATUSES.has((res as { status?: unknown }).status as string)) {
    return { status: 'failed', error: `remote build: runner returned an invalid result (${JSON.stringify(res)})` };
  }
  const result = res as Outcome;
  // Only the build server's own cancel is the runner's to report; anything else is ignored.
  if (result.cancelledBy !== undefined && result.cancelledBy !== 'remote') return { ...result, cancelledBy: undefined };
  return result;
}

/** Bundle a queued remote job before its dispatch (no run, no events, no output; see RemotePreparerFn). */
export async function prepareRemote(ctx: EngineContext, job: FirmwareJob, signal: AbortSignal, priority: BundlePriority = 'ahead'): Promise<void> {
  const preparer = ctx.hooks.remotePreparer;
  if (!preparer || job.configuration === '') return;
  const yamlPath = resolveConfigPath(ctx.configDir, job.configuration);
  await preparer(
    {
      job,
      bus: ctx.bus,
      configDir: ctx.configDir,
      yamlPath,
      esphome: ctx.esphome,
      env: (extra) => ctx.envFor(job, extra),
      ingest: () => undefined,
      resetProgress: () => undefined,
      cancelRequested: () => ctx.cancelRequests.has(job.job_id),
      cancelSignal: signal,
      shutdownSignal: signal,
      runEsphome: () => Promise.reject(new Error('not available while preparing')),
    },
    signal,
    priority,
  );
}

function remoteContext(ctx: EngineContext, run: RunState): RemoteRunContext {
  const { job } = run;
  const yamlPath = job.configuration === '' ? '' : resolveConfigPath(ctx.configDir, job.configuration);
  return {
    job,
    bus: ctx.bus,
    configDir: ctx.configDir,
    yamlPath,
    esphome: ctx.esphome,
    env: (extra) => ctx.envFor(job, extra),
    ingest: (line) => ctx.ingest(run, line, false),
    resetProgress: () => {
      if (!run.finalized) resetProgress(job, ctx.bus);
    },
    cancelRequested: () => ctx.cancelRequests.has(job.job_id),
    cancelSignal: run.cancel.signal,
    shutdownSignal: run.shutdown.signal,
    runEsphome: async (args, opts = {}): Promise<RunEsphomeResult> => {
      if (run.procSignal.aborted || run.finalized) return { exitCode: null, signal: null, skipped: true };
      try {
        const res = await runTracked([...ctx.esphome, ...args], {
          env: ctx.envFor(job, opts.env),
          signal: run.procSignal,
          terminateGraceMs: ctx.terminateGraceMs,
          drainMs: ctx.drainMs,
          onChunk: (c) => ctx.ingest(run, c, false),
        });
        return { exitCode: res.exitCode, signal: res.signal, skipped: false };
      } catch (err) {
        if (err instanceof SpawnError) throw new Error(esphomeNotFoundMessage(ctx.esphome, spawnReason(err.code)));
        throw err;
      }
    },
  };
}

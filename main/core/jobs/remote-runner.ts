// The source-routed remote runner (firmware-jobs.md §10, upstream PR #560 + its install branch):
// a job with `source === 'remote'` is bundled here, submitted to the build server it is bound to
// over the live peer-link session, and the server's streamed output and verdict are translated
// into the same local bookkeeping a local compile produces. Install/upload jobs then download the
// artifacts and flash locally. Waiting is purely event-driven: a terminal frame, the session
// closing, or the job's cancel signal — never a poll.
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { esphomeArgs } from '../esphome/argv';
import type { PeerLinkEventMap } from '../events';
import type { FirmwareJob, JobType } from './model';
import { stripAnsi } from './progress';
import { bundleWithCli, sharedBundleCache } from './remote-bundle';
import type { RemoteRunContext, RemoteRunnerFn, RemoteRunResult, RunEsphomeResult } from './remote';

export { bundleWithCli, createRemotePreparer, sharedBundleCache } from './remote-bundle';

/** Job types a build server can take (§10 step 1). */
export const REMOTE_JOB_TYPES: ReadonlySet<JobType> = new Set(['compile', 'upload', 'install', 'clean']);

/** The live session surface the runner needs (a subset of the peer-link PeerSession). */
export interface RemoteSession {
  readonly pin: string;
  readonly closed: boolean;
}

export interface SubmitHeader {
  job_id: string;
  configuration_filename: string;
  target: 'compile' | 'clean';
  device_name: string;
  device_friendly_name: string;
  target_esphome_version: string;
}

export interface RemoteRunnerDeps<S extends RemoteSession = RemoteSession> {
  /** The open session for a pin; throws with a readable reason when there is none. */
  getSession(pin: string): S;
  /** Sends the header + chunks and resolves with the server's `submit_job_ack`. */
  submitJob(session: S, header: SubmitHeader, bundle: Buffer): Promise<{ accepted: boolean; reason?: string }>;
  /** Fire-and-forget wire `cancel_job`. */
  cancelJob(session: S, jobId: string): Promise<void>;
  downloadArtifacts(session: S, jobId: string): Promise<{ tarball: Buffer; firmwareOffset: string }>;
  /**
   * Stage the artifact tarball where esphome expects it in the local build tree (§10.1).
   * `deviceName`: the name the YAML declared when the job was submitted (what the build server
   * built, so what its storage.json must name); '' = read the YAML again.
   */
  materialiseArtifacts(a: { job: FirmwareJob; configDir: string; tarball: Buffer; signal: AbortSignal; deviceName: string }): Promise<void>;
  /** `esphome bundle`; default: the CLI through `runTracked` with a 60 s timeout. */
  buildBundle?(ctx: RemoteRunContext, signal: AbortSignal): Promise<Buffer>;
  /**
   * The names the configuration's YAML declares ("" when unreadable), read once per job: for the
   * submit header's display names and for the artifact check at the end.
   */
  deviceNames?(configuration: string): { device_name: string; device_friendly_name: string };
  /** Sent as `target_esphome_version` so a provisioning server can match it ("" = none). */
  localEsphomeVersion?(): string;
  /**
   * How long to wait for the server to confirm a wire cancel before ending the job cancelled
   * anyway (a hung server must not hold a Stop hostage). Default 15 s.
   */
  cancelConfirmTimeoutMs?: number;
  /** Bundle timeout, default 60 s (`_BUNDLE_BUILD_TIMEOUT_SECONDS`). */
  bundleTimeoutMs?: number;
}

export type RemoteOutcome =
  | { status: 'completed'; exitCode?: number | null }
  | { status: 'failed'; error: string; exitCode?: number | null; failureReason?: 'provision' }
  /** `by: 'remote'`: the build server ended it cancelled without a local cancel request. */
  | { status: 'cancelled'; error?: string; by?: 'remote' }
  /** Pool mode only: the session died mid-build; the dispatch pool re-routes the job. */
  | { status: 'server_lost'; reason: string; detail: string }
  /** Pool mode only: the server could not provision the esphome version; rebuild locally. */
  | { status: 'provision_failed'; error: string }
  /** Pool mode only: taken back from the server's queue before it started there; re-route. */
  | { status: 'withdrawn' };

/** Hooks the dispatch pool gives the runner for the jobs it dispatched (pool mode). */
export interface PoolRunnerHooks {
  isPoolJob(jobId: string): boolean;
  /**
   * The build server reported this job's build complete: its slot goes to the next job while
   * this one downloads and stages its artifacts.
   */
  buildFinished?(jobId: string): void;
  /** Counts a lost server for this job; `reroute: false` once the retry budget is spent. */
  serverLost(jobId: string): { reroute: boolean; count: number };
  /** The next dispatch of this job must build locally (provision failure). */
  forceLocal(jobId: string): void;
  /** The build server accepted the job (it waits in the server's queue until it starts there). */
  submitAccepted?(jobId: string): void;
  /** The build server reported the job `running`. */
  remoteStarted?(jobId: string): void;
  /**
   * Aborted when the pool takes a job submitted ahead back from a busy server's queue to give it
   * to a server that came free ("steal back"): the runner cancels it there and re-routes it.
   */
  withdrawSignal?(jobId: string): AbortSignal | undefined;
}

/** Thrown (never returned) on engine shutdown so the cancellation propagates after bookkeeping. */
export class RemoteRunnerShutdown extends Error {
  constructor() {
    super('runner shutdown');
    this.name = 'RemoteRunnerShutdown';
  }
}

export interface RunOptions {
  /** Dispatch-pool driver: session loss and provision failure become re-route outcomes. */
  poolMode?: boolean;
  /** Pool mode: the server's build completed; its slot is free before the artifacts are here. */
  buildFinished?: () => void;
  /** Pool mode: the server accepted the submit. */
  submitAccepted?: () => void;
  /** Pool mode: the server started the build. */
  remoteStarted?: () => void;
  /** Pool mode: take the job back while it still waits in the server's queue (see PoolRunnerHooks). */
  withdraw?: AbortSignal;
}

type StateFrame = PeerLinkEventMap['offloader_job_state_changed'];
type Lost = { reason: string; detail: string };

const PREFIX = 'remote build: ';
const DEFAULT_CANCEL_CONFIRM_MS = 15_000;

export function formatCloseReason(lost: Lost): string {
  return lost.detail ? `${lost.reason}: ${lost.detail}` : lost.reason;
}

/** The synthetic log line written when the session dies under a running build (§10 step 7). */
export function sessionClosedLine(lost: Lost, lastChunk: string | undefined): string {
  const needsBreak = lastChunk !== undefined && lastChunk !== '' && !/[\r\n]$/.test(lastChunk);
  return `${needsBreak ? '\n' : ''}*** remote build session closed (${formatCloseReason(lost)}); the build was aborted ***\n`;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A one-shot latch whose promise resolves with the first value it is given. */
class Latch<T> {
  value: T | undefined;
  fired = false;
  readonly promise: Promise<T>;
  private resolveFn!: (v: T) => void;
  constructor() {
    this.promise = new Promise<T>((r) => (this.resolveFn = r));
  }
  fire(v: T): void {
    if (this.fired) return;
    this.fired = true;
    this.value = v;
    this.resolveFn(v);
  }
}

function abortLatch(signal: AbortSignal | undefined): Latch<'abort'> {
  const l = new Latch<'abort'>();
  if (!signal) return l;
  if (signal.aborted) l.fire('abort');
  else signal.addEventListener('abort', () => l.fire('abort'), { once: true });
  return l;
}

/**
 * Runs one remote job to its outcome. Throws RemoteRunnerShutdown (after nothing else) when the
 * engine is shutting down; every other path returns an outcome.
 */
export async function runRemoteJob<S extends RemoteSession>(
  ctx: RemoteRunContext,
  deps: RemoteRunnerDeps<S>,
  opts: RunOptions = {},
): Promise<RemoteOutcome> {
  const { job, bus } = ctx;
  const poolMode = opts.poolMode === true;
  const pin = job.source_pin_sha256;

  // 1. Validation.
  if (!REMOTE_JOB_TYPES.has(job.job_type)) {
    return {
      status: 'failed',
      error: `${PREFIX}job type ${job.job_type.toUpperCase()} cannot run on a build server (only COMPILE, UPLOAD, INSTALL and CLEAN)`,
    };
  }
  if (!pin) return { status: 'failed', error: `${PREFIX}job has no source_pin_sha256: it is not bound to a build server` };

  // 2. Waiters. The cancel latch replays a cancel that was requested before we got here.
  const terminal = new Latch<StateFrame>();
  const sessionLost = new Latch<Lost>();
  const cancel = abortLatch(ctx.cancelSignal);
  if (ctx.cancelRequested()) cancel.fire('abort');
  const shutdown = abortLatch(ctx.shutdownSignal);
  const withdraw = abortLatch(opts.withdraw);
  let sessionArmed = false;
  const ours = (f: { pin: string; job_id: string }): boolean => f.pin === pin && f.job_id === job.job_id;

  // 3. Listeners attached before anything that can produce frames; released on every exit.
  return bus.listening(
    {
      offloader_job_output: (f) => {
        if (ours(f) && !terminal.fired) ctx.ingest(f.line);
      },
      offloader_job_state_changed: (f) => {
        if (!ours(f)) return;
        if (f.status === 'running') opts.remoteStarted?.();
        if (f.status === 'completed' || f.status === 'failed' || f.status === 'cancelled') terminal.fire(f);
      },
      peer_link_closed: (f) => {
        if (f.pin === pin && sessionArmed) sessionLost.fire({ reason: f.reason, detail: f.detail });
      },
    },
    async (): Promise<RemoteOutcome> => {
      const userCancelled = (): boolean => cancel.fired || ctx.cancelRequested();
      const shuttingDown = (): boolean => shutdown.fired;
      /** Failure path honouring "user intent wins". */
      const fail = (error: string, extra: Partial<Extract<RemoteOutcome, { status: 'failed' }>> = {}): RemoteOutcome => {
        if (shuttingDown()) throw new RemoteRunnerShutdown();
        if (userCancelled()) return { status: 'cancelled' };
        return { status: 'failed', error, ...extra };
      };
      const cancelledNow = (): RemoteOutcome => {
        if (shuttingDown()) throw new RemoteRunnerShutdown();
        return { status: 'cancelled' };
      };
      /** Races work against cancel / shutdown; a lost race leaves `work` running unobserved. */
      const untilInterrupted = async <T>(work: Promise<T>): Promise<{ ok: T } | { interrupted: true }> => {
        work.catch(() => undefined);
        const r = await Promise.race([
          work.then((v) => ({ ok: v })),
          cancel.promise.then(() => ({ interrupted: true }) as const),
          shutdown.promise.then(() => ({ interrupted: true }) as const),
        ]);
        return r;
      };

      if (shuttingDown()) throw new RemoteRunnerShutdown();
      if (userCancelled()) return cancelledNow();

      // 4. Bundle.
      const yamlPath = ctx.yamlPath;
      try {
        await stat(yamlPath);
      } catch {
        return fail(`${PREFIX}configuration not found: ${job.configuration}`);
      }
      const interruptCtl = new AbortController();
      const onInterrupt = (): void => interruptCtl.abort();
      void cancel.promise.then(onInterrupt);
      void shutdown.promise.then(onInterrupt);
      let bundle: Buffer;
      try {
        const build = deps.buildBundle ? deps.buildBundle(ctx, interruptCtl.signal) : bundleWithCli(ctx, interruptCtl.signal, deps.bundleTimeoutMs, sharedBundleCache, deps.localEsphomeVersion?.() ?? '');
        const r = await untilInterrupted(build);
        if ('interrupted' in r) return cancelledNow();
        bundle = r.ok;
      } catch (err) {
        // esphome's colours (`--dashboard` turns ESC into a literal `\033`) do not belong in the job's error text.
        const msg = stripAnsi(errText(err));
        return fail(`${PREFIX}${/^(bundle failed|configuration not found)/.test(msg) ? msg : `bundle failed: ${msg}`}`);
      }
      if (shuttingDown()) throw new RemoteRunnerShutdown();
      if (userCancelled()) return cancelledNow();

      // 5. Session lookup.
      let session: S;
      try {
        session = deps.getSession(pin);
        if (session.closed) throw new Error('the peer-link session is closed');
      } catch (err) {
        // Pool mode: the server went away between the pool's choice and now; another one takes it.
        if (poolMode && !userCancelled() && !shuttingDown()) return { status: 'server_lost', reason: 'not connected', detail: errText(err) };
        return fail(`${PREFIX}receiver not reachable: ${errText(err)}`);
      }
      sessionArmed = true;

      // 6. Submit with the job's own id (the server echoes it on every frame).
      // One read and parse of the device YAML for both names (it was read and parsed twice).
      const names = deps.deviceNames?.(job.configuration);
      const header: SubmitHeader = {
        job_id: job.job_id,
        configuration_filename: basename(job.configuration),
        target: job.job_type === 'clean' ? 'clean' : 'compile',
        device_name: names?.device_name ?? '',
        device_friendly_name: names?.device_friendly_name ?? '',
        target_esphome_version: deps.localEsphomeVersion?.() ?? '',
      };
      const submit = deps.submitJob(session, header, bundle);
      let ack: { accepted: boolean; reason?: string };
      try {
        const r = await untilInterrupted(submit);
        if ('interrupted' in r) {
          // The bundle may already be on the server: once it acks, cancel it there too. Aborting
          // the chunk stream instead would leave the session's submit slot wedged.
          if (!shuttingDown()) {
            void submit.then((a) => (a.accepted && !session.closed ? deps.cancelJob(session, job.job_id) : undefined)).catch(() => undefined);
          }
          return cancelledNow();
        }
        ack = r.ok;
      } catch (err) {
        if (sessionLost.fired && poolMode && !userCancelled() && !shuttingDown()) return { status: 'server_lost', ...sessionLost.value! };
        return fail(`${PREFIX}dispatch failed: ${errText(err)}`);
      }
      if (!ack.accepted) return fail(`${PREFIX}receiver rejected job: ${ack.reason ?? 'no reason given'}`);
      opts.submitAccepted?.();

      // 7. Wait for terminal / session lost / cancel / shutdown.
      const lostOutcome = (lost: Lost): RemoteOutcome => {
        if (shuttingDown()) throw new RemoteRunnerShutdown();
        if (userCancelled()) return { status: 'cancelled' };
        if (poolMode) return { status: 'server_lost', ...lost };
        ctx.ingest(sessionClosedLine(lost, job.output[job.output.length - 1]));
        return { status: 'failed', error: `${PREFIX}peer-link session lost (${formatCloseReason(lost)})` };
      };
      let first = await Promise.race([
        terminal.promise.then((f) => ({ kind: 'terminal' as const, f })),
        sessionLost.promise.then((l) => ({ kind: 'lost' as const, l })),
        cancel.promise.then(() => ({ kind: 'cancel' as const })),
        shutdown.promise.then(() => ({ kind: 'shutdown' as const })),
        withdraw.promise.then(() => ({ kind: 'withdraw' as const })),
      ]);
      if (first.kind === 'withdraw') {
        const w = await withdrawFromServer(session);
        if (w === 'withdrawn') return { status: 'withdrawn' };
        first = w;
      }
      // A terminal frame that landed in the same turn as a cancel still loses to the cancel.
      if (first.kind === 'shutdown') throw new RemoteRunnerShutdown();
      if (first.kind === 'lost' && !terminal.fired) return lostOutcome(first.l);
      if (first.kind === 'cancel' || (userCancelled() && !terminal.fired)) {
        return awaitCancelConfirmation(session);
      }
      const frame = terminal.value!;
      if (userCancelled()) return { status: 'cancelled' };
      if (frame.status === 'cancelled') return { status: 'cancelled', by: 'remote', ...(frame.error_message ? { error: frame.error_message } : {}) };
      if (frame.status === 'failed') {
        if (frame.failure_reason === 'provision') {
          job.failure_reason = 'provision';
          if (poolMode) return { status: 'provision_failed', error: frame.error_message || 'could not provision esphome' };
        }
        return { status: 'failed', error: frame.error_message || 'compile failed', ...(frame.failure_reason === 'provision' ? { failureReason: 'provision' as const } : {}) };
      }

      // 9. Completed: the server's slot is free now; the download overlaps its next build.
      opts.buildFinished?.();
      if (job.job_type === 'clean') return { status: 'completed', exitCode: 0 };
      let tarball: Buffer;
      try {
        const r = await untilInterrupted(raceLost(deps.downloadArtifacts(session, job.job_id)));
        if ('interrupted' in r) return cancelledNow();
        tarball = r.ok.tarball;
      } catch (err) {
        // The compile finished but its output is unreachable: in the pool that is a lost server.
        if (sessionLost.fired && poolMode && !userCancelled() && !shuttingDown()) return { status: 'server_lost', ...sessionLost.value! };
        return fail(`${PREFIX}artifact download failed: ${errText(err)}`);
      }
      try {
        const r = await untilInterrupted(deps.materialiseArtifacts({ job, configDir: ctx.configDir, tarball, signal: interruptCtl.signal, deviceName: names?.device_name ?? '' }));
        if ('interrupted' in r) return cancelledNow();
      } catch (err) {
        return fail(`${PREFIX}could not stage the build artifacts: ${errText(err)}`);
      }
      if (shuttingDown()) throw new RemoteRunnerShutdown();
      if (userCancelled()) return cancelledNow();
      if (job.job_type === 'compile') return { status: 'completed', exitCode: 0 };

      // Upload / install: flash locally, a new progress phase.
      ctx.resetProgress();
      if (userCancelled()) return cancelledNow();
      let result: RunEsphomeResult;
      try {
        result = await ctx.runEsphome(localUploadArgs(job, yamlPath));
      } catch (err) {
        return fail(`${PREFIX}local upload failed: ${errText(err)}`);
      }
      if (shuttingDown()) throw new RemoteRunnerShutdown();
      if (userCancelled() || result.skipped) return cancelledNow();
      if (result.exitCode === 0) return { status: 'completed', exitCode: 0 };
      const code = result.exitCode ?? (result.signal ? `signal ${result.signal}` : 'unknown');
      return fail(`${PREFIX}local upload failed (exit ${code})`, { exitCode: result.exitCode });

      /** Makes a pending request fail as soon as the session dies. */
      function raceLost<T>(p: Promise<T>): Promise<T> {
        return Promise.race([
          p,
          sessionLost.promise.then((l) => {
            throw new Error(`peer-link session lost (${formatCloseReason(l)})`);
          }),
        ]);
      }

      /**
       * Steal back: one wire cancel_job, then the first of terminal / session lost / a user
       * cancel / shutdown. Cancelled there (or the server gone, or no answer) → 'withdrawn'; a
       * build that finished anyway goes on as a normal terminal frame.
       */
      async function withdrawFromServer(s: S): Promise<'withdrawn' | { kind: 'terminal'; f: StateFrame } | { kind: 'cancel' } | { kind: 'shutdown' }> {
        if (terminal.fired) return { kind: 'terminal', f: terminal.value! };
        if (s.closed || sessionLost.fired) return 'withdrawn';
        try {
          await deps.cancelJob(s, job.job_id);
        } catch {
          return 'withdrawn';
        }
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), deps.cancelConfirmTimeoutMs ?? DEFAULT_CANCEL_CONFIRM_MS);
          timer.unref?.();
        });
        try {
          const r = await Promise.race([terminal.promise, sessionLost.promise.then(() => 'lost' as const), shutdown.promise.then(() => 'shutdown' as const), timeout]);
          if (r === 'shutdown') return { kind: 'shutdown' };
          // A user cancel meanwhile: our cancel_job is already on its way; the job ends cancelled.
          if (userCancelled()) return 'withdrawn';
          if (typeof r === 'object' && r.status !== 'cancelled') return { kind: 'terminal', f: r };
          return 'withdrawn';
        } finally {
          clearTimeout(timer);
        }
      }

      /** Cancel: exactly one wire cancel_job, then whichever of terminal / session lost comes first. */
      async function awaitCancelConfirmation(s: S): Promise<RemoteOutcome> {
        if (s.closed || sessionLost.fired) return cancelledNow();
        try {
          await deps.cancelJob(s, job.job_id);
        } catch {
          return cancelledNow();
        }
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((r) => {
          timer = setTimeout(r, deps.cancelConfirmTimeoutMs ?? DEFAULT_CANCEL_CONFIRM_MS);
          timer.unref?.();
        });
        try {
          await Promise.race([terminal.promise, sessionLost.promise, shutdown.promise, timeout]);
        } finally {
          clearTimeout(timer);
        }
        return cancelledNow();
      }
    },
  );
}

/** argv after the esphome prefix for the local flash step of a remote install/upload. */
export function localUploadArgs(job: FirmwareJob, yamlPath: string): string[] {
  return esphomeArgs({ command: 'upload', yamlPath, port: job.port, bootloader: job.flash_bootloader });
}

/** The log line (and the row's history, via failure-summary's MOVE_RE) when a server dies mid-build. */
export function serverLostNotice(reason: string, label = 'the build server'): string {
  return `\n*** Lost ${label} mid-build (${reason}) — building it again on the next free build server or this computer ***\n`;
}

/**
 * The engine's RemoteRunnerFn: runs the job (pool mode when the pool dispatched it) and maps the
 * outcome onto the engine's result, turning pool-only outcomes into re-routes.
 */
export function createRemoteRunner<S extends RemoteSession>(deps: RemoteRunnerDeps<S>, pool?: PoolRunnerHooks): RemoteRunnerFn {
  return async (ctx: RemoteRunContext): Promise<RemoteRunResult> => {
    const id = ctx.job.job_id;
    const poolMode = pool?.isPoolJob(id) ?? false;
    const out = await runRemoteJob(ctx, deps, {
      poolMode,
      buildFinished: poolMode && pool?.buildFinished ? () => pool.buildFinished!(id) : undefined,
      submitAccepted: poolMode && pool?.submitAccepted ? () => pool.submitAccepted!(id) : undefined,
      remoteStarted: poolMode && pool?.remoteStarted ? () => pool.remoteStarted!(id) : undefined,
      withdraw: poolMode ? pool?.withdrawSignal?.(id) : undefined,
    });
    switch (out.status) {
      case 'completed':
        return { status: 'completed', exitCode: out.exitCode ?? 0 };
      case 'cancelled':
        return { status: 'cancelled', error: out.error ?? null, ...(out.by ? { cancelledBy: out.by } : {}) };
      case 'failed':
        return { status: 'failed', error: out.error, exitCode: out.exitCode, failureReason: out.failureReason ?? '' };
      case 'server_lost': {
        const reason = formatCloseReason(out);
        const verdict = pool!.serverLost(id);
        if (verdict.reroute) {
          ctx.ingest(serverLostNotice(reason, ctx.job.source_label || undefined));
          return { status: 'reroute' };
        }
        ctx.ingest(sessionClosedLine(out, ctx.job.output[ctx.job.output.length - 1]));
        return { status: 'failed', error: `${PREFIX}lost ${ctx.job.source_label || 'the build server'} mid-build ${verdict.count}x (${reason})` };
      }
      case 'provision_failed':
        ctx.ingest(`\n*** build server could not provision this ESPHome version (${out.error}); rebuilding locally ***\n`);
        pool!.forceLocal(id);
        return { status: 'reroute' };
      case 'withdrawn':
        // A user cancel that crossed the withdrawal wins: the engine ends it cancelled.
        if (ctx.cancelRequested()) return { status: 'cancelled' };
        ctx.ingest(`INFO Kiln: ${ctx.job.source_label || 'the build server'} had not started it yet; moving it to a build server that is free now\n`);
        return { status: 'reroute' };
    }
  };
}

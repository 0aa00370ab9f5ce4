// Bundling for remote builds: `esphome bundle` through the shared CLI driver, the process-wide
// bundle cache, and the dispatch pool's bundling ahead (a waiting job's bundle made while the
// servers build, so its dispatch sends it without a spawn). See bundle-cache.ts for what a cached
// bundle must still match. Every spawn takes one of the process's bundle slots (bundle-slots.ts):
// a bound job's bundle before one made ahead.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { BUNDLE_TIMEOUT_MS, BundleError, buildBundle } from '../esphome/bundle';
import { BundleCache, bundleCacheKey } from '../esphome/bundle-cache';
import { BundleSlots, type BundlePriority } from '../esphome/bundle-slots';
import { SpawnError } from '../esphome/tracked-process';
import { raceAbort } from '../race-abort';
import type { RemotePreparerFn, RemoteRunContext } from './remote';

/** The bundle step's options (a subset of RemoteRunnerDeps). */
export interface BundleDeps {
  buildBundle?(ctx: RemoteRunContext, signal: AbortSignal): Promise<Buffer>;
  bundleTimeoutMs?: number;
  localEsphomeVersion?(): string;
}

/** One per process: an unchanged configuration is not bundled again (see bundle-cache.ts). */
export const sharedBundleCache = new BundleCache();

/** One per process: how many `esphome bundle` run at once, bound jobs first (see bundle-slots.ts). */
export const sharedBundleSlots = new BundleSlots();

/** A bundle made before its run: the archive and whether it came from the cache, or why it failed. */
type Prepared = { bytes: Buffer; fromCache: boolean } | { error: unknown };

/**
 * Bundles being made ahead, while their job waits (cache key → result, and the raise of its slot
 * request to "now"): a run of the same configuration waits for it instead of spawning a second
 * one, then takes it through the cache's checks (it may be from long before).
 */
const bundlesAhead = new Map<string, { result: Promise<Prepared>; promote: () => void }>();

/**
 * Bundles started the moment the pool bound their job (job id → result): that job's run takes
 * the bytes as they are. Dropped when taken, when the job is cancelled, or after FOR_RUN_KEEP_MS.
 */
const bundlesForRun = new Map<string, Promise<Prepared>>();
const FOR_RUN_KEEP_MS = 60_000;

const bundleCancelled = (): Error => new BundleError('cancelled', 'bundle cancelled');

/** `work` in one of the slots; a wait for a slot ended by `signal` is a cancelled bundle. */
async function inSlot<T>(
  slots: BundleSlots,
  work: () => Promise<T>,
  priority: BundlePriority,
  signal: AbortSignal,
  onQueued?: (promote: () => void) => void,
): Promise<T> {
  const slot = slots.run(work, priority, signal);
  onQueued?.(slot.promote);
  try {
    return await slot.done;
  } catch (err) {
    if (signal.aborted && err === signal.reason) throw bundleCancelled();
    throw err;
  }
}

/** `esphome bundle` into a temporary folder (removed after): the bytes and the CLI's output. */
async function spawnBundle(ctx: RemoteRunContext, signal: AbortSignal, timeoutMs: number): Promise<{ bytes: Buffer; output: string; startedAt: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bundle-'));
  try {
    const startedAt = Date.now();
    let output = '';
    const stem = basename(ctx.yamlPath).replace(/\.ya?ml$/i, '');
    const bytes = await buildBundle(ctx.esphome, ctx.yamlPath, join(dir, `${stem}.esphomebundle.tar.gz`), {
      signal,
      env: ctx.env(),
      timeoutMs,
      onOutput: (text) => (output = text),
    });
    return { bytes, output, startedAt };
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The dispatch pool's bundling before a run: `esphome bundle` for a pending job, into the cache
 * and, for a job just bound (`now`), handed to its run. `ahead` waits behind every `now`; a `now`
 * for a configuration already being bundled ahead raises that one instead. Nothing is prepared
 * when the esphome version is unknown (no cache key) or the bundle step is replaced.
 */
export function createRemotePreparer(deps: BundleDeps, cache: BundleCache = sharedBundleCache, slots: BundleSlots = sharedBundleSlots): RemotePreparerFn {
  return async (ctx, signal, priority = 'ahead') => {
    if (deps.buildBundle) return;
    const key = bundleCacheKey(ctx.esphome, deps.localEsphomeVersion?.() ?? '', ctx.yamlPath, ctx.env());
    if (!key || !existsSync(ctx.yamlPath)) return;
    const ahead = bundlesAhead.get(key);
    if (ahead) {
      if (priority === 'now') ahead.promote();
      return;
    }
    // Raised before its slot was even asked for (while the cache was checked): ask as "now".
    let raised = false;
    let promote = (): void => void (raised = true);
    const result = (async (): Promise<Prepared> => {
      const cached = await cache.get(key);
      if (cached) return { bytes: cached, fromCache: true };
      const made = await inSlot(slots, () => spawnBundle(ctx, signal, deps.bundleTimeoutMs ?? BUNDLE_TIMEOUT_MS), raised ? 'now' : priority, signal, (p) => (promote = p));
      const put = cache.put(key, ctx.yamlPath, made.bytes, made.output, made.startedAt).catch(() => false);
      // A bundle made ahead reaches its run through the cache: in it before it counts as done. A
      // bound job's run takes the bytes: hashing the sources for the cache is not on its way.
      if (priority === 'ahead') await put;
      return { bytes: made.bytes, fromCache: false };
    })().catch((error: unknown): Prepared => ({ error }));
    if (priority === 'now') {
      const id = ctx.job.job_id;
      bundlesForRun.set(id, result);
      const drop = (): void => {
        if (bundlesForRun.get(id) === result) bundlesForRun.delete(id);
      };
      signal.addEventListener('abort', drop, { once: true });
      setTimeout(drop, FOR_RUN_KEEP_MS).unref();
      await result;
      return;
    }
    const entry = { result, promote: (): void => promote() };
    bundlesAhead.set(key, entry);
    try {
      await result;
    } finally {
      if (bundlesAhead.get(key) === entry) bundlesAhead.delete(key);
    }
  };
}

/**
 * `esphome bundle <abs yaml> -o <tmp>.tar.gz` through the shared CLI driver (own process group,
 * closed stdin, 60 s timeout): the archive bytes, or `bundle failed: <CLI output>`. A bundle the
 * pool started when it bound this job is taken as it is; one being made ahead for the same
 * configuration is waited for and then served through the cache.
 */
export async function bundleWithCli(
  ctx: RemoteRunContext,
  signal: AbortSignal,
  timeoutMs = BUNDLE_TIMEOUT_MS,
  cache: BundleCache | null = sharedBundleCache,
  esphomeVersion = '',
  slots: BundleSlots = sharedBundleSlots,
): Promise<Buffer> {
  const forRun = bundlesForRun.get(ctx.job.job_id);
  if (forRun) {
    bundlesForRun.delete(ctx.job.job_id);
    const made = await raceAbort(forRun, signal, bundleCancelled);
    if ('bytes' in made) {
      if (made.fromCache) ctx.ingest(UNCHANGED_NOTICE);
      return made.bytes;
    }
    // Its failure is this run's own; a cancelled one is not (this run bundles itself).
    if (!(made.error instanceof BundleError && made.error.kind === 'cancelled')) throw asBundleFailure(made.error);
  }
  const env = ctx.env();
  // No version known → no key → never cached (bundle-cache.ts).
  const key = bundleCacheKey(ctx.esphome, esphomeVersion, ctx.yamlPath, env);
  // Being bundled ahead right now: that bundle is this one (no second spawn), and this job is
  // bound to a server now, so it no longer waits behind other bundles made ahead.
  const ahead = key && cache ? bundlesAhead.get(key) : undefined;
  if (ahead) {
    ahead.promote();
    await raceAbort(ahead.result, signal, bundleCancelled);
  }
  const cached = cache && key && existsSync(ctx.yamlPath) ? await cache.get(key) : undefined;
  if (cached) {
    ctx.ingest(UNCHANGED_NOTICE);
    return cached;
  }
  try {
    const made = await inSlot(slots, () => spawnBundle(ctx, signal, timeoutMs), 'now', signal);
    // Remembering it hashes every source file again: not on the way to the build server.
    if (key) void cache?.put(key, ctx.yamlPath, made.bytes, made.output, made.startedAt).catch(() => undefined);
    return made.bytes;
  } catch (err) {
    throw asBundleFailure(err);
  }
}

const UNCHANGED_NOTICE = 'INFO Kiln: configuration unchanged since its last bundle; sending that bundle again\n';

/** A CLI that cannot be started is a failed bundle, in the words the job shows. */
function asBundleFailure(err: unknown): unknown {
  return err instanceof SpawnError ? new Error(`bundle failed: ${err.message}`) : err;
}

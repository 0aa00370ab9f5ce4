// Bundling for remote builds: `esphome bundle` through the shared CLI driver, the process-wide
// bundle cache, and the dispatch pool's bundling ahead (a waiting job's bundle made while the
// servers build, so its dispatch sends it without a spawn). See bundle-cache.ts for what a cached
// bundle must still match.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { BUNDLE_TIMEOUT_MS, buildBundle } from '../esphome/bundle';
import { BundleCache, bundleCacheKey } from '../esphome/bundle-cache';
import { SpawnError } from '../esphome/tracked-process';
import type { RemotePreparerFn, RemoteRunContext } from './remote';

/** The bundle step's options (a subset of RemoteRunnerDeps). */
export interface BundleDeps {
  buildBundle?(ctx: RemoteRunContext, signal: AbortSignal): Promise<Buffer>;
  bundleTimeoutMs?: number;
  localEsphomeVersion?(): string;
}

/** One per process: an unchanged configuration is not bundled again (see bundle-cache.ts). */
export const sharedBundleCache = new BundleCache();

/** Bundles being made ahead (cache key → done): a run of the same configuration waits for it. */
const bundlesAhead = new Map<string, Promise<void>>();

/**
 * The dispatch pool's bundling ahead: `esphome bundle` for a waiting job, into the cache its run
 * reads when it is dispatched. Nothing is cached (so nothing is prepared) when the esphome
 * version is unknown or the bundle step is replaced (`deps.buildBundle`).
 */
export function createRemotePreparer(deps: BundleDeps, cache: BundleCache = sharedBundleCache): RemotePreparerFn {
  return async (ctx, signal) => {
    if (deps.buildBundle) return;
    const key = bundleCacheKey(ctx.esphome, deps.localEsphomeVersion?.() ?? '', ctx.yamlPath, ctx.env());
    if (!key || bundlesAhead.has(key) || !existsSync(ctx.yamlPath)) return;
    const work = (async () => {
      if (await cache.get(key)) return;
      const dir = await mkdtemp(join(tmpdir(), 'kiln-bundle-'));
      try {
        const startedAt = Date.now();
        let output = '';
        const stem = basename(ctx.yamlPath).replace(/\.ya?ml$/i, '');
        const env = ctx.env();
        const bundle = await buildBundle(ctx.esphome, ctx.yamlPath, join(dir, `${stem}.esphomebundle.tar.gz`), {
          signal,
          env,
          timeoutMs: deps.bundleTimeoutMs ?? BUNDLE_TIMEOUT_MS,
          onOutput: (text) => (output = text),
        });
        await cache.put(key, ctx.yamlPath, bundle, output, startedAt);
      } finally {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
    })();
    bundlesAhead.set(key, work.catch(() => undefined));
    try {
      await work;
    } finally {
      bundlesAhead.delete(key);
    }
  };
}

/**
 * `esphome bundle <abs yaml> -o <tmp>.tar.gz` through the shared CLI driver (own process group,
 * closed stdin, 60 s timeout): the archive bytes, or `bundle failed: <CLI output>`.
 */
export async function bundleWithCli(
  ctx: RemoteRunContext,
  signal: AbortSignal,
  timeoutMs = BUNDLE_TIMEOUT_MS,
  cache: BundleCache | null = sharedBundleCache,
  esphomeVersion = '',
): Promise<Buffer> {
  const env = ctx.env();
  // No version known → no key → never cached (bundle-cache.ts).
  const key = bundleCacheKey(ctx.esphome, esphomeVersion, ctx.yamlPath, env);
  // Being bundled ahead right now: that bundle is this one (no second spawn).
  const ahead = key && cache ? bundlesAhead.get(key) : undefined;
  if (ahead) await ahead;
  const cached = cache && key && existsSync(ctx.yamlPath) ? await cache.get(key) : undefined;
  if (cached) {
    ctx.ingest('INFO Kiln: configuration unchanged since its last bundle; sending that bundle again\n');
    return cached;
  }
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bundle-'));
  const stem = basename(ctx.yamlPath).replace(/\.ya?ml$/i, '');
  try {
    const startedAt = Date.now();
    let output = '';
    const bundle = await buildBundle(ctx.esphome, ctx.yamlPath, join(dir, `${stem}.esphomebundle.tar.gz`), {
      signal,
      env,
      timeoutMs,
      onOutput: (text) => (output = text),
    });
    // Remembering it hashes every source file again: not on the way to the build server.
    if (key) void cache?.put(key, ctx.yamlPath, bundle, output, startedAt).catch(() => undefined);
    return bundle;
  } catch (err) {
    if (err instanceof SpawnError) throw new Error(`bundle failed: ${err.message}`);
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}


// `esphome bundle <abs yaml> -o <out>` (esphome-cli.md §1.3; firmware-jobs.md §10 step 4): the
// offloader packs a configuration for a build server. Output is collected for the error text.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { esphomeArgv, esphomeEnv } from './argv';
import { runTracked } from './tracked-process';

export const BUNDLE_TIMEOUT_MS = 60_000;

export type BundleErrorKind = 'not_found' | 'failed' | 'timeout' | 'cancelled';

export class BundleError extends Error {
  constructor(
    readonly kind: BundleErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'BundleError';
  }
}

export interface BuildBundleOptions {
  signal?: AbortSignal;
  env?: Record<string, string>;
  timeoutMs?: number;
  terminateGraceMs?: number;
  /** Receives the CLI's merged output after a successful run (the cache looks for warnings). */
  onOutput?: (text: string) => void;
}

/**
 * Builds the bundle and returns its bytes. Throws `BundleError` (`configuration not found: …`,
 * `bundle failed: <output>`, timeout, cancelled) or `SpawnError` when esphome cannot be started.
 */
export async function buildBundle(
  esphome: readonly string[],
  yamlAbsPath: string,
  outPath: string,
  opts: BuildBundleOptions = {},
): Promise<Buffer> {
  if (!existsSync(yamlAbsPath)) throw new BundleError('not_found', `configuration not found: ${yamlAbsPath}`);
  if (opts.signal?.aborted) throw new BundleError('cancelled', 'bundle cancelled');
  await mkdir(dirname(outPath), { recursive: true });
  const output: string[] = [];
  const res = await runTracked(esphomeArgv(esphome, { command: 'bundle', yamlPath: yamlAbsPath, outPath }), {
    env: opts.env ?? esphomeEnv(),
    signal: opts.signal,
    timeoutMs: opts.timeoutMs ?? BUNDLE_TIMEOUT_MS,
    terminateGraceMs: opts.terminateGraceMs,
    onChunk: (c) => output.push(c),
  });
  if (opts.signal?.aborted) throw new BundleError('cancelled', 'bundle cancelled');
  if (res.timedOut) throw new BundleError('timeout', `bundle failed: timed out after ${Math.round((opts.timeoutMs ?? BUNDLE_TIMEOUT_MS) / 1000)} s`);
  if (res.exitCode !== 0) {
    const text = output.join('').trim();
    throw new BundleError('failed', `bundle failed: ${text || `exit ${res.exitCode ?? res.signal}`}`);
  }
  const bytes = await readFile(outPath);
  opts.onOutput?.(output.join(''));
  return bytes;
}

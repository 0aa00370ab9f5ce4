// Receiver workspaces: `<dataDir>/remote_builds/<sender key>/<device>/` holds a sender's
// extracted bundle (the key is `senderKey(dashboard_id, pin)`, filename.ts);
// `<dataDir>/remote_builds/<sender key>/.esphome` is that sender's
// ESPHOME_DATA_DIR (storage/, idedata/, build/), so build caches are isolated per offloader
// (peer-link-protocol.md §9.5) and removed together by the TTL sweep.
import { lstat, readdir, rm, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { STAGING_DIR } from './bundle-extract';
import { deviceDirName } from './filename';

export const REMOTE_BUILDS_DIR = 'remote_builds';
export const SENDER_DATA_DIR = '.esphome';

export const CLEANUP_TTL_DEFAULT_SECONDS = 86_400;
export const CLEANUP_TTL_MIN_SECONDS = 3_600;
export const CLEANUP_TTL_MAX_SECONDS = 2_592_000;

export function remoteBuildsRoot(dataDir: string): string {
  return resolve(dataDir, REMOTE_BUILDS_DIR);
}

/** `key` is the sender's `senderKey(dashboard_id, pin)`. */
export function senderWorkspace(dataDir: string, key: string): string {
  return join(remoteBuildsRoot(dataDir), key);
}

/** ESPHOME_DATA_DIR for every build of this sender. */
export function senderEsphomeDataDir(dataDir: string, key: string): string {
  return join(senderWorkspace(dataDir, key), SENDER_DATA_DIR);
}

export function deviceWorkspace(dataDir: string, key: string, configurationFilename: string): string {
  return join(senderWorkspace(dataDir, key), deviceDirName(configurationFilename));
}

/** §15 receiver setting `cleanup_ttl_seconds`: default 86400, clamped to 3600..2592000. */
export function clampCleanupTtlSeconds(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return CLEANUP_TTL_DEFAULT_SECONDS;
  return Math.min(CLEANUP_TTL_MAX_SECONDS, Math.max(CLEANUP_TTL_MIN_SECONDS, Math.round(value)));
}

/** Marks a sender workspace as used now (the sweep keys on the directory's mtime). */
export async function touchWorkspace(dir: string, now: Date = new Date()): Promise<void> {
  await utimes(dir, now, now).catch(() => undefined);
}

export interface SweepOptions {
  ttlMs: number;
  now?: number;
  /** Sender directory names that must survive (an extract or job in progress). */
  isBusy?: (senderDir: string) => boolean;
}

/**
 * Removes sender workspaces whose directory was not touched for longer than the TTL, plus
 * staging leftovers of a crashed extract. Returns the removed paths.
 */
export async function sweepWorkspaces(root: string, opts: SweepOptions): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return removed;
  }
  for (const name of names) {
    const path = join(root, name);
    const st = await lstat(path).catch(() => null);
    if (!st) continue;
    if (name === STAGING_DIR) {
      for (const leftover of await readdir(path).catch(() => [] as string[])) {
        const lp = join(path, leftover);
        const lst = await lstat(lp).catch(() => null);
        if (lst && now - lst.mtimeMs > CLEANUP_TTL_MIN_SECONDS * 1000) {
          await rm(lp, { recursive: true, force: true });
          removed.push(lp);
        }
      }
      continue;
    }
    if (now - st.mtimeMs <= opts.ttlMs) continue;
    if (opts.isBusy?.(name)) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

export interface SweeperOptions {
  root: string;
  ttlSeconds?: number;
  /** How often to sweep; default one hour. */
  intervalMs?: number;
  isBusy?: (senderDir: string) => boolean;
  onSwept?: (removed: string[]) => void;
}

export class WorkspaceSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<string[]> | null = null;
  ttlSeconds: number;

  constructor(private readonly opts: SweeperOptions) {
    this.ttlSeconds = clampCleanupTtlSeconds(opts.ttlSeconds ?? CLEANUP_TTL_DEFAULT_SECONDS);
  }

  start(): void {
    if (this.timer) return;
    void this.sweepNow();
    this.timer = setInterval(() => void this.sweepNow(), this.opts.intervalMs ?? 3_600_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sweepNow(now?: number): Promise<string[]> {
    if (this.running) return this.running;
    this.running = sweepWorkspaces(this.opts.root, { ttlMs: this.ttlSeconds * 1000, now, isBusy: this.opts.isBusy })
      .then((removed) => {
        if (removed.length) this.opts.onSwept?.(removed);
        return removed;
      })
      .catch(() => [] as string[])
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}

export interface WorkspaceUsage {
  /** Bytes of regular files under the root (staging included). */
  total: number;
  /** Per top-level directory (sender workspaces): bytes and the directory's mtime. */
  dirs: Map<string, { bytes: number; mtimeMs: number }>;
}

/** Bytes of every regular file below `dir` (symlinks not followed). */
export async function treeBytes(dir: string): Promise<number> {
  let sum = 0;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const p = join(dir, name);
    const st = await lstat(p).catch(() => null);
    if (!st) continue;
    if (st.isDirectory()) sum += await treeBytes(p);
    else if (st.isFile()) sum += st.size;
  }
  return sum;
}

/** Disk use of the remote-build root, per sender workspace (for the quota, oldest-first sweep). */
export async function workspaceUsage(root: string): Promise<WorkspaceUsage> {
  const dirs = new Map<string, { bytes: number; mtimeMs: number }>();
  let total = 0;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const p = join(root, name);
    const st = await lstat(p).catch(() => null);
    if (!st) continue;
    const bytes = st.isDirectory() ? await treeBytes(p) : st.isFile() ? st.size : 0;
    total += bytes;
    if (st.isDirectory()) dirs.set(name, { bytes, mtimeMs: st.mtimeMs });
  }
  return { total, dirs };
}

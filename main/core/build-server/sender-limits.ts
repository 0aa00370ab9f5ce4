// A build server's limits per sender and in total (issue 11, defect 7): a paired sender must not
// be able to fill the build server's memory or disk. Over a limit a submit is answered
// `submit_job_ack{accepted:false, reason:"queue_rejected"}`; the workspace quota first removes
// idle workspaces of other senders, oldest first. Measuring the workspaces walks every file
// below them (the build trees too: tens of ms here, seconds on a server with real PlatformIO
// trees), so a recent measurement is reused while it leaves a clear margin under the quota.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isSenderKey } from './filename';
import type { SubmitReason } from './frame-parse';
import { workspaceUsage } from './workspace';

export const DEFAULT_MAX_QUEUED_JOBS_PER_SENDER = 16;
export const DEFAULT_MAX_BYTES_PER_SENDER = 256 * 1024 * 1024;
export const DEFAULT_MAX_BYTES_TOTAL = 1024 * 1024 * 1024;
export const DEFAULT_WORKSPACE_QUOTA_BYTES = 20 * 1024 * 1024 * 1024;
/** A usage measurement younger than this may decide a submit without a new walk… */
export const USAGE_REUSE_MS = 30_000;
/** …when it (plus every bundle admitted since) stays under this share of the quota. */
export const USAGE_REUSE_SHARE = 0.9;
/** A reused measurement older than this is refreshed in the background for the next submit. */
const USAGE_REFRESH_MS = 5_000;

export interface SenderLimitOptions {
  /** Per sender: jobs waiting for extraction plus queued/running builds. Default 16. */
  maxQueuedJobsPerSender?: number;
  /** Per sender: bundle bytes held in memory (in flight + waiting for extraction). Default 256 MiB. */
  maxBytesPerSender?: number;
  /** All senders together: bundle bytes held in memory. Default 1 GiB. */
  maxBytesTotal?: number;
  /** All workspaces (`remote_builds/`) together. Default 20 GiB. */
  workspaceQuotaBytes?: number;
}

/** What is held now, as the BuildServer counts it. */
export interface HeldNow {
  /** This sender's jobs waiting for extraction plus its queued/running builds. */
  queued: number;
  /** This sender's bundle bytes held. */
  heldBySender: number;
  /** Bundle bytes held for every sender (in flight included). */
  heldTotal: number;
}

export class SenderLimits {
  private diskLock: Promise<void> = Promise.resolve();
  /** The last walk of the root: its total, when it was taken, and bundle bytes admitted since. */
  private usage: { total: number; at: number; addedSince: number } | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly o: SenderLimitOptions & {
      /** `remote_builds/` */
      root: string;
      log: (message: string) => void;
      /** A workspace with active or pending work is never swept. */
      isBusy: (name: string) => boolean;
    },
  ) {}

  admit(who: string, jobId: string, totalBytes: number, now: HeldNow): SubmitReason | undefined {
    const maxQueued = this.o.maxQueuedJobsPerSender ?? DEFAULT_MAX_QUEUED_JOBS_PER_SENDER;
    if (now.queued >= maxQueued) {
      this.o.log(`refused job ${jobId} from ${who}: ${now.queued} of their jobs are already queued (limit ${maxQueued})`);
      return 'queue_rejected';
    }
    const maxBytes = this.o.maxBytesPerSender ?? DEFAULT_MAX_BYTES_PER_SENDER;
    if (now.heldBySender + totalBytes > maxBytes) {
      this.o.log(`refused job ${jobId} from ${who}: ${now.heldBySender + totalBytes} bundle bytes would be held for them (limit ${maxBytes})`);
      return 'queue_rejected';
    }
    const maxTotal = this.o.maxBytesTotal ?? DEFAULT_MAX_BYTES_TOTAL;
    if (now.heldTotal + totalBytes > maxTotal) {
      this.o.log(`refused job ${jobId} from ${who}: ${now.heldTotal + totalBytes} bundle bytes would be held in total (limit ${maxTotal})`);
      return 'queue_rejected';
    }
    return undefined;
  }

  /** One disk-quota decision at a time (usage is measured, then space made). */
  withDiskLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.diskLock.then(fn, fn);
    this.diskLock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** True when `incoming` more bytes fit the workspace quota as it is (nothing is removed). */
  async hasRoom(incoming: number): Promise<boolean> {
    const quota = this.o.workspaceQuotaBytes ?? DEFAULT_WORKSPACE_QUOTA_BYTES;
    return (await workspaceUsage(this.o.root)).total + incoming <= quota;
  }

  /**
   * Keeps the remote-build root under its quota with room for `incoming` more bytes: idle
   * workspaces of other senders go oldest first. Returns why it could not, or undefined.
   */
  async makeRoom(key: string, incoming: number, now = Date.now()): Promise<string | undefined> {
    const quota = this.o.workspaceQuotaBytes ?? DEFAULT_WORKSPACE_QUOTA_BYTES;
    const u = this.usage;
    if (u && now - u.at < USAGE_REUSE_MS && u.total + u.addedSince + incoming <= quota * USAGE_REUSE_SHARE) {
      u.addedSince += incoming;
      if (now - u.at > USAGE_REFRESH_MS) this.refreshUsage();
      return undefined;
    }
    const usage = await workspaceUsage(this.o.root);
    // Dated when the walk began (as the background refresh does): the conservative age.
    this.usage = { total: usage.total, at: now, addedSince: 0 };
    let total = usage.total;
    if (total + incoming <= quota) {
      this.usage.addedSince = incoming;
      return undefined;
    }
    this.usage = null; // workspaces are about to go: the next decision measures again
    const idle = [...usage.dirs.entries()]
      .filter(([name]) => isSenderKey(name) && name !== key && !this.o.isBusy(name))
      .sort((a, b) => a[1].mtimeMs - b[1].mtimeMs);
    for (const [name, { bytes }] of idle) {
      if (total + incoming <= quota) break;
      await rm(join(this.o.root, name), { recursive: true, force: true });
      total -= bytes;
      this.o.log(`disk quota: removed the idle workspace ${name} (${bytes} bytes) to make room`);
    }
    if (total + incoming <= quota) return undefined;
    return `the build server's workspace quota (${quota} bytes) is full: ${total} bytes in use, ${incoming} more needed`;
  }

  /** One background walk at a time, taken under the disk lock so it never races a sweep. */
  private refreshUsage(): void {
    if (this.refreshing) return;
    this.refreshing = this.withDiskLock(async () => {
      const at = Date.now();
      const usage = await workspaceUsage(this.o.root);
      // Bundles admitted during the walk may or may not be in it: count them (over, not under).
      const during = this.usage && this.usage.at <= at ? this.usage.addedSince : 0;
      this.usage = { total: usage.total, at, addedSince: during };
    })
      .catch(() => undefined)
      .finally(() => {
        this.refreshing = null;
      });
  }
}

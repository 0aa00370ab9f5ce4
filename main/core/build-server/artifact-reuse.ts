// A build server's stored builds (issue 15): the packed artifacts of a sender's completed compile,
// keyed by (sender key, bundle content digest, ESPHome version the build server built with). The
// same sender submitting an identical bundle for the same version gets those artifacts at once
// instead of a rebuild. Another sender never hits: the index and the files are per sender key.
//
// Bounds: the last `keepPerSender` builds per sender; the packs live in the sender's workspace
// (`remote_builds/<key>/.reuse/`), so they count in the workspace disk quota and go with the
// workspace when the TTL sweep or the quota removes it; a pack is stored only when it fits the
// quota without removing anything. Artifacts served from a hit are held in memory only until
// downloaded (or `ttlMs`), and counted in the sender's held bytes.
//
// Restart: the index is in memory only. A pack on disk cannot prove which bundle it was built
// from, so every `.reuse/` directory is removed when the role starts — never trusted.
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../peer-link/transfer';
import { writeFileAtomicPrivate } from '../private-fs';
import type { PackedArtifacts } from './artifact-pack';
import { isSenderKey } from './filename';
import { splitOutputLine, type Frame } from './frame-parse';
import type { ExtractedMember } from './safe-tar';
import { remoteBuildsRoot, senderWorkspace } from './workspace';

export const REUSE_DIR = '.reuse';
export const DEFAULT_REUSE_KEEP_PER_SENDER = 3;
/** Bumped when what goes into the bundle digest changes. */
const BUNDLE_DIGEST_FORMAT = 1;
/** Hits (job ids served from storage) remembered per sender for their downloads. */
const MAX_HITS_PER_SENDER = 16;

/**
 * The content digest of an extracted bundle: every member's name and content hash, sorted, plus
 * the submitted YAML name. Archive metadata (mtimes, modes, order) does not count, so the same
 * files bundled again give the same digest.
 */
export function bundleContentDigest(configurationFilename: string, members: readonly ExtractedMember[]): string {
  const files = members.map((m): [string, string] => [m.name, m.sha256]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([BUNDLE_DIGEST_FORMAT, configurationFilename, files])).digest('hex');
}

/** "just now", "40 s ago", "3 min ago", "2 h ago", "5 days ago". */
export function agoText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  const d = Math.round(s / 86_400);
  return `${d} day${d === 1 ? '' : 's'} ago`;
}

/** The plain-words line a sender sees (and the build server logs) for a hit. */
export function reuseLine(storedAt: number, esphomeVersion: string, now: number): string {
  return `Identical configuration built here ${agoText(now - storedAt)} with ESPHome ${esphomeVersion} — sending the stored firmware, no rebuild`;
}

interface StoredBuild {
  digest: string;
  esphomeVersion: string;
  path: string;
  sha256: string;
  firmwareOffset: string;
  members: string[];
  bytes: number;
  storedAt: number;
}

interface Hit {
  configuration: string;
  build: StoredBuild;
  /** Served bytes held for the download, dropped after it or after `ttlMs`. */
  held?: { packed: PackedArtifacts; timer: NodeJS.Timeout };
}

/** What the BuildServer records at enqueue so a completed build can be stored. */
export interface ReuseCandidate {
  key: string;
  digest: string;
  esphomeVersion: string;
}

export interface ArtifactReuseOptions {
  /** Where `remote_builds/` lives. */
  dataDir: string;
  /** Builds kept per sender (default 3; 0 turns reuse off). */
  keepPerSender?: number;
  /** How long served artifacts wait in memory for their download (default 60 s). */
  ttlMs?: number;
  /** True when `bytes` more fit the workspace quota without removing anything. */
  hasRoom: (bytes: number) => Promise<boolean>;
  /** Runs `fn` under the disk-quota lock (SenderLimits.withDiskLock). */
  withDiskLock: <T>(fn: () => Promise<T>) => Promise<T>;
  log: (message: string) => void;
  now?: () => number;
}

export class ArtifactReuse {
  /** senderKey → stored builds, oldest first. */
  private readonly stored = new Map<string, StoredBuild[]>();
  /** senderKey → their job_id → hit. */
  private readonly hits = new Map<string, Map<string, Hit>>();
  /** Receiver job id → what to store it under once it completes. */
  private readonly candidates = new Map<string, ReuseCandidate>();
  private readonly cleaned: Promise<void>;
  /** Stores being written (awaited by close so nothing is written after the role stopped). */
  private readonly writing = new Set<Promise<void>>();
  private closed = false;
  private readonly keep: number;
  private readonly now: () => number;

  constructor(private readonly o: ArtifactReuseOptions) {
    this.keep = Math.max(0, Math.floor(o.keepPerSender ?? DEFAULT_REUSE_KEEP_PER_SENDER));
    this.now = o.now ?? Date.now;
    this.cleaned = this.removeLeftovers();
  }

  get enabled(): boolean {
    return this.keep > 0;
  }

  /** A stored build of this sender for (digest, version), read back and verified; undefined = rebuild. */
  async lookup(key: string, digest: string, esphomeVersion: string): Promise<{ packed: PackedArtifacts; storedAt: number } | undefined> {
    await this.cleaned;
    const list = this.stored.get(key);
    const build = list?.find((b) => b.digest === digest && b.esphomeVersion === esphomeVersion);
    if (!list || !build) return undefined;
    const tarball = await readFile(build.path).catch(() => null);
    if (!tarball || sha256Hex(tarball) !== build.sha256) {
      // Removed with its workspace (TTL sweep, quota) or damaged: forget it and rebuild.
      this.forget(key, build);
      return undefined;
    }
    // Most recently used last: it is the one kept longest.
    list.splice(list.indexOf(build), 1);
    list.push(build);
    return { packed: { tarball, sha256: build.sha256, firmwareOffset: build.firmwareOffset, members: build.members }, storedAt: build.storedAt };
  }

  /**
   * Answers a submit from storage when this sender has a stored build of (digest, version): the
   * sender gets the plain-words line as the job's output and `completed` at once; its
   * download_artifacts is then served from the stored pack (takeHit). False = build it.
   */
  async serveIdentical(a: { key: string; jobId: string; configuration: string; digest: string; esphomeVersion: string; who: string; send: (frame: Frame) => void; aborted: () => boolean }): Promise<boolean> {
    if (!this.enabled || !a.esphomeVersion) return false;
    const found = await this.lookup(a.key, a.digest, a.esphomeVersion);
    if (!found) return false;
    if (a.aborted()) return true; // cancelled meanwhile: already answered, nothing to send
    const line = reuseLine(found.storedAt, a.esphomeVersion, this.now());
    this.recordHit(a.key, a.jobId, a.configuration, found.packed, found.storedAt);
    this.o.log(`job ${a.jobId} from ${a.who}: ${line}`);
    for (const piece of splitOutputLine(a.jobId, `INFO ${line}\n`)) a.send({ type: 'job_output', job_id: a.jobId, stream: 'stdout', line: piece });
    a.send({ type: 'job_state_changed', job_id: a.jobId, status: 'completed', error_message: '' });
    return true;
  }

  /** A submit answered from storage: its download is served from `packed`. */
  recordHit(key: string, jobId: string, configuration: string, packed: PackedArtifacts, storedAt: number): void {
    let hits = this.hits.get(key);
    if (!hits) this.hits.set(key, (hits = new Map<string, Hit>()));
    this.dropHeld(hits.get(jobId));
    hits.delete(jobId);
    const build = this.stored.get(key)?.find((b) => b.sha256 === packed.sha256) ?? { digest: '', esphomeVersion: '', path: '', sha256: packed.sha256, firmwareOffset: packed.firmwareOffset, members: packed.members, bytes: packed.tarball.length, storedAt };
    const hit: Hit = { configuration, build };
    const timer = setTimeout(() => this.dropHeld(hit), this.o.ttlMs ?? 60_000);
    timer.unref?.();
    hit.held = { packed, timer };
    hits.set(jobId, hit);
    for (const oldest of hits.keys()) {
      if (hits.size <= MAX_HITS_PER_SENDER) break;
      this.dropHeld(hits.get(oldest));
      hits.delete(oldest);
    }
  }

  /** The artifacts of a job answered from storage (held, else read back and verified), or undefined when it was not one. */
  takeHit(key: string, jobId: string): { job: { remote_job_id: string; configuration: string }; packed: Promise<PackedArtifacts> } | undefined {
    const hit = this.hits.get(key)?.get(jobId);
    if (!hit) return undefined;
    const held = hit.held?.packed;
    this.dropHeld(hit);
    const b = hit.build;
    const packed = held
      ? Promise.resolve(held)
      : readFile(b.path).then((tarball) => {
          if (sha256Hex(tarball) !== b.sha256) throw new Error('the stored firmware changed on disk');
          return { tarball, sha256: b.sha256, firmwareOffset: b.firmwareOffset, members: b.members };
        });
    return { job: { remote_job_id: jobId, configuration: hit.configuration }, packed };
  }

  /** Served bytes held in memory for one sender (or all senders). */
  heldBytes(key?: string): number {
    let n = 0;
    for (const [k, hits] of this.hits) {
      if (key !== undefined && k !== key) continue;
      for (const h of hits.values()) n += h.held?.packed.tarball.length ?? 0;
    }
    return n;
  }

  /** Remember what a queued build would be stored under once it completes. */
  expect(receiverJobId: string, c: ReuseCandidate): void {
    if (this.enabled) this.candidates.set(receiverJobId, c);
  }

  /** The job ended without a storable result. */
  forgetJob(receiverJobId: string): void {
    this.candidates.delete(receiverJobId);
  }

  /**
   * Stores a completed build's packed artifacts. `stillValid` is asked once packing is done: a
   * later build of the same device, or another ESPHome since, means the pack may not match.
   */
  completed(receiverJobId: string, packing: Promise<PackedArtifacts>, stillValid: (c: ReuseCandidate) => boolean): Promise<void> {
    const c = this.candidates.get(receiverJobId);
    this.candidates.delete(receiverJobId);
    if (!c || !this.enabled || this.closed) return Promise.resolve();
    const p = this.store(c, packing, stillValid).finally(() => this.writing.delete(p));
    this.writing.add(p);
    return p;
  }

  private async store(c: ReuseCandidate, packing: Promise<PackedArtifacts>, stillValid: (c: ReuseCandidate) => boolean): Promise<void> {
    await this.cleaned;
    let packed: PackedArtifacts;
    try {
      packed = await packing;
    } catch {
      return; // reported when (if) it is downloaded
    }
    if (this.closed || !stillValid(c)) return;
    const dir = join(senderWorkspace(this.o.dataDir, c.key), REUSE_DIR);
    const path = join(dir, `${c.digest.slice(0, 32)}-${createHash('sha256').update(c.esphomeVersion).digest('hex').slice(0, 8)}.tar.gz`);
    const stored = await this.o.withDiskLock(async () => {
      if (this.closed || !(await this.o.hasRoom(packed.tarball.length))) return false;
      await writeFileAtomicPrivate(path, packed.tarball);
      return true;
    }).catch((err: Error) => {
      this.o.log(`could not keep the build for reuse: ${err.message}`);
      return false;
    });
    if (!stored) return;
    let list = this.stored.get(c.key);
    if (!list) this.stored.set(c.key, (list = []));
    for (const old of list.filter((b) => b.path === path || (b.digest === c.digest && b.esphomeVersion === c.esphomeVersion))) list.splice(list.indexOf(old), 1);
    list.push({ digest: c.digest, esphomeVersion: c.esphomeVersion, path, sha256: packed.sha256, firmwareOffset: packed.firmwareOffset, members: packed.members, bytes: packed.tarball.length, storedAt: this.now() });
    while (list.length > this.keep) {
      const oldest = list.shift()!;
      if (oldest.path !== path) await rm(oldest.path, { force: true }).catch(() => undefined);
    }
  }

  /** Stored builds of a sender, oldest first (for tests and the log). */
  storedOf(key: string): ReadonlyArray<{ digest: string; esphomeVersion: string; path: string; bytes: number }> {
    return this.stored.get(key) ?? [];
  }

  /** The role stops: forget everything; settles once no store is being written any more. */
  async close(): Promise<void> {
    this.closed = true;
    for (const hits of this.hits.values()) for (const h of hits.values()) this.dropHeld(h);
    this.hits.clear();
    this.stored.clear();
    this.candidates.clear();
    await Promise.allSettled([this.cleaned, ...this.writing]);
  }

  /** Settles once the leftovers of a previous run are removed. */
  ready(): Promise<void> {
    return this.cleaned;
  }

  private forget(key: string, build: StoredBuild): void {
    const list = this.stored.get(key);
    if (list) list.splice(list.indexOf(build), 1);
    void rm(build.path, { force: true }).catch(() => undefined);
  }

  private dropHeld(hit: Hit | undefined): void {
    if (!hit?.held) return;
    clearTimeout(hit.held.timer);
    hit.held = undefined;
  }

  private async removeLeftovers(): Promise<void> {
    const root = remoteBuildsRoot(this.o.dataDir);
    for (const name of await readdir(root).catch(() => [] as string[])) {
      if (!isSenderKey(name)) continue;
      await rm(join(root, name, REUSE_DIR), { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

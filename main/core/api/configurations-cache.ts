// The configuration list, kept between window connects (issue 18 §3): each YAML is parsed once
// per (mtime, size) and re-read only when either moves. The folder is watched (fs.watch) so a
// connect with nothing changed costs no disk I/O at all; a cheap periodic stat rescan catches
// what a watch misses (network folders, some container mounts, editors that swap inodes). Changes
// are handed to `onChange` as entries, so clients merge them instead of re-fetching the list.
// The first (cold) scan lists the folder first and parses after: a window connecting meanwhile
// gets every name at once (`reading: true` on rows not parsed yet, via listReady) and the parsed
// entries follow as deltas, in batches, as the scan reads them.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ConfigurationEntry } from '../../../preload/contract';
import { parseDevice } from './configurations';
import { CONFIG_NAME_RE, MAX_IMPORT_BYTES } from './schemas';

/** Files in the config dir that are never device configurations. */
const NOT_DEVICES = new Set(['secrets.yaml', 'secrets.yml']);

export interface ConfigurationsDelta {
  /** Entries added or whose content changed. */
  changed: ConfigurationEntry[];
  /** File names that are gone. */
  removed: string[];
}

export interface ConfigurationsCacheOptions {
  /**
   * Called after a rescan found changes; for the first scan only when listReady() answered before
   * it finished (then with the entries parsed since, in batches).
   */
  onChange?: (delta: ConfigurationsDelta) => void;
  /** Fallback stat rescan period (ms); 0 disables it. Default 30 s. */
  rescanMs?: number;
  /** Delay between a watch event and the rescan, so a burst of writes is one rescan. */
  debounceMs?: number;
  /** false: no fs.watch (tests of the stat fallback). */
  watch?: boolean;
  /** First scan: parsed entries are handed to onChange at most this often (ms). Default 100. */
  batchMs?: number;
}

/** Files stat'ed, and read and parsed, at the same time during a scan. */
const STAT_CONCURRENCY = 32;
const READ_CONCURRENCY = 4;

interface Cached {
  mtimeMs: number;
  size: number;
  entry: ConfigurationEntry;
  /** Listed by the first scan, not read yet (entry.reading). */
  pending?: boolean;
}

export class ConfigurationsCache {
  /** Timing-free counters for tests and benchmarks: files read and directory scans done. */
  readonly stats = { reads: 0, scans: 0 };
  private readonly files = new Map<string, Cached>();
  private scanned = false;
  /** Set by a watch event (or when no watch is active): the next list() rescans first. */
  private dirty = true;
  private watcher: FSWatcher | null = null;
  private rescanTimer: ReturnType<typeof setInterval> | null = null;
  private debounce: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<ConfigurationsDelta> = Promise.resolve({ changed: [], removed: [] });
  private closed = false;
  private scanning = false;
  /** Resolved once the first scan has listed the folder (names known, contents not yet). */
  private readonly listed: Promise<void>;
  private markListed!: () => void;
  private isListed = false;
  /** A listReady() answered with `reading` entries: the first scan reports what it parses next. */
  private servedReading = false;

  constructor(
    readonly configDir: string,
    private readonly opts: ConfigurationsCacheOptions = {},
  ) {
    this.listed = new Promise<void>((resolve) => (this.markListed = resolve));
  }

  /** Whether the folder was scanned once (later scans report deltas through onChange). */
  get primed(): boolean {
    return this.scanned;
  }

  /** One configuration as last scanned (no I/O), or undefined before the first scan. */
  peek(name: string): ConfigurationEntry | undefined {
    return this.files.get(name)?.entry;
  }

  /** The sorted list; rescans first only when something may have changed since the last scan. */
  async list(): Promise<ConfigurationEntry[]> {
    this.startWatching();
    if (this.dirty || !this.scanned || !this.watcher) await this.rescan();
    else await this.chain;
    return this.snapshot();
  }

  /**
   * The list for a window connecting now (issue 18 §3, P7): like list(), except while the first
   * scan runs — then it answers as soon as the folder is listed, with `reading: true` on the
   * entries not parsed yet; their parsed entries reach onChange as deltas.
   */
  async listReady(): Promise<ConfigurationEntry[]> {
    if (!this.scanned) {
      this.startWatching();
      if (!this.scanning) void this.rescan().catch(() => undefined);
      await Promise.race([this.listed, this.chain]);
      if (!this.scanned && this.isListed) {
        this.servedReading = true;
        return this.snapshot();
      }
    }
    return this.list();
  }

  private snapshot(): ConfigurationEntry[] {
    return [...this.files.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, c]) => c.entry);
  }

  /**
   * Stats every file and re-reads only those whose mtime or size moved; reports the delta (to
   * onChange too, after the first scan). Scans never overlap.
   */
  rescan(): Promise<ConfigurationsDelta> {
    const run = this.chain.then(() => this.scanNow());
    this.chain = run.catch(() => ({ changed: [], removed: [] }));
    return run;
  }

  /** Stop watching and rescanning. */
  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.debounce) clearTimeout(this.debounce);
    this.rescanTimer = this.debounce = null;
  }

  private startWatching(): void {
    if (this.closed || this.rescanTimer || this.watcher) return;
    if (this.opts.watch !== false) {
      try {
        this.watcher = watch(this.configDir, { persistent: false }, () => this.markDirty());
        // A watch that fails later (folder removed, too many watches) falls back to stat rescans.
        this.watcher.on('error', () => {
          this.watcher?.close();
          this.watcher = null;
          this.dirty = true;
        });
      } catch {
        this.watcher = null; // no folder yet, or watch unsupported here: every list() stats
      }
    }
    const every = this.opts.rescanMs ?? 30_000;
    if (every > 0) {
      this.rescanTimer = setInterval(() => void this.rescan().catch(() => undefined), every);
      this.rescanTimer.unref();
    }
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.debounce || this.closed) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.rescan().catch(() => undefined);
    }, this.opts.debounceMs ?? 100);
    this.debounce.unref();
  }

  private async scanNow(): Promise<ConfigurationsDelta> {
    this.scanning = true;
    try {
      return await this.scanSteps();
    } finally {
      this.scanning = false;
    }
  }

  private async scanSteps(): Promise<ConfigurationsDelta> {
    this.dirty = false;
    this.stats.scans++;
    const first = !this.scanned;
    let names: string[];
    try {
      names = await readdir(this.configDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.dirty = true;
        throw err;
      }
      names = [];
    }
    const delta: ConfigurationsDelta = { changed: [], removed: [] };
    const seen = new Set<string>();
    // Step 1: which files are new or moved (stat only).
    const toRead: Array<{ name: string; mtimeMs: number; size: number; old?: Cached }> = [];
    const candidates = names.filter((n) => CONFIG_NAME_RE.test(n) && !NOT_DEVICES.has(n.toLowerCase()));
    await eachLimited(candidates, STAT_CONCURRENCY, async (name) => {
      let st;
      try {
        st = await stat(join(this.configDir, name));
      } catch {
        return; // removed between readdir and stat
      }
      if (!st.isFile()) return;
      seen.add(name);
      const old = this.files.get(name);
      if (old && !old.pending && old.mtimeMs === st.mtimeMs && old.size === st.size) return;
      toRead.push({ name, mtimeMs: st.mtimeMs, size: st.size, old: old?.pending ? undefined : old });
    });
    for (const name of [...this.files.keys()]) {
      if (!seen.has(name)) {
        this.files.delete(name);
        delta.removed.push(name);
      }
    }
    if (first) {
      // Names first: a connect now lists every file, the contents follow as deltas.
      for (const f of toRead) this.files.set(f.name, { mtimeMs: f.mtimeMs, size: f.size, pending: true, entry: { name: f.name, deviceName: '', friendlyName: '', platform: '', error: '', reading: true } });
      this.isListed = true;
      this.markListed();
    }
    // Step 2: read and parse what is new or moved.
    let batch: ConfigurationEntry[] = [];
    let lastFlush = performance.now();
    const flush = (): void => {
      if (batch.length > 0 && this.servedReading) this.opts.onChange?.({ changed: batch, removed: [] });
      batch = [];
      lastFlush = performance.now();
    };
    await eachLimited(toRead, READ_CONCURRENCY, async ({ name, mtimeMs, size, old }) => {
      const entry: ConfigurationEntry = { name, deviceName: '', friendlyName: '', platform: '', error: '' };
      try {
        if (size > MAX_IMPORT_BYTES) throw new Error(`file is larger than ${MAX_IMPORT_BYTES / 1024} KiB`);
        this.stats.reads++;
        const text = await readFile(join(this.configDir, name), 'utf8');
        // Reads finish in batches; parsing them back to back would hold a window's requests
        // (hello, the job page) behind the whole batch. Yield to pending I/O before each parse.
        await new Promise<void>((resolve) => setImmediate(resolve));
        Object.assign(entry, parseDevice(text));
      } catch (err) {
        entry.error = err instanceof Error ? err.message : String(err);
      }
      // A file removed meanwhile by a later scan's view is not resurrected here (scans never overlap).
      this.files.set(name, { mtimeMs, size, entry });
      if (first) {
        batch.push(entry);
        if (performance.now() - lastFlush >= (this.opts.batchMs ?? 100)) flush();
      } else if (!old || !sameEntry(old.entry, entry)) delta.changed.push(entry);
    });
    this.scanned = true;
    if (first) flush();
    else if (delta.changed.length > 0 || delta.removed.length > 0) this.opts.onChange?.(delta);
    return delta;
  }
}

/** Runs fn over items with at most `limit` running at once. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let item = items[next++]; item !== undefined; item = items[next++]) await fn(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function sameEntry(a: ConfigurationEntry, b: ConfigurationEntry): boolean {
  return a.deviceName === b.deviceName && a.friendlyName === b.friendlyName && a.platform === b.platform && a.error === b.error && !a.reading === !b.reading;
}

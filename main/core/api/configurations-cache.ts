// The configuration list, kept between window connects (issue 18 §3): each YAML is parsed once
// per (mtime, size) and re-read only when either moves. The folder is watched (fs.watch) so a
// connect with nothing changed costs no disk I/O at all; a cheap periodic stat rescan catches
// what a watch misses (network folders, some container mounts, editors that swap inodes). Changes
// are handed to `onChange` as entries, so clients merge them instead of re-fetching the list.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
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
  /** Called after a rescan found changes (not for the first scan). */
  onChange?: (delta: ConfigurationsDelta) => void;
  /** Fallback stat rescan period (ms); 0 disables it. Default 30 s. */
  rescanMs?: number;
  /** Delay between a watch event and the rescan, so a burst of writes is one rescan. */
  debounceMs?: number;
  /** false: no fs.watch (tests of the stat fallback). */
  watch?: boolean;
}

interface Cached {
  mtimeMs: number;
  size: number;
  entry: ConfigurationEntry;
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

  constructor(
    readonly configDir: string,
    private readonly opts: ConfigurationsCacheOptions = {},
  ) {}

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
    for (const name of names) {
      if (!CONFIG_NAME_RE.test(name) || NOT_DEVICES.has(name.toLowerCase())) continue;
      const full = join(this.configDir, name);
      let st;
      try {
        st = await stat(full);
      } catch {
        continue; // removed between readdir and stat
      }
      if (!st.isFile()) continue;
      seen.add(name);
      const old = this.files.get(name);
      if (old && old.mtimeMs === st.mtimeMs && old.size === st.size) continue;
      const entry: ConfigurationEntry = { name, deviceName: '', friendlyName: '', platform: '', error: '' };
      try {
        if (st.size > MAX_IMPORT_BYTES) throw new Error(`file is larger than ${MAX_IMPORT_BYTES / 1024} KiB`);
        this.stats.reads++;
        Object.assign(entry, parseDevice(await readFile(full, 'utf8')));
      } catch (err) {
        entry.error = err instanceof Error ? err.message : String(err);
      }
      this.files.set(name, { mtimeMs: st.mtimeMs, size: st.size, entry });
      if (!old || !sameEntry(old.entry, entry)) delta.changed.push(entry);
    }
    for (const name of [...this.files.keys()]) {
      if (!seen.has(name)) {
        this.files.delete(name);
        delta.removed.push(name);
      }
    }
    this.scanned = true;
    if (!first && (delta.changed.length > 0 || delta.removed.length > 0)) this.opts.onChange?.(delta);
    return delta;
  }
}

function sameEntry(a: ConfigurationEntry, b: ConfigurationEntry): boolean {
  return a.deviceName === b.deviceName && a.friendlyName === b.friendlyName && a.platform === b.platform && a.error === b.error;
}

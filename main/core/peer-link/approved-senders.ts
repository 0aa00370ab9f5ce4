// Receiver-side persistent state (peer-link-protocol.md §15): approved senders (StoredPeer) and
// the receiver settings, in one JSON file (`receiver-peers.json`). Only APPROVED rows live here;
// PENDING rows are RAM-only and belong to ReceiverPairing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultReporter, readJsonOrQuarantine, writeFileAtomic, type Reporter } from './atomic-json';
import { isValidDashboardId, LABEL_MAX_CHARS } from './constants';
import { newDashboardId } from './dashboard-id';
import { isPin } from './fingerprint';
import { decodeBase64Strict, encodeBase64, isBool, isInt, isObject, isStr, normaliseText } from './strict-json';

export const RECEIVER_PEERS_FILE_NAME = 'receiver-peers.json';
export const CLEANUP_TTL_DEFAULT_S = 86_400;
export const CLEANUP_TTL_MIN_S = 3_600;
export const CLEANUP_TTL_MAX_S = 2_592_000;

export interface StoredPeer {
  dashboard_id: string;
  pin_sha256: string;
  /** Raw 32-byte X25519 public key of the sender. */
  static_x25519_pub: Buffer;
  label: string;
  /** Unix seconds (float). */
  paired_at: number;
  peer_ip: string;
  /** 0 = unknown. */
  connect_back_port: number;
  friendly_name: string;
  ha_addon: boolean;
}

export interface ReceiverSettings {
  /** Receiver role on/off (the listener is bound only while enabled). */
  enabled: boolean;
  cleanup_ttl_seconds: number;
  /** This instance's own dashboard_id. */
  dashboard_id: string;
}

export function clampCleanupTtl(v: number): number {
  return Math.min(CLEANUP_TTL_MAX_S, Math.max(CLEANUP_TTL_MIN_S, Math.round(v)));
}

function peerFromJson(raw: unknown): StoredPeer {
  if (!isObject(raw)) throw new Error('peer row is not an object');
  const pub = isStr(raw.static_x25519_pub) ? decodeBase64Strict(raw.static_x25519_pub) : undefined;
  if (!isValidDashboardId(raw.dashboard_id)) throw new Error('bad dashboard_id');
  if (!isPin(raw.pin_sha256)) throw new Error('bad pin_sha256');
  if (!pub || pub.length !== 32) throw new Error('bad static_x25519_pub');
  return {
    dashboard_id: raw.dashboard_id,
    pin_sha256: raw.pin_sha256,
    static_x25519_pub: pub,
    label: normaliseText(raw.label, LABEL_MAX_CHARS),
    paired_at: typeof raw.paired_at === 'number' && Number.isFinite(raw.paired_at) ? raw.paired_at : 0,
    peer_ip: isStr(raw.peer_ip) ? raw.peer_ip : '',
    connect_back_port: isInt(raw.connect_back_port) && raw.connect_back_port >= 0 && raw.connect_back_port <= 65535 ? raw.connect_back_port : 0,
    friendly_name: normaliseText(raw.friendly_name, LABEL_MAX_CHARS),
    ha_addon: raw.ha_addon === true,
  };
}

function peerToJson(p: StoredPeer): Record<string, unknown> {
  return { ...p, static_x25519_pub: encodeBase64(p.static_x25519_pub) };
}

interface LoadedFile {
  settings: Partial<ReceiverSettings>;
  peers: StoredPeer[];
}

export interface ReceiverPeerStoreOptions {
  /** Debounce of peer-row writes (upstream 1 s). Key-mode approvals call flush() instead. */
  debounceMs?: number;
  report?: Reporter;
  /** Writes the whole file atomically (default writeFileAtomic, 0600); a seam for disk-full tests. */
  writeFile?: (file: string, data: string) => Promise<void>;
}

/**
 * Approved senders keyed by dashboard_id, plus receiver settings. Mutations are synchronous in
 * memory; disk writes are debounced and serialised, `flush()` forces one and resolves when the
 * file is on disk.
 */
export class ApprovedSenderStore {
  readonly file: string;
  private readonly peers = new Map<string, StoredPeer>();
  private settingsValue: ReceiverSettings;
  private readonly debounceMs: number;
  private readonly report: Reporter;
  private readonly writeFile: (file: string, data: string) => Promise<void>;
  private timer: NodeJS.Timeout | undefined;
  private writeChain: Promise<void> = Promise.resolve();
  private dirty = false;
  /** Ids in the file as we last wrote (or read) it: a row missing from the file since was removed by another process. */
  private idsOnDisk = new Set<string>();
  private readonly externalRemovalListeners = new Set<(ids: string[]) => void>();
  /** True when no dashboard_id was on disk and a fresh one was generated at load. */
  readonly dashboardIdGenerated: boolean;

  constructor(file: string, opts: ReceiverPeerStoreOptions = {}) {
    this.file = file;
    this.debounceMs = opts.debounceMs ?? 1000;
    this.report = opts.report ?? defaultReporter;
    this.writeFile = opts.writeFile ?? ((file, data) => writeFileAtomic(file, data));
    const loaded = readJsonOrQuarantine(file, (raw) => this.validate(raw), this.report);
    for (const p of loaded?.peers ?? []) this.peers.set(p.dashboard_id, p);
    this.idsOnDisk = new Set(this.peers.keys());
    const s = loaded?.settings ?? {};
    this.settingsValue = {
      // Off until the user turns it on: a listener on first launch is a surprise (and a firewall prompt).
      enabled: s.enabled ?? false,
      cleanup_ttl_seconds: s.cleanup_ttl_seconds ?? CLEANUP_TTL_DEFAULT_S,
      dashboard_id: s.dashboard_id ?? newDashboardId(),
    };
    this.dashboardIdGenerated = !s.dashboard_id;
    if (!loaded || !s.dashboard_id) this.markDirty();
  }

  static inDataDir(dataDir: string, opts?: ReceiverPeerStoreOptions): ApprovedSenderStore {
    return new ApprovedSenderStore(join(dataDir, RECEIVER_PEERS_FILE_NAME), opts);
  }

  get settings(): Readonly<ReceiverSettings> {
    return { ...this.settingsValue };
  }

  /** Applies a settings patch and writes it at once. */
  async updateSettings(patch: Partial<ReceiverSettings>): Promise<ReceiverSettings> {
    const next = { ...this.settingsValue, ...patch };
    if (!isBool(next.enabled)) throw new Error('enabled must be a boolean');
    if (!isValidDashboardId(next.dashboard_id)) throw new Error('dashboard_id is not valid');
    if (typeof next.cleanup_ttl_seconds !== 'number' || !Number.isFinite(next.cleanup_ttl_seconds)) throw new Error('cleanup_ttl_seconds must be a number');
    next.cleanup_ttl_seconds = clampCleanupTtl(next.cleanup_ttl_seconds);
    this.settingsValue = next;
    this.markDirty();
    await this.flush();
    return { ...next };
  }

  list(): StoredPeer[] {
    return [...this.peers.values()].map((p) => ({ ...p }));
  }

  get(dashboardId: string): StoredPeer | undefined {
    const p = this.peers.get(dashboardId);
    return p ? { ...p } : undefined;
  }

  /** Inserts or replaces a row (debounced write). */
  put(peer: StoredPeer): void {
    this.peers.set(peer.dashboard_id, { ...peer, static_x25519_pub: Buffer.from(peer.static_x25519_pub) });
    this.markDirty();
  }

  /**
   * Persist first, then commit: writes the file with `peer` in it and only then adds the row in
   * memory. A failed write throws and leaves memory as it was, so nothing answers `approved`
   * for a pairing that is not on disk (§15).
   */
  async putDurable(peer: StoredPeer): Promise<void> {
    const row = { ...peer, static_x25519_pub: Buffer.from(peer.static_x25519_pub) };
    const gone = this.externallyRemoved().filter((id) => this.idsOnDisk.has(id) && id !== row.dashboard_id);
    for (const id of gone) this.peers.delete(id);
    if (gone.length > 0) for (const fn of [...this.externalRemovalListeners]) fn(gone);
    const rows = new Map(this.peers);
    rows.set(row.dashboard_id, row);
    const body = JSON.stringify(this.toJson(rows), null, 2);
    const write = this.writeChain.then(
      () => this.writeFile(this.file, body),
      () => this.writeFile(this.file, body),
    );
    this.writeChain = write;
    await write;
    this.peers.set(row.dashboard_id, row);
    this.idsOnDisk = new Set(rows.keys());
  }

  /**
   * Ids of approved rows that another process (`kiln receiver senders remove`) took out of the
   * file. A missing, unreadable or corrupt file removes nothing.
   */
  externallyRemoved(): string[] {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch {
      return [];
    }
    if (!isObject(raw) || !Array.isArray(raw.peers)) return [];
    const onDisk = new Set((raw.peers as unknown[]).map((r) => (isObject(r) && isStr(r.dashboard_id) ? r.dashboard_id : '')));
    return [...this.peers.keys()].filter((id) => !onDisk.has(id));
  }

  /** Called with the ids a write found removed by another process (and did not write back). */
  onExternalRemoval(fn: (ids: string[]) => void): () => void {
    this.externalRemovalListeners.add(fn);
    return () => this.externalRemovalListeners.delete(fn);
  }

  remove(dashboardId: string): boolean {
    const had = this.peers.delete(dashboardId);
    if (had) this.markDirty();
    return had;
  }

  /** Writes pending changes now; resolves once they are on disk. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.dirty) {
      this.dirty = false;
      // A row another process removed (`kiln receiver senders remove`) is not written back.
      const gone = this.externallyRemoved().filter((id) => this.idsOnDisk.has(id));
      for (const id of gone) this.peers.delete(id);
      const body = JSON.stringify(this.toJson(), null, 2);
      const ids = new Set(this.peers.keys());
      this.writeChain = this.writeChain.then(
        () => this.writeFile(this.file, body),
        () => this.writeFile(this.file, body),
      );
      this.writeChain.then(
        () => (this.idsOnDisk = ids),
        () => undefined,
      );
      if (gone.length > 0) for (const fn of [...this.externalRemovalListeners]) fn(gone);
    }
    await this.writeChain;
  }

  /** Flushes and stops the debounce timer (call on shutdown). */
  async close(): Promise<void> {
    await this.flush();
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err) => this.report(`could not write ${this.file}: ${(err as Error).message}`));
    }, this.debounceMs);
    this.timer.unref?.();
  }

  private toJson(rows: Map<string, StoredPeer> = this.peers): Record<string, unknown> {
    return {
      version: 1,
      ...this.settingsValue,
      peers: [...rows.values()].map(peerToJson),
    };
  }

  private validate(raw: unknown): LoadedFile {
    if (!isObject(raw)) throw new Error('top level is not an object');
    if (raw.peers !== undefined && !Array.isArray(raw.peers)) throw new Error('peers is not a list');
    const peers: StoredPeer[] = [];
    for (const [i, row] of ((raw.peers as unknown[] | undefined) ?? []).entries()) {
      try {
        peers.push(peerFromJson(row));
      } catch (err) {
        this.report(`${this.file}: skipping peer row ${i}: ${(err as Error).message}`);
      }
    }
    const settings: Partial<ReceiverSettings> = {};
    if (isBool(raw.enabled)) settings.enabled = raw.enabled;
    if (typeof raw.cleanup_ttl_seconds === 'number' && Number.isFinite(raw.cleanup_ttl_seconds)) settings.cleanup_ttl_seconds = clampCleanupTtl(raw.cleanup_ttl_seconds);
    if (isValidDashboardId(raw.dashboard_id)) settings.dashboard_id = raw.dashboard_id;
    return { settings, peers };
  }
}

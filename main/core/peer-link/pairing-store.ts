// Offloader-side persistent state (peer-link-protocol.md §15): pairings with build servers
// (StoredPairing), the offloader settings and this instance's dashboard_id, in `pairings.json`.
// Only APPROVED pairings are written; PENDING ones (awaiting the receiver's decision) are RAM-only.
import { join } from 'node:path';
import type { EventBus } from '../events';
import { defaultReporter, readJsonOrQuarantine, writeFileAtomic, type Reporter } from './atomic-json';
import { isValidDashboardId, LABEL_MAX_CHARS, VERSION_MAX_CHARS } from './constants';
import { newDashboardId } from './dashboard-id';
import { isPin } from './fingerprint';
import { decodeBase64Strict, encodeBase64, isBool, isInt, isObject, isStr, normaliseText } from './strict-json';

export const PAIRINGS_FILE_NAME = 'pairings.json';

export const VERSION_MATCH_POLICIES = ['any', 'release', 'exact', 'exact_required'] as const;
export type VersionMatchPolicy = (typeof VERSION_MATCH_POLICIES)[number];

export interface StoredPairing {
  receiver_hostname: string;
  receiver_port: number;
  pin_sha256: string;
  /** Raw 32-byte X25519 public key of the receiver. */
  static_x25519_pub: Buffer;
  /** Local display name of the receiver (≤128). */
  label: string;
  /** Unix seconds (float). */
  paired_at: number;
  status: 'approved' | 'pending';
  /** Receiver's esphome version, refreshed on every session open (≤64). */
  esphome_version: string;
  /** The receiver builds our ESPHome version in a toolchain of it (§9.5), from its last session response. */
  auto_provision_supported?: boolean;
  enabled: boolean;
}

export interface OffloaderSettings {
  remote_builds_enabled: boolean;
  version_match_policy: VersionMatchPolicy;
  include_local_in_pool: boolean;
}

export type PairingChange = 'added' | 'pending' | 'approved' | 'removed' | 'enabled' | 'disabled' | 'esphome_version' | 'updated';

export function validatePairing(raw: unknown): StoredPairing {
  if (!isObject(raw)) throw new Error('pairing row is not an object');
  const { receiver_hostname: host, receiver_port: port } = raw;
  if (!isStr(host) || host.length < 1 || host.length > 255) throw new Error('bad receiver_hostname');
  if (!isInt(port) || port < 1 || port > 65535) throw new Error('bad receiver_port');
  if (!isPin(raw.pin_sha256)) throw new Error('bad pin_sha256');
  const pub = isStr(raw.static_x25519_pub) ? decodeBase64Strict(raw.static_x25519_pub) : Buffer.isBuffer(raw.static_x25519_pub) ? raw.static_x25519_pub : undefined;
  if (!pub || pub.length !== 32) throw new Error('bad static_x25519_pub');
  const status = raw.status ?? 'approved';
  if (status !== 'approved' && status !== 'pending') throw new Error('bad status');
  return {
    receiver_hostname: host,
    receiver_port: port,
    pin_sha256: raw.pin_sha256,
    static_x25519_pub: Buffer.from(pub),
    label: normaliseText(raw.label, LABEL_MAX_CHARS),
    paired_at: typeof raw.paired_at === 'number' && Number.isFinite(raw.paired_at) ? raw.paired_at : 0,
    status,
    esphome_version: normaliseText(raw.esphome_version, VERSION_MAX_CHARS),
    ...(raw.auto_provision_supported === true ? { auto_provision_supported: true } : {}),
    enabled: raw.enabled === undefined ? true : raw.enabled === true,
  };
}

interface LoadedFile {
  settings: Partial<OffloaderSettings> & { dashboard_id?: string };
  pairings: StoredPairing[];
}

export interface PairingStoreOptions {
  report?: Reporter;
  /** When given, every change is also emitted as `pairings_changed` (wakes the dispatch pool). */
  bus?: EventBus;
}

/**
 * Pairings keyed by the receiver's pin. Mutations apply in memory at once and return a promise
 * for the (serialised, atomic) write.
 */
export class PairingStore {
  readonly file: string;
  private readonly pairings = new Map<string, StoredPairing>();
  private settingsValue: OffloaderSettings;
  private dashboardIdValue: string;
  private readonly report: Reporter;
  private readonly bus?: EventBus;
  private readonly listeners = new Set<(pin: string, change: PairingChange) => void>();
  private writeChain: Promise<void> = Promise.resolve();
  /** True when no dashboard_id was on disk and a fresh one was generated at load. */
  readonly dashboardIdGenerated: boolean;

  constructor(file: string, opts: PairingStoreOptions = {}) {
    this.file = file;
    this.report = opts.report ?? defaultReporter;
    this.bus = opts.bus;
    const loaded = readJsonOrQuarantine(file, (raw) => this.validate(raw), this.report);
    for (const p of loaded?.pairings ?? []) this.pairings.set(p.pin_sha256, p);
    const s = loaded?.settings ?? {};
    this.settingsValue = {
      remote_builds_enabled: s.remote_builds_enabled ?? true,
      version_match_policy: s.version_match_policy ?? 'any',
      include_local_in_pool: s.include_local_in_pool ?? false,
    };
    this.dashboardIdValue = s.dashboard_id ?? newDashboardId();
    this.dashboardIdGenerated = !s.dashboard_id;
    if (!s.dashboard_id) this.save().catch((err) => this.report(`could not write ${file}: ${(err as Error).message}`));
  }

  static inDataDir(dataDir: string, opts?: PairingStoreOptions): PairingStore {
    return new PairingStore(join(dataDir, PAIRINGS_FILE_NAME), opts);
  }

  /** This instance's dashboard_id as sent in pair_request / pair_status / peer_link. */
  get dashboardId(): string {
    return this.dashboardIdValue;
  }

  async setDashboardId(id: string): Promise<void> {
    if (!isValidDashboardId(id)) throw new Error('dashboard_id is not valid');
    this.dashboardIdValue = id;
    await this.save();
  }

  get settings(): Readonly<OffloaderSettings> {
    return { ...this.settingsValue };
  }

  async updateSettings(patch: Partial<OffloaderSettings>): Promise<OffloaderSettings> {
    const next = { ...this.settingsValue, ...patch };
    if (!isBool(next.remote_builds_enabled)) throw new Error('remote_builds_enabled must be a boolean');
    if (!isBool(next.include_local_in_pool)) throw new Error('include_local_in_pool must be a boolean');
    if (!VERSION_MATCH_POLICIES.includes(next.version_match_policy)) throw new Error(`version_match_policy must be one of ${VERSION_MATCH_POLICIES.join(', ')}`);
    this.settingsValue = next;
    this.notify('', 'updated');
    await this.save();
    return { ...next };
  }

  list(): StoredPairing[] {
    return [...this.pairings.values()].map(clonePairing);
  }

  get(pin: string): StoredPairing | undefined {
    const p = this.pairings.get(pin);
    return p ? clonePairing(p) : undefined;
  }

  /** Inserts or replaces the row for `pairing.pin_sha256`. */
  async put(pairing: StoredPairing): Promise<void> {
    const row = validatePairing({ ...pairing, static_x25519_pub: encodeBase64(pairing.static_x25519_pub) });
    const prev = this.pairings.get(row.pin_sha256);
    this.pairings.set(row.pin_sha256, row);
    this.notify(row.pin_sha256, row.status === 'pending' ? 'pending' : prev?.status === 'pending' ? 'approved' : 'added');
    await this.save();
  }

  /** Unpair: removes the row (and so, through the manager, its alerts and session). */
  async remove(pin: string): Promise<boolean> {
    if (!this.pairings.delete(pin)) return false;
    this.notify(pin, 'removed');
    await this.save();
    return true;
  }

  async setEnabled(pin: string, enabled: boolean): Promise<void> {
    const row = this.pairings.get(pin);
    if (!row) throw new Error(`no pairing with pin ${pin}`);
    if (row.enabled === enabled) return;
    row.enabled = enabled;
    this.notify(pin, enabled ? 'enabled' : 'disabled');
    await this.save();
  }

  async setEsphomeVersion(pin: string, version: string, autoProvision?: boolean): Promise<void> {
    const row = this.pairings.get(pin);
    const v = normaliseText(version, VERSION_MAX_CHARS);
    const ap = autoProvision ?? row?.auto_provision_supported ?? false;
    if (!row || (row.esphome_version === v && (row.auto_provision_supported ?? false) === ap)) return;
    row.esphome_version = v;
    row.auto_provision_supported = ap;
    this.notify(pin, 'esphome_version');
    if (row.status === 'approved') await this.save();
  }

  onChange(fn: (pin: string, change: PairingChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves when every write queued so far is on disk. */
  async flush(): Promise<void> {
    await this.writeChain;
  }

  private notify(pin: string, change: PairingChange): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(pin, change);
      } catch (err) {
        this.report(`pairing change listener threw: ${(err as Error).message}`);
      }
    }
    this.bus?.emit('pairings_changed', { pin, change });
  }

  private save(): Promise<void> {
    const body = JSON.stringify(
      {
        version: 1,
        dashboard_id: this.dashboardIdValue,
        ...this.settingsValue,
        pairings: [...this.pairings.values()].filter((p) => p.status === 'approved').map((p) => ({ ...p, static_x25519_pub: encodeBase64(p.static_x25519_pub) })),
      },
      null,
      2,
    );
    const write = () => writeFileAtomic(this.file, body);
    this.writeChain = this.writeChain.then(write, write);
    return this.writeChain;
  }

  private validate(raw: unknown): LoadedFile {
    if (!isObject(raw)) throw new Error('top level is not an object');
    if (raw.pairings !== undefined && !Array.isArray(raw.pairings)) throw new Error('pairings is not a list');
    const pairings: StoredPairing[] = [];
    for (const [i, row] of ((raw.pairings as unknown[] | undefined) ?? []).entries()) {
      try {
        const p = validatePairing(row);
        if (p.status === 'approved') pairings.push(p);
      } catch (err) {
        this.report(`${this.file}: skipping pairing row ${i}: ${(err as Error).message}`);
      }
    }
    const settings: LoadedFile['settings'] = {};
    if (isBool(raw.remote_builds_enabled)) settings.remote_builds_enabled = raw.remote_builds_enabled;
    if (isBool(raw.include_local_in_pool)) settings.include_local_in_pool = raw.include_local_in_pool;
    if (isStr(raw.version_match_policy) && (VERSION_MATCH_POLICIES as readonly string[]).includes(raw.version_match_policy)) {
      settings.version_match_policy = raw.version_match_policy as VersionMatchPolicy;
    }
    if (isValidDashboardId(raw.dashboard_id)) settings.dashboard_id = raw.dashboard_id;
    return { settings, pairings };
  }
}

function clonePairing(p: StoredPairing): StoredPairing {
  return { ...p, static_x25519_pub: Buffer.from(p.static_x25519_pub) };
}

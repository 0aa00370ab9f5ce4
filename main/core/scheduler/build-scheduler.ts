// The build scheduler's pure decisions (firmware-jobs.md §11.1–§11.2): where a compile should
// run, given a snapshot of pairings, live links, queue status and policy. No I/O, no clocks, so
// every rule is table-testable; the dispatch pool captures the snapshot and acts on the verdict.
import type { QueueStatus } from '../jobs/model';
import { isEsphomeVersion } from '../toolchains/version';

export const VERSION_MATCH_POLICIES = ['any', 'release', 'exact', 'exact_required'] as const;
export type VersionMatchPolicy = (typeof VERSION_MATCH_POLICIES)[number];

/** The scheduler's view of one offloader pairing (a subset of StoredPairing). */
export interface SchedulerPairing {
  pin_sha256: string;
  label: string;
  /** Unix seconds (float). Oldest pairing wins ties. */
  paired_at: number;
  status: 'approved' | 'pending';
  enabled: boolean;
  /** The server's esphome version, refreshed on each session open ("" = unknown). */
  esphome_version: string;
  /** It builds our version in a toolchain when its own differs (§9.5; upstream `_can_provision`). */
  auto_provision_supported?: boolean;
}

/** Everything a decision depends on, captured at decision time (§11.1). */
export interface SchedulerSnapshot {
  remoteBuildsEnabled: boolean;
  pairings: readonly SchedulerPairing[];
  connectedPins: ReadonlySet<string>;
  /** Last queue_status per pin; a missing entry means "not reported yet". */
  queueStatus: ReadonlyMap<string, QueueStatus>;
  localEsphomeVersion: string;
  versionPolicy: VersionMatchPolicy;
  /** Pins with one of our jobs in flight (the pool allows one per server). */
  busyPins: ReadonlySet<string>;
  includeLocalInPool: boolean;
  localCompileBusy: boolean;
}

export type Eligibility = 'not_intended' | 'disconnected' | 'version_filtered' | 'busy' | 'eligible';

export interface ClassifiedPairing {
  pairing: SchedulerPairing;
  eligibility: Eligibility;
}

export type BuildPathDecision =
  | { path: 'local'; pin: '' }
  | { path: 'remote'; pin: string }
  | { path: 'no_compatible_peer'; pin: ''; error: string };

export type DispatchDecision =
  | { target: 'remote'; pin: string; pairing: SchedulerPairing }
  | { target: 'wait' }
  | { target: 'local' }
  | { target: 'no_compatible_peer'; error: string };

/** `YYYY.MM` of an esphome version string, or null when it is not one. */
export function releaseLine(version: string): string | null {
  const m = /^\s*v?(\d{4})\.(\d{1,2})(?:\.|$|[^\d])/.exec(version);
  if (!m) return null;
  return `${Number(m[1])}.${Number(m[2])}`;
}

/**
 * Version gate. An unknown server version passes only `any`: under a stricter policy we cannot
 * prove compatibility, and a wrong guess would produce firmware built by the wrong toolchain.
 */
export function versionAllowed(policy: VersionMatchPolicy, local: string, remote: string): boolean {
  switch (policy) {
    case 'any':
      return true;
    case 'release': {
      const a = releaseLine(local);
      const b = releaseLine(remote);
      return a !== null && a === b;
    }
    case 'exact':
    case 'exact_required':
      return remote.trim() !== '' && local.trim() === remote.trim();
  }
}

/** Oldest first by (paired_at, pin) so the result never depends on map iteration order. */
export function sortPairings(pairings: readonly SchedulerPairing[]): SchedulerPairing[] {
  return [...pairings].sort((a, b) => a.paired_at - b.paired_at || (a.pin_sha256 < b.pin_sha256 ? -1 : a.pin_sha256 > b.pin_sha256 ? 1 : 0));
}

/** A build server that installs our exact version passes any version policy (upstream's rule). */
export function canProvision(p: SchedulerPairing, localVersion: string): boolean {
  return p.auto_provision_supported === true && isEsphomeVersion(localVersion);
}

export function isIntended(p: SchedulerPairing): boolean {
  return p.status === 'approved' && p.enabled;
}

/** §11.1 eligibility, in the documented check order, oldest pairing first. */
export function classifyPairings(s: SchedulerSnapshot): ClassifiedPairing[] {
  return sortPairings(s.pairings).map((pairing) => {
    let eligibility: Eligibility;
    if (!isIntended(pairing)) eligibility = 'not_intended';
    else if (!s.connectedPins.has(pairing.pin_sha256)) eligibility = 'disconnected';
    else if (!versionAllowed(s.versionPolicy, s.localEsphomeVersion, pairing.esphome_version) && !canProvision(pairing, s.localEsphomeVersion)) eligibility = 'version_filtered';
    else if (s.busyPins.has(pairing.pin_sha256)) eligibility = 'busy';
    else eligibility = 'eligible';
    return { pairing, eligibility };
  });
}

/** The `no_compatible_peer` diagnostic of §11.2, worded exactly. */
export function noCompatiblePeerMessage(classified: readonly ClassifiedPairing[], localVersion: string): string {
  const intended = classified.filter((c) => c.eligibility !== 'not_intended');
  const mismatch = intended.filter((c) => c.eligibility === 'version_filtered').length;
  const closed = intended.filter((c) => c.eligibility === 'disconnected').length;
  return (
    `version policy 'exact_required' with ${intended.length} intended peer(s) but none eligible ` +
    `(${mismatch} on version mismatch, ${closed} on closed peer-link; offloader='${localVersion}'); ` +
    `refusing to fall back to LOCAL`
  );
}

function isIdle(s: SchedulerSnapshot, pin: string): boolean {
  return s.queueStatus.get(pin)?.idle === true;
}

/** Idle first (oldest among the idle), else the oldest. `candidates` is already oldest-first. */
function preferIdle(s: SchedulerSnapshot, candidates: readonly SchedulerPairing[]): SchedulerPairing | undefined {
  return candidates.find((p) => isIdle(s, p.pin_sha256)) ?? candidates[0];
}

/**
 * §11.2 `pick_build_path`, at enqueue time: REMOTE means "send it to the pool"
 * (the job is created `remote_pending`; the pool binds the server at dispatch). A server our pool
 * is using still counts: its queue absorbs the job.
 */
export function pickBuildPath(s: SchedulerSnapshot): BuildPathDecision {
  if (!s.remoteBuildsEnabled || s.pairings.length === 0) return { path: 'local', pin: '' };
  const classified = classifyPairings(s);
  const usable = classified.filter((c) => c.eligibility === 'eligible' || c.eligibility === 'busy').map((c) => c.pairing);
  const chosen = preferIdle(s, usable);
  if (chosen) return { path: 'remote', pin: chosen.pin_sha256 };
  if (s.versionPolicy === 'exact_required' && classified.some((c) => c.eligibility !== 'not_intended')) {
    return { path: 'no_compatible_peer', pin: '', error: noCompatiblePeerMessage(classified, s.localEsphomeVersion) };
  }
  return { path: 'local', pin: '' };
}

/** §11.2 `pick_dispatch_target`, for one pending job at dispatch time. */
export function pickDispatchTarget(s: SchedulerSnapshot): DispatchDecision {
  if (!s.remoteBuildsEnabled) return { target: 'local' };
  const classified = classifyPairings(s);
  const free = classified.filter((c) => c.eligibility === 'eligible').map((c) => c.pairing);
  const chosen = preferIdle(s, free);
  if (chosen) return { target: 'remote', pin: chosen.pin_sha256, pairing: chosen };
  if (classified.some((c) => c.eligibility === 'busy')) {
    return s.includeLocalInPool && !s.localCompileBusy ? { target: 'local' } : { target: 'wait' };
  }
  if (s.versionPolicy === 'exact_required' && classified.some((c) => c.eligibility !== 'not_intended')) {
    if (classified.some((c) => c.eligibility === 'disconnected')) return { target: 'wait' };
    return { target: 'no_compatible_peer', error: noCompatiblePeerMessage(classified, s.localEsphomeVersion) };
  }
  return { target: 'local' };
}

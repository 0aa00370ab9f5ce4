// A build server that provisions our exact ESPHome version passes every version policy
// (upstream build_scheduler `_can_provision`), but only for a version it can pin.
import { describe, expect, it } from 'vitest';
import { canProvision, classifyPairings, type SchedulerPairing, type SchedulerSnapshot } from '../build-scheduler';
import { must } from '../../../../test/support/must';

const PIN = 'a'.repeat(64);
const pairing = (over: Partial<SchedulerPairing> = {}): SchedulerPairing => ({ pin_sha256: PIN, label: 'srv', paired_at: 1, status: 'approved', enabled: true, esphome_version: '2025.12.2', ...over });
const snap = (p: SchedulerPairing, local: string, policy: SchedulerSnapshot['versionPolicy']): SchedulerSnapshot => ({
  remoteBuildsEnabled: true,
  pairings: [p],
  connectedPins: new Set([PIN]),
  queueStatus: new Map([[PIN, { idle: true, running: false, queue_depth: 0 }]]),
  localEsphomeVersion: local,
  versionPolicy: policy,
  busyPins: new Set(),
  includeLocalInPool: false,
  localCompileBusy: false,
});

describe('provisioning build servers and the version policy', () => {
  it('a mismatched server is filtered unless it provisions', () => {
    for (const policy of ['release', 'exact', 'exact_required'] as const) {
      expect(must(classifyPairings(snap(pairing(), '2026.10.0', policy))[0]).eligibility, policy).toBe('version_filtered');
      expect(must(classifyPairings(snap(pairing({ auto_provision_supported: true }), '2026.10.0', policy))[0]).eligibility, policy).toBe('eligible');
    }
  });
  it('only a pinnable local version can be provisioned', () => {
    expect(canProvision(pairing({ auto_provision_supported: true }), '2026.10.0')).toBe(true);
    expect(canProvision(pairing({ auto_provision_supported: true }), '2026.10.0-dev')).toBe(false);
    expect(canProvision(pairing({ auto_provision_supported: true }), '')).toBe(false);
    expect(canProvision(pairing({ auto_provision_supported: false }), '2026.10.0')).toBe(false);
    expect(must(classifyPairings(snap(pairing({ auto_provision_supported: true }), '2026.10.0+local', 'exact'))[0]).eligibility).toBe('version_filtered');
  });
});

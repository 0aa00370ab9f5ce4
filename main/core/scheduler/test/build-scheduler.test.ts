import { describe, expect, it } from 'vitest';
import {
  classifyPairings,
  noCompatiblePeerMessage,
  pickBuildPath,
  pickDispatchTarget,
  releaseLine,
  versionAllowed,
  type SchedulerPairing,
  type SchedulerSnapshot,
  type VersionMatchPolicy,
} from '../build-scheduler';
import type { QueueStatus } from '../../jobs/model';

const PIN_A = 'a'.repeat(64);
const PIN_B = 'b'.repeat(64);
const PIN_C = 'c'.repeat(64);
const IDLE: QueueStatus = { idle: true, running: false, queue_depth: 0 };
const BUSY: QueueStatus = { idle: false, running: true, queue_depth: 2 };

function pairing(pin: string, paired_at: number, over: Partial<SchedulerPairing> = {}): SchedulerPairing {
  return { pin_sha256: pin, label: `srv-${pin[0]}`, paired_at, status: 'approved', enabled: true, esphome_version: '2026.5.0', ...over };
}

function snap(over: Partial<SchedulerSnapshot> & { pairings: SchedulerPairing[] }): SchedulerSnapshot {
  return {
    remoteBuildsEnabled: true,
    connectedPins: new Set(over.pairings.map((p) => p.pin_sha256)),
    queueStatus: new Map(over.pairings.map((p) => [p.pin_sha256, IDLE])),
    localEsphomeVersion: '2026.5.0',
    versionPolicy: 'any',
    busyPins: new Set(),
    includeLocalInPool: false,
    localCompileBusy: false,
    ...over,
  };
}

describe('pickBuildPath', () => {
  const cases: Array<{ name: string; s: SchedulerSnapshot; want: string }> = [
    { name: 'master switch off → local even with idle servers', s: snap({ remoteBuildsEnabled: false, pairings: [pairing(PIN_A, 1)] }), want: 'local' },
    { name: 'master switch off beats exact_required', s: snap({ remoteBuildsEnabled: false, versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1, { esphome_version: '2025.1.0' })] }), want: 'local' },
    { name: 'no pairings → local', s: snap({ pairings: [] }), want: 'local' },
    { name: 'pending pairing skipped', s: snap({ pairings: [pairing(PIN_A, 1, { status: 'pending' })] }), want: 'local' },
    { name: 'disabled pairing skipped', s: snap({ pairings: [pairing(PIN_A, 1, { enabled: false })] }), want: 'local' },
    { name: 'disconnected pairing skipped', s: snap({ pairings: [pairing(PIN_A, 1)], connectedPins: new Set() }), want: 'local' },
    {
      name: 'skipped rows fall through to the next intended connected server',
      s: snap({
        pairings: [pairing(PIN_A, 1, { status: 'pending' }), pairing(PIN_B, 2, { enabled: false }), pairing(PIN_C, 3)],
      }),
      want: `remote:${PIN_C}`,
    },
    { name: 'busy single server (queue) still remote', s: snap({ pairings: [pairing(PIN_A, 1)], queueStatus: new Map([[PIN_A, BUSY]]) }), want: `remote:${PIN_A}` },
    { name: 'busy single server (our in-flight job) still remote', s: snap({ pairings: [pairing(PIN_A, 1)], busyPins: new Set([PIN_A]) }), want: `remote:${PIN_A}` },
    { name: 'no queue_status yet still remote', s: snap({ pairings: [pairing(PIN_A, 1)], queueStatus: new Map() }), want: `remote:${PIN_A}` },
    {
      name: 'idle wins over an older busy server',
      s: snap({ pairings: [pairing(PIN_A, 1), pairing(PIN_B, 2)], queueStatus: new Map([[PIN_A, BUSY], [PIN_B, IDLE]]) }),
      want: `remote:${PIN_B}`,
    },
    {
      name: 'oldest paired_at wins regardless of map order',
      s: snap({ pairings: [pairing(PIN_C, 30), pairing(PIN_A, 20), pairing(PIN_B, 10)] }),
      want: `remote:${PIN_B}`,
    },
    {
      name: 'all busy → oldest',
      s: snap({
        pairings: [pairing(PIN_C, 30), pairing(PIN_A, 20), pairing(PIN_B, 25)],
        queueStatus: new Map([[PIN_A, BUSY], [PIN_B, BUSY], [PIN_C, BUSY]]),
      }),
      want: `remote:${PIN_A}`,
    },
    {
      name: 'paired_at tie broken by pin',
      s: snap({ pairings: [pairing(PIN_B, 5), pairing(PIN_A, 5)] }),
      want: `remote:${PIN_A}`,
    },
    // Version policies.
    { name: 'any: mismatched version still remote', s: snap({ pairings: [pairing(PIN_A, 1, { esphome_version: '2024.1.0' })] }), want: `remote:${PIN_A}` },
    { name: 'release: same YYYY.MM → remote', s: snap({ versionPolicy: 'release', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.5.3' })] }), want: `remote:${PIN_A}` },
    { name: 'release: other month → local', s: snap({ versionPolicy: 'release', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.4.0' })] }), want: 'local' },
    { name: 'exact: patch differs → local', s: snap({ versionPolicy: 'exact', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.5.1' })] }), want: 'local' },
    { name: 'exact: equal → remote', s: snap({ versionPolicy: 'exact', pairings: [pairing(PIN_A, 1)] }), want: `remote:${PIN_A}` },
    {
      name: 'exact: filtered server skipped, compatible younger one chosen',
      s: snap({ versionPolicy: 'exact', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.4.0' }), pairing(PIN_B, 2)] }),
      want: `remote:${PIN_B}`,
    },
    { name: 'exact_required: mismatch → no_compatible_peer', s: snap({ versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.4.0' })] }), want: 'no_compatible_peer' },
    { name: 'exact_required: disconnected → no_compatible_peer', s: snap({ versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1)], connectedPins: new Set() }), want: 'no_compatible_peer' },
    { name: 'exact_required: only non-intended rows → local', s: snap({ versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1, { enabled: false })] }), want: 'local' },
    { name: 'exact_required: equal → remote', s: snap({ versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1)] }), want: `remote:${PIN_A}` },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = pickBuildPath(c.s);
      expect(d.path === 'remote' ? `remote:${d.pin}` : d.path).toBe(c.want);
    });
  }

  it('words the exact_required diagnostic with counts and the offloader version', () => {
    const s = snap({
      versionPolicy: 'exact_required',
      localEsphomeVersion: '2026.5.0',
      pairings: [pairing(PIN_A, 1, { esphome_version: '2026.4.0' }), pairing(PIN_B, 2), pairing(PIN_C, 3, { enabled: false })],
      connectedPins: new Set([PIN_A]),
    });
    const d = pickBuildPath(s);
    expect(d).toEqual({
      path: 'no_compatible_peer',
      pin: '',
      error:
        "version policy 'exact_required' with 2 intended peer(s) but none eligible (1 on version mismatch, 1 on closed peer-link; offloader='2026.5.0'); refusing to fall back to LOCAL",
    });
  });
});

describe('pickDispatchTarget', () => {
  const cases: Array<{ name: string; s: SchedulerSnapshot; want: string }> = [
    { name: 'free idle server → remote', s: snap({ pairings: [pairing(PIN_A, 1)] }), want: `remote:${PIN_A}` },
    { name: 'switch off → local', s: snap({ remoteBuildsEnabled: false, pairings: [pairing(PIN_A, 1)] }), want: 'local' },
    { name: 'no connected server → local', s: snap({ pairings: [pairing(PIN_A, 1)], connectedPins: new Set() }), want: 'local' },
    { name: 'no pairings → local', s: snap({ pairings: [] }), want: 'local' },
    { name: 'only server busy with our job → wait', s: snap({ pairings: [pairing(PIN_A, 1)], busyPins: new Set([PIN_A]) }), want: 'wait' },
    {
      name: 'all busy + include_local_in_pool + local free → local',
      s: snap({ pairings: [pairing(PIN_A, 1)], busyPins: new Set([PIN_A]), includeLocalInPool: true }),
      want: 'local',
    },
    {
      name: 'all busy + include_local_in_pool + local busy → wait',
      s: snap({ pairings: [pairing(PIN_A, 1)], busyPins: new Set([PIN_A]), includeLocalInPool: true, localCompileBusy: true }),
      want: 'wait',
    },
    {
      name: 'busy pin skipped for the next free one',
      s: snap({ pairings: [pairing(PIN_A, 1), pairing(PIN_B, 2)], busyPins: new Set([PIN_A]) }),
      want: `remote:${PIN_B}`,
    },
    {
      name: 'free server reporting a busy queue still takes work (oldest free)',
      s: snap({ pairings: [pairing(PIN_A, 1), pairing(PIN_B, 2)], busyPins: new Set([PIN_A]), queueStatus: new Map([[PIN_B, BUSY]]) }),
      want: `remote:${PIN_B}`,
    },
    {
      name: 'idle free server preferred over an older free busy-queue server',
      s: snap({ pairings: [pairing(PIN_A, 1), pairing(PIN_B, 2)], queueStatus: new Map([[PIN_A, BUSY], [PIN_B, IDLE]]) }),
      want: `remote:${PIN_B}`,
    },
    {
      name: 'exact_required connected-but-incompatible → no_compatible_peer',
      s: snap({ versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.4.0' })] }),
      want: 'no_compatible_peer',
    },
    {
      name: 'exact_required with a disconnected intended server → wait',
      s: snap({ versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.4.0' }), pairing(PIN_B, 2)], connectedPins: new Set([PIN_A]) }),
      want: 'wait',
    },
    {
      name: 'exact_required with its only compatible server busy → wait',
      s: snap({ versionPolicy: 'exact_required', pairings: [pairing(PIN_A, 1)], busyPins: new Set([PIN_A]) }),
      want: 'wait',
    },
    { name: 'exact (not required) incompatible → local', s: snap({ versionPolicy: 'exact', pairings: [pairing(PIN_A, 1, { esphome_version: 'x' })] }), want: 'local' },
    { name: 'release incompatible → local', s: snap({ versionPolicy: 'release', pairings: [pairing(PIN_A, 1, { esphome_version: '2025.12.0' })] }), want: 'local' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = pickDispatchTarget(c.s);
      expect(d.target === 'remote' ? `remote:${d.pin}` : d.target).toBe(c.want);
    });
  }

  it('carries the diagnostic on no_compatible_peer', () => {
    const s = snap({ versionPolicy: 'exact_required', localEsphomeVersion: '2026.5.0', pairings: [pairing(PIN_A, 1, { esphome_version: '2026.4.0' })] });
    const d = pickDispatchTarget(s);
    expect(d).toEqual({ target: 'no_compatible_peer', error: noCompatiblePeerMessage(classifyPairings(s), '2026.5.0') });
    expect(d.target === 'no_compatible_peer' && d.error).toContain('1 intended peer(s) but none eligible (1 on version mismatch, 0 on closed peer-link');
  });
});

describe('version helpers', () => {
  it('extracts the release line', () => {
    expect(releaseLine('2026.5.0')).toBe('2026.5');
    expect(releaseLine('2026.05.1b2')).toBe('2026.5');
    expect(releaseLine('2026.12.0-dev')).toBe('2026.12');
    expect(releaseLine('')).toBeNull();
    expect(releaseLine('dev')).toBeNull();
  });
  const table: Array<[VersionMatchPolicy, string, string, boolean]> = [
    ['any', '2026.5.0', '', true],
    ['release', '2026.5.0', '2026.5.9', true],
    ['release', '2026.5.0', '2026.6.0', false],
    ['release', '2026.5.0', '', false],
    ['exact', '2026.5.0', '2026.5.0', true],
    ['exact', '2026.5.0', '2026.5.0b1', false],
    ['exact', '2026.5.0', '', false],
    ['exact_required', '2026.5.0', ' 2026.5.0 ', true],
  ];
  for (const [policy, local, remote, want] of table) {
    it(`${policy}: ${local} vs '${remote}' → ${want}`, () => expect(versionAllowed(policy, local, remote)).toBe(want));
  }

  it('classifies in the documented order (disconnected beats version beats busy)', () => {
    const s = snap({
      versionPolicy: 'exact',
      pairings: [pairing(PIN_A, 1, { esphome_version: 'old' }), pairing(PIN_B, 2, { esphome_version: 'old' }), pairing(PIN_C, 3)],
      connectedPins: new Set([PIN_B, PIN_C]),
      busyPins: new Set([PIN_B, PIN_C]),
    });
    expect(classifyPairings(s).map((c) => c.eligibility)).toEqual(['disconnected', 'version_filtered', 'busy']);
  });
});

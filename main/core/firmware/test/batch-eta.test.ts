// The batch ETA rule (batch-eta.ts) and the "flashed since built" rule of Update all (batch.ts).
import { describe, expect, it } from 'vitest';
import { estimateEtaSeconds, priorBuildMs } from '../batch-eta';
import { flashedSince } from '../batch';
import { createJob } from '../../jobs/model';

describe('batch ETA', () => {
  const now = 100_000;
  it('is null without a basis, then the mean of finished devices over the parallelism', () => {
    expect(estimateEtaSeconds([{ ended: false, startedAt: null, priorMs: null }], [], 1, now)).toBeNull();
    // Two left, 60 s each, one of them running for 20 s, two at a time: (40 + 60) / 2 = 50 s.
    const items = [
      { ended: true, startedAt: 0, priorMs: null },
      { ended: false, startedAt: now - 20_000, priorMs: null },
      { ended: false, startedAt: null, priorMs: null },
    ];
    expect(estimateEtaSeconds(items, [60_000], 2, now)).toBe(50);
    expect(estimateEtaSeconds(items.map((i) => ({ ...i, ended: true })), [60_000], 2, now)).toBe(0);
  });
  it('uses each device\'s last build time before the first device finished; never below zero', () => {
    expect(estimateEtaSeconds([{ ended: false, startedAt: null, priorMs: 30_000 }, { ended: false, startedAt: now - 99_000, priorMs: 10_000 }], [], 1, now)).toBe(30);
  });
  it('prior build time from the newest completed compile in the history', () => {
    const j = (status: string, a: string | null, b: string | null) => ({ job_type: 'compile', status, compile_started_at: a, compile_ended_at: b });
    expect(priorBuildMs([j('failed', '2026-01-01T00:00:00Z', '2026-01-01T00:00:09Z'), j('completed', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z')])).toBe(60_000);
    expect(priorBuildMs([j('completed', null, null)])).toBeNull();
  });
});

describe('flashedSince', () => {
  const build = { job_id: 'aaaaaaaaaaaa', built_at: '2026-01-01T10:00:00.000Z' };
  const job = (o: Partial<ReturnType<typeof createJob>>) => ({ ...createJob({ configuration: 'a.yaml', job_type: 'upload' }), status: 'completed' as const, ...o });
  it('an upload of the build\'s own compile, or one queued after it was built', () => {
    expect(flashedSince([job({ depends_on: build.job_id, created_at: '2026-01-01T09:59:00.000Z' })], build)).toBe(true);
    expect(flashedSince([job({ created_at: '2026-01-01T10:05:00.000Z' })], build)).toBe(true);
  });
  it('not: no upload, an older upload, a failed one, a compile', () => {
    expect(flashedSince([], build)).toBe(false);
    expect(flashedSince([job({ created_at: '2026-01-01T09:00:00.000Z' })], build)).toBe(false);
    expect(flashedSince([job({ status: 'failed', created_at: '2026-01-01T11:00:00.000Z' })], build)).toBe(false);
    expect(flashedSince([job({ job_type: 'compile', created_at: '2026-01-01T11:00:00.000Z' })], build)).toBe(false);
  });
});

// The ETA of a fleet batch. How it is estimated:
//   1. Each device still to do is expected to take the mean duration (first job start → last job
//      end) of the batch's devices that already completed. Before the first one completed, the
//      device's own last build from the job history is used instead (the library keeps what was
//      built, the history how long it took: compile_started_at → compile_ended_at).
//   2. A running device is credited the time it has already run (never below zero left).
//   3. The sum is divided by the parallelism seen so far: the most devices running at once
//      (the dispatch pool spreads compiles over idle build servers and this computer).
// No basis for some device (nothing finished yet and no history for it) → null: "estimating…".

export interface EtaItem {
  /** Ended (any outcome) — it needs no more time. */
  ended: boolean;
  /** ms since epoch the device's first job started; null while queued. */
  startedAt: number | null;
  /** How long this device's last build took before the batch (ms), from the job history. */
  priorMs: number | null;
}

export function estimateEtaSeconds(items: readonly EtaItem[], finishedDurationsMs: readonly number[], peakRunning: number, now: number): number | null {
  const open = items.filter((i) => !i.ended);
  if (open.length === 0) return 0;
  const batchMean = finishedDurationsMs.length > 0 ? finishedDurationsMs.reduce((a, b) => a + b, 0) / finishedDurationsMs.length : null;
  let left = 0;
  for (const i of open) {
    const expected = batchMean ?? i.priorMs;
    if (expected === null) return null;
    const ran = i.startedAt !== null ? Math.max(0, now - i.startedAt) : 0;
    left += Math.max(0, expected - ran);
  }
  return Math.round(left / Math.max(1, peakRunning) / 1000);
}

/** The duration of a device's last finished build in the job history (ms), or null. */
export function priorBuildMs(jobs: ReadonlyArray<{ job_type: string; status: string; compile_started_at: string | null; compile_ended_at: string | null }>): number | null {
  for (const j of jobs) {
    if (j.status !== 'completed' || (j.job_type !== 'compile' && j.job_type !== 'install')) continue;
    if (!j.compile_started_at || !j.compile_ended_at) continue;
    const ms = Date.parse(j.compile_ended_at) - Date.parse(j.compile_started_at);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return null;
}

// What the window shows beside a job that the engine does not store: the failure summary (first
// decisive error line + kind, main/core/jobs/failure-summary.ts), the job's moves between build
// servers and this computer ("Lost fast-box mid-build — …"), and which job replaced it after
// "Build locally instead". Fed from the bus (every output chunk), kept in memory; a failed job
// from an earlier run gets its summary from its stored log on first sight.
import type { Job, JobFailure } from '../../../preload/contract';
import { FailureScanner, summarizeFailure } from '../jobs/failure-summary';
import { serializeJob, type FirmwareJob } from '../jobs/model';

export class JobAnnotations {
  private readonly scanners = new Map<string, FailureScanner>();
  private readonly failures = new Map<string, JobFailure>();
  private readonly history = new Map<string, string[]>();
  private readonly replacedBy = new Map<string, string>();
  private readonly backfilling = new Set<string>();

  constructor(
    private readonly readLog: (jobId: string) => Promise<string[]>,
    /** Called when a summary read from disk is ready (the service broadcasts jobsChanged). */
    private readonly onBackfill: () => void,
  ) {}

  output(jobId: string, chunk: string): void {
    let s = this.scanners.get(jobId);
    if (!s) {
      s = new FailureScanner();
      this.scanners.set(jobId, s);
    }
    const before = s.moves.length;
    s.feed(chunk);
    if (s.moves.length > before) this.history.set(jobId, [...(this.history.get(jobId) ?? []), ...s.moves.slice(before)]);
  }

  /** A job ended: its summary is fixed now (a retried job gets a new id, so no reset needed). */
  ended(job: FirmwareJob): void {
    const s = this.scanners.get(job.job_id);
    this.scanners.delete(job.job_id);
    if (job.status === 'failed') this.failures.set(job.job_id, (s ?? new FailureScanner()).summary(job));
  }

  /** A job went back to the queue (re-routed): a later failure is about the new attempt. */
  requeued(jobId: string): void {
    this.failures.delete(jobId);
    this.scanners.delete(jobId);
  }

  /** Marks jobs as being replaced before they are cancelled (the id follows with `replaced`). */
  replacing(ids: string[]): void {
    for (const id of ids) this.replacedBy.set(id, 'pending');
  }

  notReplaced(ids: string[]): void {
    for (const id of ids) if (this.replacedBy.get(id) === 'pending') this.replacedBy.delete(id);
  }

  /** "Build locally instead": the old jobs are replaced; the new one remembers the move. */
  replaced(oldIds: string[], next: FirmwareJob, note: string): void {
    for (const id of oldIds) this.replacedBy.set(id, next.job_id);
    const first = oldIds[0];
    this.history.set(next.job_id, [...((first === undefined ? undefined : this.history.get(first)) ?? []), note]);
  }

  forget(jobId: string): void {
    this.scanners.delete(jobId);
    this.failures.delete(jobId);
    this.history.delete(jobId);
    this.replacedBy.delete(jobId);
  }

  view(job: FirmwareJob): Job {
    return {
      ...(serializeJob(job, { withOutput: false }) as Omit<Job, 'failure' | 'history' | 'replaced_by'>),
      failure: job.status === 'failed' ? this.failureOf(job) : null,
      history: this.history.get(job.job_id) ?? [],
      replaced_by: this.replacedBy.get(job.job_id) ?? '',
    };
  }

  private failureOf(job: FirmwareJob): JobFailure {
    const known = this.failures.get(job.job_id);
    if (known) return known;
    if (job.output.length > 0) {
      const s = summarizeFailure(job.output, job);
      this.failures.set(job.job_id, s);
      return s;
    }
    // From an earlier run (jobs.json keeps no output): read the stored log once, then say so.
    if (!this.backfilling.has(job.job_id)) {
      this.backfilling.add(job.job_id);
      this.readLog(job.job_id)
        .then((lines) => {
          this.failures.set(job.job_id, summarizeFailure(lines, job));
          this.onBackfill();
        })
        .catch(() => undefined);
    }
    return summarizeFailure([], job);
  }
}

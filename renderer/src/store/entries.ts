// One row per install (issue 16): an install is a compile job with a held upload (linked by the
// upload's depends_on); the list shows them as one entry with two stages. Jobs that "Build
// locally instead" replaced (replaced_by) are not shown: the job that replaced them carries the
// move in its history.
import type { Job, JobStatus } from '../../../preload/contract';

export interface TaskEntry {
  /** The chain's first job (the compile of an install). */
  head: Job;
  /** The install's upload stage, when there is one. */
  upload?: Job;
  /** The stage that matters now: the upload once the compile completed, else the head. */
  current: Job;
  status: JobStatus;
}

const isActive = (s: JobStatus) => s === 'queued' || s === 'running';

export function entryOf(head: Job, upload: Job | undefined): TaskEntry {
  const current = upload && head.status === 'completed' ? upload : head;
  return { head, upload, current, status: current.status };
}

export function buildEntries(byId: Record<string, Job>): { active: TaskEntry[]; recent: TaskEntry[] } {
  const all = Object.values(byId);
  const uploads = new Map<string, Job>();
  for (const j of all) if (j.depends_on && j.job_type === 'upload' && byId[j.depends_on]) uploads.set(j.depends_on, j);
  const shownAsStage = new Set([...uploads.values()].map((j) => j.job_id));
  const entries = all.filter((j) => !j.replaced_by && !shownAsStage.has(j.job_id)).map((j) => entryOf(j, uploads.get(j.job_id)));
  const running = entries.filter((e) => e.status === 'running').sort((a, b) => (a.head.started_at ?? '').localeCompare(b.head.started_at ?? ''));
  const queued = entries.filter((e) => e.status === 'queued').sort((a, b) => a.head.created_at.localeCompare(b.head.created_at));
  const recent = entries
    .filter((e) => !isActive(e.status))
    .sort((a, b) => (b.current.completed_at ?? b.current.created_at).localeCompare(a.current.completed_at ?? a.current.created_at));
  return { active: [...running, ...queued], recent };
}

/** The entry a job belongs to (its own, or its install's when it is the upload stage). */
export function entryForJob(byId: Record<string, Job>, jobId: string): TaskEntry | undefined {
  const job = byId[jobId];
  if (!job) return undefined;
  const compile = job.job_type === 'upload' && job.depends_on ? byId[job.depends_on] : undefined;
  if (compile) return entryOf(compile, job);
  const upload = Object.values(byId).find((j) => j.depends_on === jobId && j.job_type === 'upload');
  return entryOf(job, upload);
}

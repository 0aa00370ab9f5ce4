// Jobs, normalised (byId); the list order is derived (ui-and-users §1.2): running, then queued
// oldest-first, then terminal newest-first by completed_at.
import { create } from 'zustand';
import type { Job, JobsPage } from '../../../preload/contract';

interface JobsState {
  byId: Record<string, Job>;
  loaded: boolean;
  /** Cursor of the next older page (getJobsPage); null when every job is loaded. */
  nextCursor: string | null;
  setAll(jobs: Job[]): void;
  /**
   * A page from getJobsPage. 'first' replaces the list (a (re)connect or a history change);
   * 'older' adds a page of older finished jobs. jobLifecycle deltas go through upsert.
   */
  applyPage(page: JobsPage, kind: 'first' | 'older'): void;
  upsert(job: Job): void;
  setProgress(jobId: string, progress: number): void;
}

export const useJobs = create<JobsState>((set) => ({
  byId: {},
  loaded: false,
  nextCursor: null,
  setAll: (jobs) => set({ byId: Object.fromEntries(jobs.map((j) => [j.job_id, j])), loaded: true, nextCursor: null }),
  applyPage: (page, kind) =>
    set((s) => {
      const byId: Record<string, Job> = kind === 'first' ? {} : { ...s.byId };
      for (const j of page.jobs) byId[j.job_id] = j;
      return { byId, loaded: true, nextCursor: kind === 'first' || s.nextCursor !== null ? page.nextCursor : null };
    }),
  upsert: (job) => set((s) => ({ byId: { ...s.byId, [job.job_id]: job } })),
  setProgress: (jobId, progress) =>
    set((s) => {
      const j = s.byId[jobId];
      if (!j || j.progress === progress) return s;
      return { byId: { ...s.byId, [jobId]: { ...j, progress } } };
    }),
}));

export const isActiveJob = (j: Job) => j.status === 'queued' || j.status === 'running';

export function groupJobs(byId: Record<string, Job>): { active: Job[]; recent: Job[] } {
  const all = Object.values(byId);
  const running = all.filter((j) => j.status === 'running').sort((a, b) => (a.started_at ?? '').localeCompare(b.started_at ?? ''));
  const queued = all.filter((j) => j.status === 'queued').sort((a, b) => a.created_at.localeCompare(b.created_at));
  const recent = all
    .filter((j) => !isActiveJob(j))
    .sort((a, b) => (b.completed_at ?? b.created_at).localeCompare(a.completed_at ?? a.created_at));
  return { active: [...running, ...queued], recent };
}

/** The held upload of an install chain, if any. */
export function dependentOf(byId: Record<string, Job>, jobId: string): Job | undefined {
  return Object.values(byId).find((j) => j.depends_on === jobId);
}

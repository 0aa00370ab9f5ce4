// One page of the job list for a window (issue 18 §3): every active job (few) plus the newest
// terminal jobs, newest first, so a connect costs a page, not the whole 500-job history. Later
// pages follow an opaque cursor; job lifecycle events keep the window's copy current.
import type { Job, JobsPage } from '../../../preload/contract';
import { isActive, type FirmwareJob } from '../jobs/model';

export const DEFAULT_JOBS_PAGE = 100;

/** Sort key of a terminal job: newest first by completion (creation when it never ran), then id. */
function keyOf(j: FirmwareJob): string {
  return `${j.completed_at ?? j.created_at}|${j.job_id}`;
}

export function jobsPage(all: readonly FirmwareJob[], view: (j: FirmwareJob) => Job, p: { limit?: number; cursor?: string }): JobsPage {
  const limit = p.limit ?? DEFAULT_JOBS_PAGE;
  const terminal = all
    .filter((j) => !isActive(j))
    .map((j) => ({ j, key: keyOf(j) }))
    .sort((a, b) => (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));
  const from = p.cursor === undefined ? terminal : terminal.filter((t) => t.key < p.cursor!);
  const slice = from.slice(0, limit);
  const jobs = [...(p.cursor === undefined ? all.filter(isActive) : []), ...slice.map((t) => t.j)].map(view);
  return { jobs, total: all.length, nextCursor: from.length > limit ? (slice.at(-1)?.key ?? null) : null };
}

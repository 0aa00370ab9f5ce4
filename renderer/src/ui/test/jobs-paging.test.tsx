// @vitest-environment happy-dom
// Issue 18 §3 in the window: a connect fetches one page of jobs (getJobsPage), lifecycle events
// are merged as deltas, "Show older tasks" adds the next page, a history change re-fetches as
// many as are shown, and a configurationsChanged delta is merged into the list without a fetch.
// The scripted backend pages with the server's own jobsPage().
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobsPage } from '../../../../main/core/api/jobs-page';
import type { FirmwareJob } from '../../../../main/core/jobs/model';
import type { ConfigurationEntry, Job } from '../../../../preload/contract';
import { useApp } from '../../store/app';
import { useJobs } from '../../store/jobs';
import { startSync } from '../../sync';
import { TaskList } from '../TaskList';
import { testJob } from './job-fixture';
import { connectAnswers, scriptedBackend } from './scripted-api';

/** The i-th completed compile of a fleet: ids and times grow with i. */
function job(i: number, over: Partial<Job> = {}): Job {
  const t = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  return testJob({
    job_id: i.toString(16).padStart(12, '0'),
    configuration: `dev-${i}.yaml`,
    status: 'completed',
    created_at: t,
    started_at: t,
    completed_at: t,
    exit_code: 0,
    ...over,
  });
}

function fleetBackend(jobs: Job[], configurations: ConfigurationEntry[]) {
  return scriptedBackend({
    ...connectAnswers(),
    getJobs: () => jobs,
    getJobsPage: (p: { limit?: number; cursor?: string }) => jobsPage(jobs as unknown as FirmwareJob[], (j) => j as unknown as Job, p),
    listConfigurations: () => configurations,
  });
}

const flush = () => act(async () => await new Promise((r) => setTimeout(r, 10)));
const recentRows = () => within(screen.getByTestId('recent-list')).getAllByRole('listitem').length;

beforeEach(() => {
  useApp.setState({ view: 'tasks', selectedJobId: null, queuePaused: null, toasts: [], filter: 'all', configurations: null });
  useJobs.setState({ byId: {}, loaded: false, nextCursor: null });
});
afterEach(() => cleanup());

describe('job list paging and deltas', () => {
  it('a connect loads one page (+ active jobs); deltas merge; older pages load on demand', async () => {
    const jobs = Array.from({ length: 250 }, (_, i) => job(i));
    jobs.push(job(1000, { status: 'running', completed_at: null, exit_code: null }));
    const b = fleetBackend(jobs, []);
    startSync(b.backend);
    await b.connect();
    expect(b.count('getJobs')).toBe(0);
    expect(b.calls.find((c) => c.method === 'getJobsPage')?.params).toEqual({ limit: 100 });
    render(<TaskList />);
    expect(recentRows()).toBe(100);
    expect(within(screen.getByTestId('active-list')).getAllByRole('listitem')).toHaveLength(1);
    expect(useJobs.getState().byId[job(249).job_id]).toBeDefined(); // newest first
    expect(useJobs.getState().byId[job(149).job_id]).toBeUndefined();

    // A delta: the running job finishes, a new one is queued — no fetch.
    const pages = b.count('getJobsPage');
    act(() => {
      b.emit('jobLifecycle', { kind: 'completed', job: job(1000) });
      b.emit('jobLifecycle', { kind: 'queued', job: job(1001, { status: 'queued', completed_at: null }) });
    });
    expect(b.count('getJobsPage')).toBe(pages);
    expect(recentRows()).toBe(101);
    expect(useJobs.getState().byId[job(1001).job_id]?.status).toBe('queued');

    // Older pages.
    fireEvent.click(screen.getByTestId('older-tasks-btn'));
    await flush();
    expect(recentRows()).toBe(201);
    fireEvent.click(screen.getByTestId('older-tasks-btn'));
    await flush();
    expect(recentRows()).toBe(251);
    expect(screen.queryByTestId('older-tasks-btn')).toBeNull();

    // A history change (clear, prune) re-fetches as many as are shown, in one page.
    jobs.splice(0, 10);
    jobs[jobs.length - 1] = job(1000);
    jobs.push(job(1001, { status: 'queued', completed_at: null }));
    b.emit('jobsChanged', { reason: 'prune' });
    await flush();
    expect(b.calls.at(-1)).toEqual({ method: 'getJobsPage', params: { limit: 251 } });
    expect(recentRows()).toBe(241);
  });

  it('a configurationsChanged delta is merged without listConfigurations', async () => {
    const entry = (name: string, deviceName: string): ConfigurationEntry => ({ name, deviceName, friendlyName: '', platform: 'esp32', error: '' });
    const b = fleetBackend([], [entry('a.yaml', 'a'), entry('b.yaml', 'b'), entry('c.yaml', 'c')]);
    startSync(b.backend);
    await b.connect();
    expect(b.count('listConfigurations')).toBe(1);
    act(() => b.emit('configurationsChanged', { reason: 'folder', changed: [entry('b.yaml', 'bee'), entry('aa.yaml', 'aa')], removed: ['c.yaml'] }));
    expect(useApp.getState().configurations?.map((c) => `${c.name}:${c.deviceName}`)).toEqual(['a.yaml:a', 'aa.yaml:aa', 'b.yaml:bee']);
    expect(b.count('listConfigurations')).toBe(1);
    // A bare notice (import, older server) still re-fetches.
    b.emit('configurationsChanged', { reason: 'import' });
    await flush();
    expect(b.count('listConfigurations')).toBe(2);
  });
});

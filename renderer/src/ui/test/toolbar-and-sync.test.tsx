// @vitest-environment happy-dom
// The renderer's stores, sync and task-list toolbar against a scripted backend client (the same
// BackendClient shape the WebSocket / MessagePort transports provide): queue pause/resume,
// "Reset build environment" with its confirmation, `selectJob` events, the toast's Show button,
// carried ANSI colours and "Load earlier lines" in the log view.
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../../../preload/contract';
import { AnsiLine } from '../../log/ansi';
import { logBuffer } from '../../log/log-store';
import { LogView } from '../../log/LogView';
import { useApp } from '../../store/app';
import { useJobs } from '../../store/jobs';
import { startSync } from '../../sync';
import { TaskList } from '../TaskList';
import { Toasts } from '../Toasts';
import { testJob } from './job-fixture';
import { connectAnswers, scriptedBackend } from './scripted-api';

const job = (over: Partial<Job> = {}): Job => testJob({ job_type: 'reset_build_env', ...over });

/** A scripted backend whose queue can be paused and whose build environment can be reset. */
function toolbarBackend(initialPaused = false) {
  let paused = initialPaused;
  const resetJob = job({ job_id: 'b00000000002' });
  const b = scriptedBackend({
    ...connectAnswers(),
    getQueuePause: () => ({ paused }),
    pauseQueue: () => ((paused = true), { paused }),
    resumeQueue: () => ((paused = false), { paused }),
    resetBuildEnv: () => resetJob,
  });
  return { ...b, resetJob };
}

const flush = () => act(async () => await new Promise((r) => setTimeout(r, 0)));

beforeEach(() => {
  useApp.setState({ view: 'tasks', selectedJobId: null, queuePaused: null, toasts: [], filter: 'all' });
  useJobs.setState({ byId: {}, loaded: true });
});
afterEach(() => cleanup());

describe('queue pause / resume', () => {
  it('fetches the pause state on connect and follows queuePaused events from other clients', async () => {
    const b = toolbarBackend(true);
    startSync(b.backend);
    await b.connect();
    expect(b.methods()).toContain('getQueuePause');
    expect(useApp.getState().queuePaused).toBe(true);
    b.emit('queuePaused', { paused: false });
    expect(useApp.getState().queuePaused).toBe(false);
  });

  it('the toolbar button pauses and resumes; "Queue paused" is shown while paused', async () => {
    const b = toolbarBackend(false);
    startSync(b.backend);
    await b.connect();
    render(<TaskList />);
    expect(screen.queryByTestId('queue-paused')).toBeNull();
    const toggle = screen.getByTestId('queue-pause-toggle');
    expect(toggle.textContent).toBe('Pause queue');
    fireEvent.click(toggle);
    await flush();
    expect(b.calls.at(-1)).toEqual({ method: 'pauseQueue', params: {} });
    expect(screen.getByTestId('queue-paused').textContent).toContain('Queue paused');
    expect(screen.getByTestId('queue-pause-toggle').textContent).toBe('Resume queue');
    expect(screen.getByTestId('queue-pause-toggle').getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(screen.getByTestId('queue-pause-toggle'));
    await flush();
    expect(b.calls.at(-1)).toEqual({ method: 'resumeQueue', params: {} });
    expect(screen.queryByTestId('queue-paused')).toBeNull();
    // Paused elsewhere (tray, another window): the banner appears without a click here.
    act(() => b.emit('queuePaused', { paused: true }));
    expect(screen.getByTestId('queue-paused')).toBeTruthy();
  });
});

describe('Reset build environment', () => {
  it('asks first; Cancel does nothing; confirming starts the reset and opens its log', async () => {
    const b = toolbarBackend();
    startSync(b.backend);
    await b.connect();
    render(<TaskList />);
    fireEvent.click(screen.getByTestId('reset-build-env'));
    const dialog = screen.getByTestId('reset-confirm');
    expect(dialog.textContent).toContain('esphome clean-all');
    fireEvent.click(within(dialog).getByText('Cancel'));
    expect(screen.queryByTestId('reset-confirm')).toBeNull();
    expect(b.methods()).not.toContain('resetBuildEnv');
    fireEvent.click(screen.getByTestId('reset-build-env'));
    fireEvent.click(screen.getByTestId('reset-confirm-btn'));
    await flush();
    expect(b.calls.filter((c) => c.method === 'resetBuildEnv')).toEqual([{ method: 'resetBuildEnv', params: {} }]);
    expect(screen.queryByTestId('reset-confirm')).toBeNull();
    expect(useApp.getState().selectedJobId).toBe(b.resetJob.job_id);
    expect(useJobs.getState().byId[b.resetJob.job_id]).toBeTruthy();
    expect(screen.getAllByTestId('task-row').map((r) => r.getAttribute('data-job-id'))).toEqual([b.resetJob.job_id]);
  });
});

describe('selecting a job from outside the list', () => {
  it('a selectJob event (OS notification click) switches to the tasks view and selects the job', async () => {
    const b = toolbarBackend();
    startSync(b.backend);
    useApp.setState({ view: 'settings', selectedJobId: null });
    b.emit('selectJob', { jobId: 'c00000000003' });
    expect(useApp.getState()).toMatchObject({ view: 'tasks', selectedJobId: 'c00000000003' });
  });

  it("a toast's Show button selects its job", () => {
    useApp.setState({ view: 'servers' });
    render(<Toasts />);
    act(() => useApp.getState().toast({ kind: 'success', title: 'kitchen: build finished', body: 'Built on this computer', jobId: 'd00000000004' }));
    fireEvent.click(screen.getByText('Show'));
    expect(useApp.getState()).toMatchObject({ view: 'tasks', selectedJobId: 'd00000000004' });
  });
});

describe('log view', () => {
  it('renders a row with the colour carried in from the rows above', () => {
    const { container } = render(<AnsiLine text={'still green\n'} state="32" />);
    const span = container.querySelector('span')!;
    expect(span.className).toBe('ansi-green-fg');
    expect(span.textContent).toBe('still green');
  });

  it('offers "Load earlier lines" while the backend has more, and calls the loader', async () => {
    const id = 'e00000000005';
    logBuffer(id).reset(['tail a\n', 'tail b\n'], 2, 40);
    let loads = 0;
    render(
      <LogView
        jobId={id}
        loadEarlier={async () => {
          loads++;
          logBuffer(id).prepend(['earlier\n'], 0);
        }}
      />,
    );
    const bar = screen.getByTestId('earlier-lines');
    expect(bar.textContent).toContain('40 more');
    fireEvent.click(screen.getByTestId('load-earlier'));
    await flush();
    expect(loads).toBe(1);
    expect(logBuffer(id).firstIndex).toBe(0);
    expect(screen.queryByTestId('earlier-lines')).toBeNull();
    expect(screen.getByTestId('log-view').getAttribute('data-lines')).toBe('3');
    // Without a loader (or nothing earlier) there is no button.
    cleanup();
    render(<LogView jobId={id} />);
    expect(screen.queryByTestId('load-earlier')).toBeNull();
  });
});

// The task list (ui-and-users §1): Active and Recent groups, filter, clear, empty state; the
// toolbar's "Reset build environment" (with a confirmation) and the queue's Pause / Resume.
import { useMemo, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { Job } from '../../../preload/contract';
import { useApp, useDeviceNames } from '../store/app';
import { groupJobs, isActiveJob, useJobs } from '../store/jobs';
import { useServers } from '../store/servers';
import { errorMessage, getBackend } from '../sync';
import { Dialog } from './Dialog';
import { deviceLabel, sourceLine, STATUS_LABEL, timeLine, typeLabel } from './format';
import { Icon, jobIcon } from './icons';
import { useNow } from './useNow';

export function TaskList() {
  const byId = useJobs((s) => s.byId);
  const loaded = useJobs((s) => s.loaded);
  const { filter, selectedJobId, set } = useApp(useShallow((s) => ({ filter: s.filter, selectedJobId: s.selectedJobId, set: s.set })));
  const simulator = useApp((s) => s.env?.esphome.simulator ?? false);
  const labels = useServers(useShallow((s) => Object.fromEntries((s.pairings ?? []).map((p) => [p.pin, p.label]))));
  const now = useNow(30_000);
  const names = useDeviceNames();

  const { active, recent } = useMemo(() => groupJobs(byId), [byId]);
  const installs = useMemo(() => new Set(Object.values(byId).filter((j) => j.depends_on).map((j) => j.depends_on)), [byId]);
  const shownRecent = filter === 'failed' ? recent.filter((j) => j.status === 'failed') : recent;
  const hasCompleted = recent.some((j) => j.status === 'completed');
  const hasTerminal = recent.length > 0;

  const queuePaused = useApp((s) => s.queuePaused);
  const [pausing, setPausing] = useState(false);
  const [confirmReset, setConfirmReset] = useState(false);

  const togglePause = async () => {
    setPausing(true);
    try {
      const api = getBackend().api;
      const r = queuePaused ? await api.resumeQueue({}) : await api.pauseQueue({});
      useApp.getState().set({ queuePaused: r.paused });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: queuePaused ? 'Could not resume the queue' : 'Could not pause the queue', body: errorMessage(err) });
    } finally {
      setPausing(false);
    }
  };

  const resetBuildEnv = async () => {
    setConfirmReset(false);
    try {
      const job = await getBackend().api.resetBuildEnv({});
      useJobs.getState().upsert(job);
      set({ selectedJobId: job.job_id });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Reset failed', body: errorMessage(err) });
    }
  };

  const clear = async (status?: 'completed' | 'failed' | 'cancelled') => {
    try {
      await getBackend().api.clearJobs(status ? { status } : {});
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Could not clear history', body: errorMessage(err) });
    }
  };

  const row = (job: Job) => (
    <TaskRow
      key={job.job_id}
      job={job}
      isInstall={installs.has(job.job_id)}
      selected={job.job_id === selectedJobId}
      liveLabel={labels[job.source_pin_sha256]}
      name={deviceLabel(job, names)}
      simulator={simulator && job.source === 'local' && !job.remote_peer}
      now={now}
      onOpen={() => set({ selectedJobId: job.job_id })}
    />
  );

  return (
    <section className="tasks" aria-label="Firmware tasks">
      <div className="toolbar">
        <h2>Firmware tasks</h2>
        <button type="button" className="btn small" onClick={() => setConfirmReset(true)} data-testid="reset-build-env">
          Reset build environment
        </button>
        <div className="toolbar-actions">
          {queuePaused !== null ? (
            <button
              type="button"
              className={`btn small${queuePaused ? ' primary' : ''}`}
              disabled={pausing}
              onClick={() => void togglePause()}
              aria-pressed={queuePaused}
              title={queuePaused ? 'Start queued tasks again' : 'Keep queued tasks from starting (running ones finish)'}
              data-testid="queue-pause-toggle"
            >
              {queuePaused ? 'Resume queue' : 'Pause queue'}
            </button>
          ) : null}
          <label className="check">
            <input
              type="checkbox"
              checked={filter === 'failed'}
              onChange={(e) => set({ filter: e.target.checked ? 'failed' : 'all' })}
              data-testid="filter-failed"
            />
            Failures only
          </label>
          {hasCompleted ? (
            <button type="button" className="btn small" onClick={() => void clear('completed')} data-testid="clear-completed">
              Clear completed
            </button>
          ) : null}
          {hasTerminal ? (
            <button type="button" className="btn small" onClick={() => void clear()} data-testid="clear-all">
              Clear history
            </button>
          ) : null}
        </div>
      </div>
      {queuePaused ? (
        <div className="queue-paused" role="status" data-testid="queue-paused">
          <Icon name="clock" className="inline" />
          <span>
            <strong>Queue paused</strong> — queued tasks wait until you resume; running ones finish.
          </span>
        </div>
      ) : null}
      {confirmReset ? (
        <Dialog title="Reset build environment?" onClose={() => setConfirmReset(false)} testId="reset-confirm">
          <p>
            This runs <code>esphome clean-all</code>: the build files and PlatformIO caches of every device are removed, so the next builds start from scratch
            and take longer. Other queued and running tasks are cancelled first.
          </p>
          <div className="actions">
            <button type="button" className="btn" onClick={() => setConfirmReset(false)}>
              Cancel
            </button>
            <button type="button" className="btn danger" onClick={() => void resetBuildEnv()} data-testid="reset-confirm-btn">
              Reset build environment
            </button>
          </div>
        </Dialog>
      ) : null}
      {loaded && active.length === 0 && recent.length === 0 ? (
        <div className="empty" data-testid="tasks-empty">
          <Icon name="playlist" className="empty-icon" />
          <p className="empty-title">No firmware tasks yet</p>
          <p>Compile, install, or clean jobs you start will show up here.</p>
        </div>
      ) : (
        <>
          <h3 className="group">Active {active.length > 0 ? <span className="count">{active.length}</span> : null}</h3>
          {active.length === 0 ? <p className="muted pad">Nothing running.</p> : <ul className="rows" data-testid="active-list">{active.map(row)}</ul>}
          <h3 className="group">Recent</h3>
          {shownRecent.length === 0 ? (
            <p className="muted pad">{filter === 'failed' ? 'No failed tasks.' : 'No finished tasks.'}</p>
          ) : (
            <ul className="rows" data-testid="recent-list">{shownRecent.map(row)}</ul>
          )}
        </>
      )}
    </section>
  );
}

interface RowProps {
  job: Job;
  name: string;
  isInstall: boolean;
  selected: boolean;
  liveLabel?: string;
  simulator: boolean;
  now: number;
  onOpen(): void;
}

export function TaskRow({ job, name, isInstall, selected, liveLabel, simulator, now, onOpen }: RowProps) {
  const active = isActiveJob(job);
  const source = sourceLine(job, liveLabel);
  const cancel = async () => {
    try {
      await getBackend().api.cancel({ jobId: job.job_id });
    } catch (err) {
      const code = (err as { code?: string }).code;
      // "Not found" / "Cannot cancel a … job" are benign races: the stream corrects the row.
      if (code !== 'not_found' && code !== 'invalid_args') {
        useApp.getState().toast({ kind: 'error', title: 'Cancel failed', body: errorMessage(err) });
      }
    }
  };
  return (
    <li className={`row status-${job.status}${selected ? ' selected' : ''}`} data-testid="task-row" data-job-id={job.job_id} data-status={job.status}>
      <button type="button" className="row-main" onClick={onOpen} aria-current={selected ? 'true' : undefined}>
        <Icon name={jobIcon(job)} className={`type-icon${active ? '' : ' dim'}`} />
        <span className="row-text">
          <span className="row-name">
            {name}
            {simulator ? <span className="badge sim" title="Run with Kiln's esphome simulator">simulator</span> : null}
          </span>
          <span className="row-meta">
            {typeLabel(job, isInstall)} • <StatusBadge job={job} /> • <span className="time">{timeLine(job, now)}</span>
          </span>
          {source ? (
            <span className="row-source" data-testid="row-source">
              {job.source === 'remote' ? <Icon name="server" className="inline" /> : null}
              {source}
            </span>
          ) : null}
          {job.status === 'failed' && job.error ? <span className="row-error">{job.error}</span> : null}
          {job.status === 'running' && job.progress !== null ? (
            <span className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={job.progress}>
              <span className="progress-fill" style={{ width: `${job.progress}%` }} />
            </span>
          ) : null}
        </span>
      </button>
      <span className="row-right">
        {active ? (
          <button type="button" className="icon-btn" onClick={() => void cancel()} aria-label={`Cancel ${name}`} title="Cancel" data-testid="row-cancel">
            <Icon name="close" />
          </button>
        ) : (
          <Icon
            name={job.status === 'completed' ? 'check' : job.status === 'failed' ? 'alert' : 'cancel'}
            className={`status-icon ${job.status}`}
            title={STATUS_LABEL[job.status]}
          />
        )}
      </span>
    </li>
  );
}

export function StatusBadge({ job }: { job: Job }) {
  if (job.status === 'running') {
    return (
      <span className="badge running" data-testid="status-badge">
        <span className="spinner" aria-hidden="true" />
        {job.progress !== null ? `${job.progress}%` : 'Running…'}
      </span>
    );
  }
  return (
    <span className={`badge ${job.status}`} data-testid="status-badge">
      {STATUS_LABEL[job.status]}
    </span>
  );
}

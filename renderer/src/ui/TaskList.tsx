// The task list (ui-and-users §1): Active and Recent groups, filter, clear, empty state; the
// toolbar's "Reset build environment" (with a confirmation) and the queue's Pause / Resume.
import { useMemo, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { Job } from '../../../preload/contract';
import { useApp, useDeviceNames } from '../store/app';
import { buildEntries, type TaskEntry } from '../store/entries';
import { isActiveJob, useJobs } from '../store/jobs';
import { useServers } from '../store/servers';
import { errorMessage, getBackend, loadOlderJobs } from '../sync';
import { Dialog } from './Dialog';
import { deviceLabel, historyLines, sourceLine, STATUS_LABEL, timeLine, typeLabel } from './format';
import { Icon, jobIcon } from './icons';
import { useNow } from './useNow';

export function TaskList() {
  const byId = useJobs((s) => s.byId);
  const loaded = useJobs((s) => s.loaded);
  const nextCursor = useJobs((s) => s.nextCursor);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const showOlder = async () => {
    setLoadingOlder(true);
    try {
      await loadOlderJobs();
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Could not load older tasks', body: errorMessage(err) });
    } finally {
      setLoadingOlder(false);
    }
  };
  const { filter, selectedJobId, set } = useApp(useShallow((s) => ({ filter: s.filter, selectedJobId: s.selectedJobId, set: s.set })));
  const simulator = useApp((s) => s.env?.esphome.simulator ?? false);
  const labels = useServers(useShallow((s) => Object.fromEntries((s.pairings ?? []).map((p) => [p.pin, p.label]))));
  const now = useNow(30_000);
  const names = useDeviceNames();

  const { active, recent } = useMemo(() => buildEntries(byId), [byId]);
  const shownRecent = filter === 'failed' ? recent.filter((e) => e.status === 'failed') : recent;
  const hasCompleted = recent.some((e) => e.status === 'completed');
  const hasTerminal = recent.length > 0;

  const queuePaused = useApp((s) => s.queuePaused);
  const [pausing, setPausing] = useState(false);
  const [confirmReset, setConfirmReset] = useState(false);
  const [confirmClear, setConfirmClear] = useState(false);

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

  const row = (e: TaskEntry) => (
    <TaskRow
      key={e.head.job_id}
      entry={e}
      selected={e.head.job_id === selectedJobId || e.upload?.job_id === selectedJobId}
      liveLabel={labels[e.head.source_pin_sha256]}
      name={deviceLabel(e.head, names)}
      simulator={simulator && e.head.source === 'local' && !e.head.remote_peer}
      now={now}
      onOpen={() => set({ selectedJobId: e.current.job_id })}
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
            <button type="button" className="btn small" onClick={() => setConfirmClear(true)} data-testid="clear-all">
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
      {confirmClear ? (
        <Dialog title="Clear the task history?" onClose={() => setConfirmClear(false)} testId="clear-confirm">
          <p>Every finished task ({recent.length}) and its log is removed from the list. Running and queued tasks stay.</p>
          <div className="actions">
            <button type="button" className="btn" onClick={() => setConfirmClear(false)} data-testid="clear-confirm-cancel">
              Keep history
            </button>
            <button
              type="button"
              className="btn danger"
              onClick={() => {
                setConfirmClear(false);
                void clear();
              }}
              data-testid="clear-confirm-btn"
            >
              Clear history
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
          {nextCursor !== null ? (
            <p className="pad">
              <button className="btn" onClick={() => void showOlder()} disabled={loadingOlder} data-testid="older-tasks-btn">
                {loadingOlder ? 'Loading older tasks…' : 'Show older tasks'}
              </button>
            </p>
          ) : null}
        </>
      )}
    </section>
  );
}

interface RowProps {
  entry: TaskEntry;
  name: string;
  selected: boolean;
  liveLabel?: string;
  simulator: boolean;
  now: number;
  onOpen(): void;
}

/** "Compile ✓ → Upload 40%": where an install is. */
function stageText(job: Job): string {
  if (job.status === 'running') return job.progress !== null ? `${job.progress}%` : 'running';
  return { queued: 'waiting', completed: '✓', failed: 'failed', cancelled: 'cancelled', running: '' }[job.status];
}

export function TaskRow({ entry, name, selected, liveLabel, simulator, now, onOpen }: RowProps) {
  const { head, upload, current: job } = entry;
  const active = isActiveJob(job);
  const source = sourceLine(head, liveLabel);
  const history = historyLines(head, liveLabel);
  const failure = job.status === 'failed' ? job.failure?.line || job.error : '';
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
    <li
      className={`row status-${job.status}${selected ? ' selected' : ''}`}
      data-testid="task-row"
      data-job-id={head.job_id}
      data-current-job-id={job.job_id}
      data-status={job.status}
      data-stage={upload ? (job === upload ? 'upload' : 'compile') : undefined}
    >
      <button type="button" className="row-main" onClick={onOpen} aria-current={selected ? 'true' : undefined}>
        <Icon name={jobIcon(head)} className={`type-icon${active ? '' : ' dim'}`} />
        <span className="row-text">
          <span className="row-name">
            {name}
            {simulator ? <span className="badge sim" title="Run with Kiln's esphome simulator">simulator</span> : null}
          </span>
          <span className="row-meta">
            {typeLabel(head, !!upload)} • <StatusBadge job={job} stage={upload ? (job === upload ? 'Uploading' : 'Compiling') : undefined} /> •{' '}
            <span className="time">{timeLine(job, now)}</span>
          </span>
          {upload ? (
            <span className="row-stages" data-testid="row-stages">
              Compile {stageText(head)} → Upload {head.status === 'completed' ? stageText(upload) : upload.status === 'cancelled' ? '—' : 'next'}
            </span>
          ) : null}
          {source ? (
            <span className="row-source" data-testid="row-source">
              {head.source === 'remote' ? <Icon name="server" className="inline" /> : null}
              {source}
            </span>
          ) : null}
          {history.map((h) => (
            <span className="row-history" data-testid="row-history" key={h}>
              {h}
            </span>
          ))}
          {failure ? (
            <span className="row-error" data-testid="row-error" title={failure}>
              {failure}
            </span>
          ) : null}
          {job.status === 'running' ? <ProgressBar progress={job.progress} label={`${name} progress`} /> : null}
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

/** A percentage bar, or an indeterminate one while no percentage is known (PlatformIO builds). */
export function ProgressBar({ progress, label, big }: { progress: number | null; label: string; big?: boolean }) {
  if (progress === null) {
    return (
      <span className={`progress indeterminate${big ? ' big' : ''}`} role="progressbar" aria-label={label} data-testid="progress-indeterminate">
        <span className="progress-fill" />
      </span>
    );
  }
  return (
    <span className={`progress${big ? ' big' : ''}`} role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={progress}>
      <span className="progress-fill" style={{ width: `${progress}%` }} />
    </span>
  );
}

export function StatusBadge({ job, stage }: { job: Job; stage?: string }) {
  if (job.status === 'running') {
    return (
      <span className="badge running" data-testid="status-badge">
        <span className="spinner" aria-hidden="true" />
        {stage ? `${stage} ` : ''}
        {job.progress !== null ? `${job.progress}%` : stage ? '…' : 'Running…'}
      </span>
    );
  }
  if (job.status === 'queued' && stage === 'Uploading') {
    return (
      <span className="badge queued" data-testid="status-badge">
        Waiting to upload
      </span>
    );
  }
  return (
    <span className={`badge ${job.status}`} data-testid="status-badge">
      {STATUS_LABEL[job.status]}
    </span>
  );
}

// The selected job's log with its header and toolbar (ui-and-users §2–§3): source line with
// "Build locally instead", Stop / Retry / Download / Close, final banner and hints.
import { useEffect, useRef, useState } from 'react';
import type { Job } from '../../../preload/contract';
import { closeJobLog, followJobLog, loadAllEarlierLines, loadEarlierLines, unfollowJobLog } from '../log/follow';
import { logBuffer } from '../log/log-store';
import { LogView } from '../log/LogView';
import { normaliseEscapes } from '../log/ansi';
import { useApp, useDeviceNames } from '../store/app';
import { dependentOf, isActiveJob, useJobs } from '../store/jobs';
import { useServers } from '../store/servers';
import { errorMessage, getBackend } from '../sync';
import { deviceLabel, duration, historyLines, sourceLine, typeLabel } from './format';
import { Icon, jobIcon } from './icons';
import { adviceFor } from './failure-advice';
import { ProgressBar, StatusBadge } from './TaskList';
import { buildPhase } from '../log/log-scan';
import { useLogVersion } from '../log/log-store';
import { useNow } from './useNow';

export function LogPanel({ jobId }: { jobId: string }) {
  const job = useJobs((s) => s.byId[jobId]);
  const dependent = useJobs((s) => dependentOf(s.byId, jobId));
  // The upload stage of an install shows its install's name and stages.
  const chainHead = useJobs((s) => {
    const j = s.byId[jobId];
    return j?.job_type === 'upload' && j.depends_on ? s.byId[j.depends_on] : undefined;
  });
  const connected = useApp((s) => s.connection.state === 'open');
  const liveLabel = useServers((s) => s.pairings?.find((p) => p.pin === job?.source_pin_sha256)?.label);
  const [followError, setFollowError] = useState('');
  const [switching, setSwitching] = useState<'idle' | 'busy' | 'failed'>('idle');
  const wasActive = useRef(job ? isActiveJob(job) : false);
  const now = useNow(1000);
  const names = useDeviceNames();

  // Follow the log; re-follow after every reconnect (history then live, no gap).
  useEffect(() => {
    if (!connected) return;
    const backend = getBackend();
    let cancelled = false;
    setFollowError('');
    followJobLog(backend, jobId).catch((err) => {
      if (!cancelled) setFollowError(errorMessage(err));
    });
    return () => {
      cancelled = true;
      void unfollowJobLog(backend, jobId);
    };
  }, [jobId, connected]);

  // Closing the log (unmount, or another job selected) frees its buffer; a reconnect does not.
  useEffect(() => () => closeJobLog(jobId), [jobId]);

  // An install's compile that succeeds hands over to its upload (so success means "flashed").
  const status = job?.status;
  useEffect(() => {
    if (!job) return;
    const active = isActiveJob(job);
    if (wasActive.current && status === 'completed' && dependent && isActiveJob(dependent)) {
      useApp.getState().set({ selectedJobId: dependent.job_id });
    }
    wasActive.current = active;
  }, [status]); // eslint-disable-line react-hooks/exhaustive-deps

  if (!job) {
    return (
      <section className="log-panel" aria-label="Job log">
        <p className="muted pad">This task is no longer in the history.</p>
      </section>
    );
  }

  const active = isActiveJob(job);
  const history = historyLines(chainHead ?? job, liveLabel);
  const remoteInstall = active && (job.source === 'remote' || job.source === 'remote_pending') && (job.job_type === 'install' || !!dependent);
  const source = sourceLine(job, liveLabel);

  const stop = async () => {
    try {
      await getBackend().api.cancel({ jobId });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'not_found' && code !== 'invalid_args') useApp.getState().toast({ kind: 'error', title: 'Stop failed', body: errorMessage(err) });
    }
  };
  const retry = async (forceLocal?: boolean) => {
    try {
      const next = await getBackend().api.retry(forceLocal ? { jobId, forceLocal } : { jobId });
      useJobs.getState().upsert(next);
      useApp.getState().set({ selectedJobId: next.job_id });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Retry failed', body: errorMessage(err) });
    }
  };
  const buildLocally = async () => {
    setSwitching('busy');
    try {
      const next = await getBackend().api.buildLocally({ jobId });
      useJobs.getState().upsert(next);
      useApp.getState().set({ selectedJobId: next.job_id });
      setSwitching('idle');
    } catch {
      setSwitching('failed');
    }
  };
  const clean = async () => {
    try {
      const next = await getBackend().api.clean({ configuration: job.configuration });
      useApp.getState().set({ selectedJobId: next.job_id });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Clean failed', body: errorMessage(err) });
    }
  };
  const download = async () => {
    // The whole log, including lines not loaded into the view yet.
    try {
      await loadAllEarlierLines(getBackend(), jobId);
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Earlier lines could not be loaded', body: `${errorMessage(err)} — downloading what is shown` });
    }
    const text = normaliseEscapes(logBuffer(jobId).text()).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    const blob = new Blob([text], { type: 'text/plain;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `${job.configuration.replace(/\.ya?ml$/i, '') || 'kiln'}-${job.job_type}.txt`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const close = () => useApp.getState().set({ selectedJobId: null });

  const timer = job.compile_started_at
    ? `compile ${duration(job.compile_started_at, job.compile_ended_at, now)}`
    : job.started_at
      ? duration(job.started_at, job.completed_at, now)
      : '';

  return (
    <section className="log-panel" aria-label={`Log of ${deviceLabel(job, names)}`} data-testid="log-panel" data-job-id={jobId} data-status={job.status}>
      <header className="log-header">
        <div className="log-title">
          <Icon name={jobIcon(job)} className="type-icon" />
          <h2>
            {chainHead ? 'Install' : typeLabel(job, !!dependent)} {deviceLabel(chainHead ?? job, names)}
          </h2>
          <StatusBadge job={job} />
          {job.status === 'running' ? <span className="stream-dot" title="Streaming" aria-label="Streaming" /> : null}
          {timer ? <span className="muted timer" title="Elapsed">{timer}</span> : null}
        </div>
        {source ? (
          <div className="log-source" data-testid="log-source">
            {job.source === 'remote' ? <Icon name="server" className="inline" /> : null}
            {source}
            {remoteInstall ? (
              <>
                {' · '}
                <button type="button" className="link" disabled={switching === 'busy'} onClick={() => void buildLocally()} data-testid="build-locally">
                  {switching === 'busy' ? 'Switching…' : 'Build locally instead'}
                </button>
                {switching === 'failed' ? <span className="error-text"> Couldn't switch to a local build</span> : null}
              </>
            ) : null}
          </div>
        ) : null}
        {chainHead || dependent ? <Stages compile={chainHead ?? job} upload={chainHead ? job : dependent!} selected={jobId} /> : null}
        {history.length > 0 ? (
          <div className="log-history muted small" data-testid="log-history">
            {history.join(' · ')}
          </div>
        ) : null}
        {job.status === 'running' ? <RunningPhase jobId={jobId} progress={job.progress} /> : null}
        <div className="log-toolbar">
          {job.status === 'running' || job.status === 'queued' ? (
            <button type="button" className="btn danger" onClick={() => void stop()} data-testid="stop">
              <Icon name="stop" /> Stop
            </button>
          ) : null}
          {(job.status === 'failed' || job.status === 'cancelled') && ['compile', 'install', 'clean', 'upload'].includes(job.job_type) ? (
            <button type="button" className="btn" onClick={() => void retry()} data-testid="retry">
              Retry
            </button>
          ) : null}
          <button type="button" className="btn" onClick={() => void download()} data-testid="download-log">
            <Icon name="download" /> Download output
          </button>
          <button type="button" className="btn" onClick={close} aria-label="Close log">
            Close
          </button>
        </div>
      </header>
      {job.status === 'queued' ? (
        <div className="overlay-note" role="status">
          <Icon name="clock" className="inline" /> Waiting in queue
          {job.source === 'remote_pending' ? ' — waiting for a build server.' : '.'}
        </div>
      ) : null}
      {followError ? <div className="banner error">Could not load the log: {followError}</div> : null}
      <LogView
        jobId={jobId}
        repinKey={job.status}
        loadEarlier={async () => {
          await loadEarlierLines(getBackend(), jobId);
        }}
        loadAll={() => loadAllEarlierLines(getBackend(), jobId)}
      />
      <EndBanner
        job={job}
        serverLabel={liveLabel || job.source_label}
        onClean={() => void clean()}
        onBuildHere={() => void retry(true)}
        onSettings={() => useApp.getState().set({ view: 'settings' })}
      />
    </section>
  );
}

/** Compile → Upload of an install; each stage opens its own log. */
function Stages({ compile, upload, selected }: { compile: Job; upload: Job; selected: string }) {
  const stage = (j: Job, label: string, n: number) => {
    const state = j.status === 'running' ? (j.progress !== null ? `${j.progress}%` : 'running') : j.status === 'queued' ? (n === 2 && compile.status === 'completed' ? 'waiting' : 'next') : j.status;
    return (
      <button
        type="button"
        className={`stage status-${j.status}${j.job_id === selected ? ' selected' : ''}`}
        aria-current={j.job_id === selected ? 'step' : undefined}
        onClick={() => useApp.getState().set({ selectedJobId: j.job_id })}
        data-testid={`stage-${label.toLowerCase()}`}
        data-status={j.status}
      >
        {n}. {label} <span className="stage-state">{state === 'completed' ? '✓' : state}</span>
      </button>
    );
  };
  return (
    <nav className="stages" aria-label="Install stages" data-testid="install-stages">
      {stage(compile, 'Compile', 1)}
      <span aria-hidden="true">→</span>
      {stage(upload, 'Upload', 2)}
    </nav>
  );
}

/** What a running job is doing when no percentage is known ("Compiling 312 files…"). */
function RunningPhase({ jobId, progress }: { jobId: string; progress: number | null }) {
  useLogVersion((s) => s.versions[jobId] ?? 0);
  const phase = buildPhase(logBuffer(jobId));
  return (
    <div className="phase" data-testid="build-phase">
      <span className="muted small" role="status">
        {phase.text || 'Working…'}
        {progress !== null ? ` ${progress}%` : ''}
      </span>
      <ProgressBar progress={progress} label="Build progress" big />
    </div>
  );
}

interface EndBannerProps {
  job: Job;
  serverLabel: string;
  onClean(): void;
  onBuildHere(): void;
  onSettings(): void;
}

function EndBanner({ job, serverLabel, onClean, onBuildHere, onSettings }: EndBannerProps) {
  if (job.status === 'completed') {
    return (
      <div className="banner success" data-testid="end-banner">
        <Icon name="check" className="inline" /> {job.job_type === 'upload' ? 'Firmware uploaded.' : 'Completed.'}
      </div>
    );
  }
  if (job.status === 'cancelled') {
    return (
      <div className="banner neutral" data-testid="end-banner">
        {job.error ? `Cancelled: ${job.error}` : 'Stopped by user.'}
      </div>
    );
  }
  if (job.status === 'failed') {
    const advice = adviceFor(job, serverLabel);
    const line = job.failure?.line || job.error || 'failed';
    return (
      <div className="banner error" data-testid="end-banner" data-kind={job.failure?.kind ?? 'other'}>
        <div className="banner-title">
          <Icon name="alert" className="inline" /> <strong>{advice.title}</strong>
          {advice.where ? <span className="boxed" data-testid="failure-where">{advice.where}</span> : null}
        </div>
        <div className="failure-line" data-testid="failure-line">
          {line}
        </div>
        <div className="hint" data-testid="failure-advice">
          {advice.text}{' '}
          {advice.offerLocal ? (
            <button type="button" className="link" onClick={onBuildHere} data-testid="build-here">
              Build on this computer
            </button>
          ) : null}
          {advice.offerClean ? (
            <button type="button" className="link" onClick={onClean} data-testid="clean-build-files">
              Clean build files
            </button>
          ) : null}
          {advice.offerSettings ? (
            <button type="button" className="link" onClick={onSettings}>
              Open Settings
            </button>
          ) : null}
        </div>
        {job.failure?.line && job.error ? <div className="muted small">{job.error.replace(/^remote build: /, '')}</div> : null}
      </div>
    );
  }
  return null;
}

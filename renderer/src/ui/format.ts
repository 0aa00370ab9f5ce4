// Display helpers for jobs (ui-and-users §1.3).
import type { Job } from '../../../preload/contract';

/** Friendly name, else device name (from the job, else from the configuration file), else file. */
export function deviceLabel(job: Job, names?: Record<string, string>): string {
  if (job.job_type === 'reset_build_env') return '(build environment)';
  return (
    job.device_friendly_name ||
    job.device_name ||
    (!job.remote_peer && names?.[job.configuration]) ||
    job.configuration.split('/').pop()!.replace(/\.ya?ml$/i, '') ||
    job.remote_peer_label ||
    'device'
  );
}

/** The device's one name: friendly name, else device name, else the file name without .yaml. */
export function configLabel(configuration: string, names?: Record<string, string>): string {
  return names?.[configuration] || configuration.split('/').pop()!.replace(/\.ya?ml$/i, '');
}

export function typeLabel(job: Job, isInstall: boolean): string {
  if (job.job_type === 'compile' && job.is_deferred_install) return 'Offline compile';
  if (job.job_type === 'compile' && isInstall) return 'Install';
  return { compile: 'Compile', upload: 'Upload', install: 'Install', clean: 'Clean', reset_build_env: 'Reset', rename: 'Rename' }[job.job_type];
}

export const STATUS_LABEL: Record<Job['status'], string> = {
  queued: 'Queued',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export const THIS_COMPUTER = 'this computer';

/** Where a job builds or built, in one wording everywhere: "Built on this computer" / "Built on fast-box". */
export function sourceLine(job: Job, liveLabel?: string): string {
  if (job.remote_peer) return `from ${job.remote_peer_label || job.remote_peer}`;
  const where = job.source === 'remote' ? liveLabel || job.source_label || 'a build server' : THIS_COMPUTER;
  if (job.source === 'remote_pending') return 'Waiting for a build server';
  if (job.source !== 'remote' && job.job_type !== 'compile' && job.job_type !== 'install') return '';
  if (job.status === 'completed') return `Built on ${where}`;
  if (job.status === 'queued' || job.status === 'running') return `Building on ${where}`;
  return `Ran on ${where}`;
}

/**
 * The row's history in plain words: "Lost fast-box mid-build — rebuilt on this computer" (the
 * runner's notice, finished with where the job went), "Moved from fast-box to this computer".
 */
export function historyLines(job: Job, liveLabel?: string): string[] {
  const where = job.source === 'remote' ? liveLabel || job.source_label || 'a build server' : THIS_COMPUTER;
  const verb = job.status === 'completed' ? 'rebuilt' : job.status === 'queued' || job.status === 'running' ? 'rebuilding' : 'tried again';
  return job.history.map((h) => {
    const lost = /^(Lost .+? mid-build)/.exec(h);
    if (lost) return job.source === 'remote_pending' ? `${lost[1]} — waiting for a build server` : `${lost[1]} — ${verb} on ${where}`;
    return h.replace(/ \(Build locally instead\)$/, '');
  });
}

export function relativeTime(iso: string | null, now: number): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 10) return 'just now';
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ago`;
  return `${Math.floor(h / 24)}d ago`;
}

export function clockTime(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function timeLine(job: Job, now: number): string {
  if (job.status === 'running') return `started ${relativeTime(job.started_at, now)}`;
  if (job.status === 'queued') return `queued ${relativeTime(job.created_at, now)}`;
  return `finished ${clockTime(job.completed_at)}`;
}

export function duration(fromIso: string | null, toIso: string | null, now: number): string {
  if (!fromIso) return '';
  const ms = (toIso ? Date.parse(toIso) : now) - Date.parse(fromIso);
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

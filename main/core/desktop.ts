// Desktop integration (tray + OS notifications) as seen from the core: an interface the Electron
// shell implements with Tray/Menu/Notification, the headless server with in-app toasts, and tests
// with RecordingDesktop — plus the policy that decides WHAT to show (electron.md §7,
// ui-and-users.md §6). Nothing here imports electron.
import type { CoreEventMap, EventBus } from './events';
import type { FirmwareJob, JobType } from './jobs/model';

// ---------------------------------------------------------------------------------------------
// Types

export type DesktopNoticeKind = 'completed' | 'failed' | 'cancelled' | 'server_disconnected' | 'info';

export interface DesktopNotice {
  kind: DesktopNoticeKind;
  title: string;
  body: string;
  /** The job a click should select (absent for summaries and connection notices). */
  jobId?: string;
}

export interface TrayJobSummary {
  jobId: string;
  /** "Building", "Uploading", … */
  verb: string;
  device: string;
  /** "buildbox", "this computer", "a build server" */
  where: string;
}

export interface TrayState {
  running: number;
  queued: number;
  /** Failures the user has not looked at yet (reset when the window gains focus). */
  failed: number;
  paused: boolean;
  /** Running jobs, oldest first. */
  current: TrayJobSummary[];
}

export type TrayIconState = 'idle' | 'running' | 'failed';

export interface DesktopIntegration {
  notify(notice: DesktopNotice): void;
  setTrayState(state: TrayState): void;
  /**
   * Asks the user where to save a file (the desktop's native save dialog); resolves to the chosen
   * absolute path, or null when cancelled. Absent where there is no such dialog (a browser).
   */
  chooseSavePath?(defaultName: string): Promise<string | null>;
  dispose(): void;
}

export const EMPTY_TRAY_STATE: TrayState = Object.freeze({ running: 0, queued: 0, failed: 0, paused: false, current: [] });

// ---------------------------------------------------------------------------------------------
// Presentation helpers (pure; shared by every implementation so wording stays identical)

const LABELS: Record<JobType, string> = {
  compile: 'build',
  install: 'install',
  upload: 'upload',
  clean: 'clean',
  reset_build_env: 'build environment reset',
  rename: 'rename',
};
const VERBS: Record<JobType, string> = {
  compile: 'Building',
  install: 'Building',
  upload: 'Uploading',
  clean: 'Cleaning',
  reset_build_env: 'Resetting build environment',
  rename: 'Renaming',
};

export function deviceName(job: Pick<FirmwareJob, 'device_friendly_name' | 'device_name' | 'configuration' | 'job_type'>): string {
  if (job.job_type === 'reset_build_env') return 'Build environment';
  const named = job.device_friendly_name.trim() || job.device_name.trim();
  if (named) return named;
  const base = job.configuration.split(/[\\/]/).pop() ?? job.configuration;
  return base.replace(/\.ya?ml$/i, '') || 'device';
}

/** Where the job runs, as a short phrase: the build server's label, or this computer. */
export function whereLabel(job: Pick<FirmwareJob, 'source' | 'source_label'>): string {
  if (job.source === 'remote') return job.source_label.trim() || 'a build server';
  if (job.source === 'remote_pending') return 'a build server (waiting)';
  return 'this computer';
}

export function summarizeRunning(job: FirmwareJob): TrayJobSummary {
  return { jobId: job.job_id, verb: VERBS[job.job_type] ?? 'Running', device: deviceName(job), where: whereLabel(job) };
}

export function trayIconState(s: TrayState): TrayIconState {
  if (s.failed > 0) return 'failed';
  if (s.running > 0 || (s.queued > 0 && !s.paused)) return 'running';
  return 'idle';
}

/** e.g. "Building kitchen on buildbox", "Building kitchen on buildbox (+2 more running, 3 queued)". */
export function trayTooltip(s: TrayState): string {
  const parts: string[] = [];
  const first = s.current[0];
  if (first) {
    let line = `${first.verb} ${first.device} on ${first.where}`;
    const extra: string[] = [];
    if (s.running > 1) extra.push(`+${s.running - 1} more running`);
    if (s.queued > 0) extra.push(`${s.queued} queued`);
    if (extra.length) line += ` (${extra.join(', ')})`;
    parts.push(line);
  } else if (s.queued > 0) {
    parts.push(`${s.queued} queued`);
  } else {
    parts.push('Kiln — idle');
  }
  if (s.paused) parts.push('queue paused');
  if (s.failed > 0) parts.push(`${s.failed} failed`);
  return parts.join(' · ');
}

/** The disabled status line of the tray menu: "2 running, 3 queued" / "Nothing running". */
export function trayStatusLine(s: TrayState): string {
  if (s.running === 0 && s.queued === 0) return 'Nothing running';
  const bits: string[] = [];
  if (s.running) bits.push(`${s.running} running`);
  if (s.queued) bits.push(`${s.queued} queued`);
  return bits.join(', ');
}

export function sameTrayState(a: TrayState, b: TrayState): boolean {
  return (
    a.running === b.running &&
    a.queued === b.queued &&
    a.failed === b.failed &&
    a.paused === b.paused &&
    a.current.length === b.current.length &&
    a.current.every((c, i) => {
      const d = b.current[i]; // same length: checked above
      return d !== undefined && c.jobId === d.jobId && c.verb === d.verb && c.device === d.device && c.where === d.where;
    })
  );
}

const MAX_BODY = 160;
function short(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_BODY ? `${oneLine.slice(0, MAX_BODY - 1)}…` : oneLine;
}

/**
 * What the window knows about a job that the job itself does not carry: the device's name as the
 * device list shows it (from its YAML), and the first decisive error line of a failure. Notices
 * use the same words as the window's rows and end banner.
 */
export interface JobDescription {
  name?: string;
  failureLine?: string;
}

export function completedNotice(job: FirmwareJob, d: JobDescription = {}): DesktopNotice {
  const device = d.name || deviceName(job);
  let body: string;
  switch (job.job_type) {
    case 'compile':
    case 'install':
      body = `Built on ${whereLabel(job)}`;
      if (job.remote_peer_label) body += ` for ${job.remote_peer_label}`;
      break;
    case 'upload':
      body = job.port ? `Firmware uploaded via ${job.port}` : 'Firmware uploaded';
      break;
    case 'clean':
      body = 'Build files removed';
      break;
    case 'rename':
      body = job.new_name ? `Renamed to ${job.new_name}` : 'Renamed';
      break;
    default:
      body = 'Done';
  }
  return { kind: 'completed', title: `${device}: ${LABELS[job.job_type]} finished`, body, jobId: job.job_id };
}

export function failedNotice(job: FirmwareJob, d: JobDescription = {}): DesktopNotice {
  // What failed (the log's first decisive error line) beats "Process exited with code 1".
  const reason = d.failureLine?.trim() || job.error?.trim() || (job.exit_code != null ? `exit code ${job.exit_code}` : 'failed');
  const where = job.source === 'remote' ? ` (on ${whereLabel(job)})` : '';
  return { kind: 'failed', title: `${d.name || deviceName(job)}: ${LABELS[job.job_type]} failed`, body: short(reason + where), jobId: job.job_id };
}

export function cancelledNotice(job: FirmwareJob, d: JobDescription = {}): DesktopNotice {
  const why = job.error?.trim();
  return {
    kind: 'cancelled',
    title: `${d.name || deviceName(job)}: ${LABELS[job.job_type]} cancelled`,
    body: short(`Cancelled by ${whereLabel(job)}${why ? `: ${why}` : ''}`),
    jobId: job.job_id,
  };
}

// ---------------------------------------------------------------------------------------------
// RecordingDesktop (tests, and the Electron e2e flavour exposes it as globalThis.__e2e)

export class RecordingDesktop implements DesktopIntegration {
  readonly notices: DesktopNotice[] = [];
  readonly trayStates: TrayState[] = [];
  disposed = false;

  notify(notice: DesktopNotice): void {
    this.notices.push(notice);
  }
  setTrayState(state: TrayState): void {
    this.trayStates.push(state);
  }
  get tray(): TrayState {
    return this.trayStates.at(-1) ?? EMPTY_TRAY_STATE;
  }
  dispose(): void {
    this.disposed = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Policy

export interface RateLimit {
  /** Notifications allowed per window; the rest are folded into one summary at the window end. */
  max: number;
  windowMs: number;
}

export interface DesktopPolicyOptions {
  bus: EventBus<CoreEventMap>;
  /** Current jobs (the engine's getJobs()). */
  jobs: () => readonly FirmwareJob[];
  desktop: DesktopIntegration;
  /** The "notifications" setting; read at each event so a change applies at once. Default on. */
  notificationsEnabled?: () => boolean;
  /** True when the user can already see this job (window focused and visible). Default false. */
  isJobVisible?: (jobId: string) => boolean;
  /** Whether the queue is paused (engine capability; absent → never paused). */
  isPaused?: () => boolean;
  /**
   * Whether a cancelled job was cancelled by the build server rather than by the user (only those
   * notify). Default: `isBuildServerCancel` (a remote job with cancelled_by 'remote').
   */
  isServerCancel?: (job: FirmwareJob) => boolean;
  rateLimit?: RateLimit;
  /** Minimum gap between two "build server disconnected" notices for the same server. */
  disconnectCooldownMs?: number;
  /** Coalesces bursts of lifecycle events into one tray update. */
  trayDebounceMs?: number;
  /** The window's name for a job's device and its failure line (default: what the job carries). */
  describe?: (job: FirmwareJob) => JobDescription;
  now?: () => number;
}

/** Peer-link close reasons that are our own doing and never worth a notification. */
const QUIET_CLOSE_REASONS = new Set(['client_stopped', 'superseded']);

/**
 * "The build server cancelled it": the engine records who cancelled each job (cancelled_by); the
 * remote runner reports 'remote' when the server ended a job we sent without us asking. On a
 * build server, 'remote' means the sender cancelled its own job — not worth a notice there.
 */
export const isBuildServerCancel = (job: FirmwareJob): boolean => job.source === 'remote' && job.cancelled_by === 'remote';

/**
 * Turns core events into tray states and notifications:
 * - notifies on completed / failed / cancelled-by-server jobs and build-server disconnects only
 *   (never on progress or output);
 * - skips a job the user can already see, and everything while the setting is off;
 * - a compile whose install upload is still pending stays quiet (the upload's result follows);
 * - at most `rateLimit.max` per window, the rest summarised once;
 * - the tray state is recomputed from the job list on every lifecycle event.
 */
export class DesktopPolicy {
  private readonly opts: Required<Omit<DesktopPolicyOptions, 'isPaused'>> & Pick<DesktopPolicyOptions, 'isPaused'>;
  private readonly offs: Array<() => void> = [];
  private readonly shownAt: number[] = [];
  private suppressed: { total: number; failed: number } = { total: 0, failed: 0 };
  private summaryTimer: ReturnType<typeof setTimeout> | null = null;
  private trayTimer: ReturnType<typeof setTimeout> | null = null;
  private unseenFailures = 0;
  private readonly openServers = new Map<string, string>();
  private readonly lastDisconnectNotice = new Map<string, number>();
  private disposed = false;

  constructor(options: DesktopPolicyOptions) {
    this.opts = {
      notificationsEnabled: () => true,
      isJobVisible: () => false,
      isServerCancel: isBuildServerCancel,
      describe: () => ({}),
      rateLimit: { max: 4, windowMs: 10_000 },
      disconnectCooldownMs: 5 * 60_000,
      trayDebounceMs: 100,
      now: () => Date.now(),
      // An option passed as `undefined` keeps its default.
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as DesktopPolicyOptions),
    };
  }

  start(): this {
    const { bus } = this.opts;
    const lifecycle = () => this.scheduleTray();
    this.offs.push(
      bus.on('job_queued', lifecycle),
      bus.on('job_started', lifecycle),
      bus.on('jobs_changed', lifecycle),
      bus.on('job_completed', ({ job }) => {
        lifecycle();
        if (this.hasPendingDependent(job)) return;
        this.maybeNotify(completedNotice(job, this.opts.describe?.(job)));
      }),
      bus.on('job_failed', ({ job }) => {
        // A failure the user is looking at is already seen; only the others mark the tray.
        if (!this.opts.isJobVisible(job.job_id)) this.unseenFailures++;
        lifecycle();
        this.maybeNotify(failedNotice(job, this.opts.describe?.(job)));
      }),
      bus.on('job_cancelled', ({ job }) => {
        lifecycle();
        if (this.opts.isServerCancel(job)) this.maybeNotify(cancelledNotice(job, this.opts.describe?.(job)));
      }),
      // Pause/resume from any client (window, tray, API) changes the tray's icon and menu.
      bus.on('queue_paused_changed', () => this.pushTray()),
      bus.on('peer_link_opened', ({ pin, label }) => {
        this.openServers.set(pin, label);
      }),
      bus.on('peer_link_closed', ({ pin, reason, detail }) => this.onServerClosed(pin, reason, detail)),
    );
    this.pushTray();
    return this;
  }

  /** The window was focused: failures are now seen. */
  acknowledgeFailures(): void {
    if (this.unseenFailures === 0) return;
    this.unseenFailures = 0;
    this.pushTray();
  }

  /** Recompute the tray now (e.g. after pause/resume, which emits no job event). */
  refreshTray(): void {
    this.pushTray();
  }

  currentTrayState(): TrayState {
    const jobs = this.opts.jobs();
    const running = jobs.filter((j) => j.status === 'running');
    running.sort((a, b) => (a.started_at ?? '').localeCompare(b.started_at ?? ''));
    return {
      running: running.length,
      queued: jobs.filter((j) => j.status === 'queued').length,
      failed: this.unseenFailures,
      paused: this.opts.isPaused?.() ?? false,
      current: running.map(summarizeRunning),
    };
  }

  dispose(): void {
    this.disposed = true;
    for (const off of this.offs.splice(0)) off();
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    if (this.trayTimer) clearTimeout(this.trayTimer);
    this.summaryTimer = this.trayTimer = null;
  }

  private scheduleTray(): void {
    if (this.disposed || this.trayTimer) return;
    this.trayTimer = setTimeout(() => {
      this.trayTimer = null;
      this.pushTray();
    }, this.opts.trayDebounceMs);
  }

  private pushTray(): void {
    if (this.disposed) return;
    this.opts.desktop.setTrayState(this.currentTrayState());
  }

  private hasPendingDependent(job: FirmwareJob): boolean {
    return this.opts.jobs().some((j) => j.depends_on === job.job_id && (j.status === 'queued' || j.status === 'running'));
  }

  private onServerClosed(pin: string, reason: string, detail: string): void {
    const label = this.openServers.get(pin);
    this.openServers.delete(pin);
    if (label === undefined || QUIET_CLOSE_REASONS.has(reason)) return;
    const now = this.opts.now();
    const last = this.lastDisconnectNotice.get(pin);
    if (last !== undefined && now - last < this.opts.disconnectCooldownMs) return;
    if (!this.maybeNotify({ kind: 'server_disconnected', title: 'Build server disconnected', body: short(`${label || 'Build server'}: ${detail || reason}`) })) return;
    this.lastDisconnectNotice.set(pin, now);
  }

  /** Applies setting, visibility and rate limit; returns whether the notice was shown. */
  private maybeNotify(notice: DesktopNotice): boolean {
    if (this.disposed || !this.opts.notificationsEnabled()) return false;
    if (notice.jobId && this.opts.isJobVisible(notice.jobId)) return false;
    const now = this.opts.now();
    const { max, windowMs } = this.opts.rateLimit;
    while (this.shownAt[0] !== undefined && now - this.shownAt[0] >= windowMs) this.shownAt.shift();
    if (this.shownAt.length >= max) {
      this.suppressed.total++;
      if (notice.kind === 'failed') this.suppressed.failed++;
      this.scheduleSummary(windowMs - (now - (this.shownAt[0] ?? now)));
      return false;
    }
    this.shownAt.push(now);
    this.opts.desktop.notify(notice);
    return true;
  }

  private scheduleSummary(delayMs: number): void {
    if (this.summaryTimer) return;
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      const { total, failed } = this.suppressed;
      this.suppressed = { total: 0, failed: 0 };
      if (total === 0 || this.disposed || !this.opts.notificationsEnabled()) return;
      this.shownAt.push(this.opts.now());
      this.opts.desktop.notify({
        kind: 'info',
        title: 'Kiln',
        body: `${total} more job${total === 1 ? '' : 's'} finished${failed ? ` (${failed} failed)` : ''}`,
      });
    }, Math.max(0, delayMs));
  }
}

// DesktopPolicy (main/core/desktop.ts) with a real EventBus and RecordingDesktop: which events
// notify, with what text, focus suppression, setting off, rate limit, tray state from the queue.
import { afterEach, describe, expect, it } from 'vitest';
import {
  DesktopPolicy,
  RecordingDesktop,
  trayIconState,
  trayStatusLine,
  trayTooltip,
  type DesktopPolicyOptions,
} from '../../core/desktop';
import { EventBus } from '../../core/events';
import { createJob, markRunning, markTerminal, type CancelledBy, type FirmwareJob } from '../../core/jobs/model';
import { must } from '../../../test/support/must';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

let policy: DesktopPolicy | null = null;
afterEach(() => {
  policy?.dispose();
  policy = null;
});

function setup(extra: Partial<DesktopPolicyOptions> = {}) {
  const bus = new EventBus();
  const jobs: FirmwareJob[] = [];
  const desktop = new RecordingDesktop();
  policy = new DesktopPolicy({ bus, jobs: () => jobs, desktop, trayDebounceMs: 1, ...extra }).start();
  return { bus, jobs, desktop, policy };
}

function finish(job: FirmwareJob, status: 'completed' | 'failed' | 'cancelled', error: string | null = null, by: CancelledBy | '' = '') {
  markTerminal(job, status, error, by);
  return job;
}

describe('notifications', () => {
  it('notifies once per terminal event with the device name and where it was built', () => {
    const { bus, desktop } = setup();
    const remote = createJob({ configuration: 'kitchen.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    const local = createJob({ configuration: 'garage.yml', job_type: 'compile' });
    const failed = createJob({ configuration: 'porch.yaml', job_type: 'install', device_friendly_name: 'Porch light' });
    bus.emit('job_completed', { job: finish(remote, 'completed') });
    bus.emit('job_completed', { job: finish(local, 'completed') });
    bus.emit('job_failed', { job: finish(failed, 'failed', 'Compilation failed: missing wifi') });
    expect(desktop.notices).toEqual([
      { kind: 'completed', title: 'kitchen: build finished', body: 'Built on buildbox', jobId: remote.job_id },
      { kind: 'completed', title: 'garage: build finished', body: 'Built on this computer', jobId: local.job_id },
      { kind: 'failed', title: 'Porch light: install failed', body: 'Compilation failed: missing wifi', jobId: failed.job_id },
    ]);
  });

  it('never notifies on queue, start, progress or output', () => {
    const { bus, desktop } = setup();
    const job = createJob({ configuration: 'kitchen.yaml', job_type: 'compile' });
    bus.emit('job_queued', { job });
    markRunning(job);
    bus.emit('job_started', { job });
    bus.emit('job_progress', { job_id: job.job_id, progress: 40 });
    bus.emit('job_output', { job_id: job.job_id, line: 'Compiling…\n' });
    expect(desktop.notices).toEqual([]);
  });

  it('notifies a cancel by the build server, not one by the user, a supersede or our shutdown', () => {
    const { bus, desktop } = setup();
    const byUser = createJob({ configuration: 'a.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    const byServer = createJob({ configuration: 'b.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    const superseded = createJob({ configuration: 'c.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    const shutdown = createJob({ configuration: 'd.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    bus.emit('job_cancelled', { job: finish(byUser, 'cancelled', null, 'user'), by: 'user' });
    bus.emit('job_cancelled', { job: finish(superseded, 'cancelled', 'superseded by job 0123456789ab', 'superseded'), by: 'superseded' });
    bus.emit('job_cancelled', { job: finish(shutdown, 'cancelled', 'runner shutdown', 'shutdown'), by: 'shutdown' });
    bus.emit('job_cancelled', { job: finish(byServer, 'cancelled', 'server shutting down', 'remote'), by: 'remote' });
    expect(desktop.notices).toEqual([
      { kind: 'cancelled', title: 'b: build cancelled', body: 'Cancelled by buildbox: server shutting down', jobId: byServer.job_id },
    ]);
  });

  it('decides "cancelled by the build server" from cancelled_by, not from the error text', () => {
    const { bus, desktop } = setup();
    // The server gave no reason: still its cancel.
    const silent = createJob({ configuration: 'a.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    // A user's Stop whose job carries some server-looking text: not a server cancel.
    const userWithText = createJob({ configuration: 'b.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    // On a build server, 'remote' is the sender cancelling its own job: no notice there.
    const onReceiver = createJob({ configuration: 'remote_builds/x/c/c.yaml', job_type: 'compile', remote_peer: 'sender-1', remote_job_id: '0123456789ab' });
    // Cancelled before dispatch (still waiting for a server): not the server's doing.
    const pending = createJob({ configuration: 'd.yaml', job_type: 'compile', source: 'remote_pending' });
    bus.emit('job_cancelled', { job: finish(silent, 'cancelled', null, 'remote'), by: 'remote' });
    bus.emit('job_cancelled', { job: finish(userWithText, 'cancelled', 'stopped on buildbox', 'user'), by: 'user' });
    bus.emit('job_cancelled', { job: finish(onReceiver, 'cancelled', null, 'remote'), by: 'remote' });
    bus.emit('job_cancelled', { job: finish(pending, 'cancelled', null, 'user'), by: 'user' });
    expect(desktop.notices).toEqual([{ kind: 'cancelled', title: 'a: build cancelled', body: 'Cancelled by buildbox', jobId: silent.job_id }]);
  });

  it('keeps a compile quiet while its install upload is still pending, then reports the upload', () => {
    const { bus, jobs, desktop } = setup();
    const compile = createJob({ configuration: 'kitchen.yaml', job_type: 'compile' });
    const upload = createJob({ configuration: 'kitchen.yaml', job_type: 'upload', depends_on: compile.job_id, port: 'OTA' });
    jobs.push(compile, upload);
    bus.emit('job_completed', { job: finish(compile, 'completed') });
    expect(desktop.notices).toEqual([]);
    bus.emit('job_completed', { job: finish(upload, 'completed') });
    expect(desktop.notices.map((n) => [n.title, n.body])).toEqual([['kitchen: upload finished', 'Firmware uploaded via OTA']]);
  });

  it('is suppressed for a job the user can see, and entirely when the setting is off', () => {
    let enabled = true;
    const visible = new Set<string>();
    const { bus, desktop, policy } = setup({ notificationsEnabled: () => enabled, isJobVisible: (id) => visible.has(id) });
    const a = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    const b = createJob({ configuration: 'b.yaml', job_type: 'compile' });
    const c = createJob({ configuration: 'c.yaml', job_type: 'compile' });
    visible.add(a.job_id);
    bus.emit('job_failed', { job: finish(a, 'failed', 'boom') });
    enabled = false;
    bus.emit('job_completed', { job: finish(b, 'completed') });
    enabled = true;
    bus.emit('job_completed', { job: finish(c, 'completed') });
    expect(desktop.notices.map((n) => n.jobId)).toEqual([c.job_id]);
    // the failure the user watched happen does not mark the tray as failed
    expect(policy.currentTrayState().failed).toBe(0);
  });

  it('rate-limits bursts and folds the rest into one summary', async () => {
    let now = 1_000;
    const { bus, desktop } = setup({ rateLimit: { max: 2, windowMs: 40 }, now: () => now });
    const jobs = ['a', 'b', 'c', 'd', 'e'].map((n) => createJob({ configuration: `${n}.yaml`, job_type: 'compile' }));
    bus.emit('job_completed', { job: finish(must(jobs[0]), 'completed') });
    bus.emit('job_completed', { job: finish(must(jobs[1]), 'completed') });
    bus.emit('job_failed', { job: finish(must(jobs[2]), 'failed', 'x') });
    bus.emit('job_completed', { job: finish(must(jobs[3]), 'completed') });
    expect(desktop.notices).toHaveLength(2);
    now += 40;
    await tick(60);
    expect(desktop.notices).toHaveLength(3);
    expect(desktop.notices[2]).toEqual({ kind: 'info', title: 'Kiln', body: '2 more jobs finished (1 failed)' });
    // the window has moved on: the next one shows again (the summary used one slot)
    now += 40;
    bus.emit('job_completed', { job: finish(must(jobs[4]), 'completed') });
    expect(desktop.notices).toHaveLength(4);
  });

  it('notifies when an open build server connection drops, once per cooldown, not on our own stop', () => {
    let now = 0;
    const { bus, desktop } = setup({ disconnectCooldownMs: 1000, now: () => now });
    bus.emit('peer_link_closed', { pin: 'p1', reason: 'transport_error', detail: 'never opened' });
    bus.emit('peer_link_opened', { pin: 'p1', label: 'buildbox', esphome_version: '2026.1.0' });
    bus.emit('peer_link_closed', { pin: 'p1', reason: 'heartbeat_timeout', detail: '' });
    bus.emit('peer_link_opened', { pin: 'p1', label: 'buildbox', esphome_version: '2026.1.0' });
    now += 10;
    bus.emit('peer_link_closed', { pin: 'p1', reason: 'peer_hung_up', detail: '' });
    bus.emit('peer_link_opened', { pin: 'p2', label: 'laptop', esphome_version: '2026.1.0' });
    bus.emit('peer_link_closed', { pin: 'p2', reason: 'client_stopped', detail: '' });
    expect(desktop.notices).toEqual([{ kind: 'server_disconnected', title: 'Build server disconnected', body: 'buildbox: heartbeat_timeout' }]);
  });

  it('stops listening when disposed', () => {
    const { bus, desktop, policy } = setup();
    policy.dispose();
    bus.emit('job_completed', { job: finish(createJob({ configuration: 'a.yaml', job_type: 'compile' }), 'completed') });
    expect(desktop.notices).toEqual([]);
    expect(bus.listenerCount('job_completed')).toBe(0);
  });
});

describe('tray state', () => {
  it('follows the job list: running, queued, what builds where, unseen failures', async () => {
    let paused = false;
    const { bus, jobs, desktop, policy } = setup({ isPaused: () => paused });
    expect(desktop.tray).toMatchObject({ running: 0, queued: 0, failed: 0, paused: false });
    const a = createJob({ configuration: 'kitchen.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    const b = createJob({ configuration: 'garage.yaml', job_type: 'upload' });
    jobs.push(a, b);
    bus.emit('job_queued', { job: a });
    bus.emit('job_queued', { job: b });
    markRunning(a);
    bus.emit('job_started', { job: a });
    await tick();
    expect(desktop.tray).toEqual({
      running: 1,
      queued: 1,
      failed: 0,
      paused: false,
      current: [{ jobId: a.job_id, verb: 'Building', device: 'kitchen', where: 'buildbox' }],
    });
    expect(trayTooltip(desktop.tray)).toBe('Building kitchen on buildbox (1 queued)');
    expect(trayIconState(desktop.tray)).toBe('running');
    // bursts are coalesced into one update
    const before = desktop.trayStates.length;
    finish(a, 'failed', 'boom');
    bus.emit('job_failed', { job: a });
    bus.emit('jobs_changed', { reason: 'x' });
    await tick();
    expect(desktop.trayStates.length).toBe(before + 1);
    expect(desktop.tray).toMatchObject({ running: 0, queued: 1, failed: 1 });
    expect(trayIconState(desktop.tray)).toBe('failed');
    policy.acknowledgeFailures();
    paused = true;
    policy.refreshTray();
    expect(desktop.tray).toMatchObject({ failed: 0, paused: true, queued: 1 });
    expect(trayIconState(desktop.tray)).toBe('idle');
    expect(trayStatusLine(desktop.tray)).toBe('1 queued');
    expect(trayTooltip(desktop.tray)).toBe('1 queued · queue paused');
  });

  it('re-pushes the tray when the queue is paused or resumed from anywhere (queue_paused_changed)', () => {
    let paused = false;
    const { bus, desktop } = setup({ isPaused: () => paused });
    const before = desktop.trayStates.length;
    paused = true;
    bus.emit('queue_paused_changed', { paused: true });
    expect(desktop.trayStates.length).toBe(before + 1);
    expect(desktop.tray.paused).toBe(true);
    paused = false;
    bus.emit('queue_paused_changed', { paused: false });
    expect(desktop.tray.paused).toBe(false);
  });
});

// ElectronDesktop end to end on the fake electron module: core events → DesktopPolicy → tray
// menu/tooltip/icon and OS notifications (click focuses + selects, fallback to toasts).
import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { DesktopPolicy, EMPTY_TRAY_STATE, type DesktopNotice, type TrayState } from '../../core/desktop';
import { EventBus } from '../../core/events';
import { createJob, markRunning, markTerminal, type FirmwareJob } from '../../core/jobs/model';
import { ElectronDesktop } from '../electron-desktop';
import { ElectronNotifier } from '../notifications';
import { TrayController, trayBuildServer, trayIconSet, trayMenuTemplate, type TrayActions } from '../tray';
import { fake, resetFakeElectron, type FakeMenuItem, type NativeImage } from './fake-electron';
import { must } from '../../../test/support/must';

/** The real tray icons (the double's nativeImage reads them; a wrong path gives an empty image). */
const ICONS = resolve('assets', 'tray');
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const labels = (items: FakeMenuItem[]) => items.filter((i) => i.type !== 'separator').map((i) => i.label);

function actions(over: Partial<TrayActions> = {}): TrayActions & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    openWindow: () => calls.push('open'),
    quit: () => calls.push('quit'),
    pauseQueue: () => calls.push('pause'),
    resumeQueue: () => calls.push('resume'),
    ...over,
  };
}

let policy: DesktopPolicy | null = null;
beforeEach(() => resetFakeElectron());
afterEach(() => {
  policy?.dispose();
  policy = null;
});

describe('tray menu', () => {
  it('always has Open Kiln, the running/queued count, Pause queue and Quit', () => {
    const a = actions();
    const items = trayMenuTemplate(EMPTY_TRAY_STATE, a) as FakeMenuItem[];
    expect(labels(items)).toEqual(['Open Kiln', 'Nothing running', 'Pause queue', 'Quit Kiln']);
    items.find((i) => i.label === 'Open Kiln')!.click!();
    items.find((i) => i.label === 'Pause queue')!.click!();
    items.find((i) => i.label === 'Quit Kiln')!.click!();
    expect(a.calls).toEqual(['open', 'pause', 'quit']);
  });

  it('shows what is building where, failures, and Resume when paused', () => {
    const a = actions();
    const state: TrayState = {
      running: 1,
      queued: 2,
      failed: 1,
      paused: true,
      current: [{ jobId: 'j1', verb: 'Building', device: 'kitchen', where: 'buildbox' }],
    };
    const items = trayMenuTemplate(state, a) as FakeMenuItem[];
    expect(labels(items)).toEqual(['Open Kiln', '1 running, 2 queued', 'Building kitchen on buildbox', '1 failed — show', 'Resume queue', 'Quit Kiln']);
    items.find((i) => i.label === 'Resume queue')!.click!();
    expect(a.calls).toEqual(['resume']);
  });

  it('shows Pause queue disabled when the engine cannot pause', () => {
    const items = trayMenuTemplate(EMPTY_TRAY_STATE, actions({ pauseQueue: undefined, resumeQueue: undefined })) as FakeMenuItem[];
    const pause = items.find((i) => i.label?.startsWith('Pause queue'))!;
    expect(pause.enabled).toBe(false);
    expect(pause.click).toBeUndefined();
  });
});

describe('TrayController', () => {
  it('creates the tray with an icon and a context menu, rebuilding the menu only on change', () => {
    const ctl = new TrayController(trayIconSet(ICONS, 'linux'), actions(), 'linux');
    ctl.create();
    const tray = must(fake.trays[0]);
    expect((tray.image as NativeImage).path).toBe(ICONS + '/idle-22.png');
    expect(tray.tooltip).toBe('Kiln — idle');
    expect(tray.menu).not.toBeNull();
    expect(tray.setContextMenuCalls).toBe(1);

    const running: TrayState = { running: 1, queued: 0, failed: 0, paused: false, current: [{ jobId: 'j', verb: 'Building', device: 'kitchen', where: 'buildbox' }] };
    expect(ctl.update(running)).toBe(true);
    expect(tray.setContextMenuCalls).toBe(2);
    expect(tray.tooltip).toBe('Building kitchen on buildbox');
    expect((tray.image as NativeImage).path).toBe(ICONS + '/running-22.png');
    expect(labels(tray.menu!.items)).toContain('Building kitchen on buildbox');

    expect(ctl.update({ ...running, current: [...running.current] })).toBe(false); // same content
    expect(tray.setContextMenuCalls).toBe(2);

    ctl.update({ ...EMPTY_TRAY_STATE, failed: 2 });
    expect((tray.image as NativeImage).path).toBe(ICONS + '/failed-22.png');
    ctl.destroy();
    expect(tray.destroyed).toBe(true);
  });

  it('uses the template image and a title count on macOS, 32 px PNGs on Windows', () => {
    const mac = new TrayController(trayIconSet(ICONS, 'darwin'), actions(), 'darwin');
    mac.create();
    const img = must(fake.trays[0]).image as NativeImage;
    expect(img.path).toBe(ICONS + '/trayTemplate.png');
    expect(img.template).toBe(true);
    mac.update({ ...EMPTY_TRAY_STATE, running: 1, queued: 2 });
    expect(must(fake.trays[0]).title).toBe('3');
    const win = new TrayController(trayIconSet(ICONS, 'win32'), actions(), 'win32');
    win.create();
    expect((must(fake.trays[1]).image as NativeImage).path).toBe(ICONS + '/idle-32.png');
  });
});

describe('tray icons and the build-server section', () => {
  it('a wrong icon directory (e.g. a bad path inside app.asar) is reported, not silently blank', () => {
    const reported: string[] = [];
    const ctl = new TrayController(trayIconSet('/nowhere/tray', 'linux', (m) => reported.push(m)), actions(), 'linux');
    ctl.create();
    expect((fake.trays[0]!.image as NativeImage).isEmpty()).toBe(true);
    expect(reported).toEqual(['tray icon missing or not an image: /nowhere/tray/idle-22.png']);
    const ok: string[] = [];
    new TrayController(trayIconSet(ICONS, 'linux', (m) => ok.push(m)), actions(), 'linux').create();
    expect((fake.trays[1]!.image as NativeImage).isEmpty()).toBe(false);
    expect(ok).toEqual([]);
  });

  const role = (o: { enabled?: boolean; listening?: boolean; senders?: Array<{ connected: boolean }> } = {}) =>
    ({
      enabled: o.enabled ?? true,
      listening: o.listening ?? true,
      port: 6055,
      listenError: o.listening === false ? 'EADDRINUSE' : '',
      senders: (o.senders ?? []).map((s, i) => ({ dashboardId: `d${i}`, pin: 'p', label: `s${i}`, peerIp: '', pairedAt: '', connected: s.connected })),
    }) as unknown as Parameters<typeof trayBuildServer>[0];

  it('says off / listening / building for <sender>, counts paired senders, offers pairing and stop', () => {
    const a = actions({ openPairingWindow: () => a.calls.push('pair'), stopBuildServer: () => a.calls.push('stop') });
    const job = createJob({ job_type: 'compile', configuration: 'kitchen.yaml' });
    markRunning(job);
    job.remote_peer = 'dash-1';
    job.remote_peer_label = 'desk';
    expect(trayBuildServer(null, [])).toBeNull(); // no role in this app: no section
    const off = trayMenuTemplate(EMPTY_TRAY_STATE, a, trayBuildServer(role({ enabled: false }), [])) as FakeMenuItem[];
    expect(labels(off)).toContain('Build server: off');
    expect(labels(off)).not.toContain('Stop build server');
    expect(off.find((i) => i.label === 'Open pairing window')!.enabled).toBe(false);
    const listening = trayMenuTemplate(EMPTY_TRAY_STATE, a, trayBuildServer(role({ senders: [{ connected: true }, { connected: false }] }), [])) as FakeMenuItem[];
    expect(labels(listening)).toEqual(expect.arrayContaining(['Build server: listening on port 6055', '2 paired senders (1 connected)', 'Open pairing window', 'Stop build server']));
    listening.find((i) => i.label === 'Open pairing window')!.click!();
    listening.find((i) => i.label === 'Stop build server')!.click!();
    expect(a.calls).toEqual(['pair', 'stop']);
    const building = trayMenuTemplate(EMPTY_TRAY_STATE, a, trayBuildServer(role({ senders: [{ connected: true }] }), [job])) as FakeMenuItem[];
    expect(labels(building)).toContain('Build server: building kitchen for desk');
    expect(labels(building)).toContain('1 paired sender (1 connected)');
    const offline = trayMenuTemplate(EMPTY_TRAY_STATE, a, trayBuildServer(role({ listening: false }), [])) as FakeMenuItem[];
    expect(labels(offline)).toContain('Build server: not listening (EADDRINUSE)');
  });

  it('TrayController re-renders the section only when it changed', () => {
    const ctl = new TrayController(trayIconSet(ICONS, 'linux'), actions(), 'linux');
    ctl.create();
    const calls = fake.trays[0]!.setContextMenuCalls;
    expect(ctl.setBuildServer(trayBuildServer(role(), []))).toBe(true);
    expect(ctl.setBuildServer(trayBuildServer(role(), []))).toBe(false);
    expect(fake.trays[0]!.setContextMenuCalls).toBe(calls + 1);
    expect(fake.trays[0]!.tooltip).toContain('Build server: listening on port 6055');
  });
});

describe('notifications through ElectronDesktop', () => {
  function setup(opts: { visible?: (id: string) => boolean; enabled?: () => boolean } = {}) {
    const bus = new EventBus();
    const jobs: FirmwareJob[] = [];
    const focused: string[] = [];
    const selected: string[] = [];
    const toasts: DesktopNotice[] = [];
    const tray = new TrayController(trayIconSet(ICONS, 'linux'), actions(), 'linux');
    tray.create();
    const notifier = new ElectronNotifier({
      focusWindow: () => focused.push('focus'),
      selectJob: (id) => selected.push(id),
      fallbackToast: (n) => toasts.push(n),
      platform: 'linux',
    });
    const desktop = new ElectronDesktop(tray, notifier);
    policy = new DesktopPolicy({ bus, jobs: () => jobs, desktop, trayDebounceMs: 1, isJobVisible: opts.visible, notificationsEnabled: opts.enabled }).start();
    return { bus, jobs, focused, selected, toasts, desktop };
  }

  it('one OS notification per terminal event with the right text, none on progress', () => {
    const { bus } = setup();
    const ok = createJob({ configuration: 'kitchen.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    const bad = createJob({ configuration: 'garage.yaml', job_type: 'compile' });
    const cancelled = createJob({ configuration: 'porch.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    bus.emit('job_progress', { job_id: ok.job_id, progress: 50 });
    markTerminal(ok, 'completed');
    bus.emit('job_completed', { job: ok });
    markTerminal(bad, 'failed', 'esphome exited with code 1');
    bus.emit('job_failed', { job: bad });
    markTerminal(cancelled, 'cancelled', 'server shutting down', 'remote');
    bus.emit('job_cancelled', { job: cancelled, by: 'remote' });
    expect(fake.notifications.map((n) => [n.options.title, n.options.body, n.shown])).toEqual([
      ['kitchen: build finished', 'Built on buildbox', true],
      ['garage: build failed', 'esphome exited with code 1', true],
      ['porch: build cancelled', 'Cancelled by buildbox: server shutting down', true],
    ]);
    expect(must(fake.notifications[1]).options.urgency).toBe('critical');
  });

  it('a click focuses the window and selects the job', () => {
    const { bus, focused, selected } = setup();
    const job = createJob({ configuration: 'kitchen.yaml', job_type: 'compile' });
    markTerminal(job, 'completed');
    bus.emit('job_completed', { job });
    must(fake.notifications[0]).emit('click');
    expect(focused).toEqual(['focus']);
    expect(selected).toEqual([job.job_id]);
  });

  it('falls back to an in-app toast when notifications are unsupported or fail', () => {
    const { bus, toasts } = setup();
    fake.notificationsSupported = false;
    const a = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    markTerminal(a, 'completed');
    bus.emit('job_completed', { job: a });
    expect(fake.notifications).toHaveLength(0);
    expect(toasts.map((t) => t.title)).toEqual(['a: build finished']);
    fake.notificationsSupported = true;
    const b = createJob({ configuration: 'b.yaml', job_type: 'compile' });
    markTerminal(b, 'failed', 'boom');
    bus.emit('job_failed', { job: b });
    must(fake.notifications[0]).emit('failed', {}, 'no D-Bus');
    expect(toasts.map((t) => t.title)).toEqual(['a: build finished', 'b: build failed']);
  });

  it('nothing is shown while the job is visible in a focused window, or with the setting off', () => {
    let enabled = true;
    const { bus } = setup({ visible: (id) => id === visibleId, enabled: () => enabled });
    const seen = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    const visibleId = seen.job_id;
    markTerminal(seen, 'completed');
    bus.emit('job_completed', { job: seen });
    enabled = false;
    const off = createJob({ configuration: 'b.yaml', job_type: 'compile' });
    markTerminal(off, 'completed');
    bus.emit('job_completed', { job: off });
    expect(fake.notifications).toHaveLength(0);
  });

  it('the tray follows the queue through the policy', async () => {
    const { bus, jobs } = setup();
    const job = createJob({ configuration: 'kitchen.yaml', job_type: 'compile', source: 'remote', source_label: 'buildbox' });
    jobs.push(job);
    markRunning(job);
    bus.emit('job_started', { job });
    await tick();
    const tray = must(fake.trays[0]);
    expect(tray.tooltip).toBe('Building kitchen on buildbox');
    expect(labels(tray.menu!.items)).toEqual(['Open Kiln', '1 running', 'Building kitchen on buildbox', 'Pause queue', 'Quit Kiln']);
    markTerminal(job, 'completed');
    bus.emit('job_completed', { job });
    await tick();
    expect(tray.tooltip).toBe('Kiln — idle');
    expect(labels(tray.menu!.items)).toEqual(['Open Kiln', 'Nothing running', 'Pause queue', 'Quit Kiln']);
  });
});

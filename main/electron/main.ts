// The Electron shell's lifecycle. Thin on purpose: the backend is the same composition root the
// headless server uses; this file adds the window, the app:// protocol, the security hooks, the
// MessagePort transport, the tray + notifications (DesktopIntegration) and YAML imports by path.
import { app, session, type BrowserWindow } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveRpc } from '../core/api/rpc-server';
import { RecordingDesktop, type DesktopIntegration, type DesktopNotice, type TrayState } from '../core/desktop';
import { desktopOptionsFromEnv, startDesktopBackend, type DesktopBackend } from './backend';
import { APP_ID } from './constants';
import { confirmReplaceDialog, handlePathImports, importYamlFromPath, type PathImportResult } from './drop-import';
import { ElectronDesktop } from './electron-desktop';
import { ElectronNotifier } from './notifications';
import { registerAppScheme, serveAppProtocol } from './protocol';
import { handleRpcPortRequests } from './rpc-port';
import { denyAllPermissions, guardWebContents } from './security';
import { acquireSingleInstance, yamlPathsFromArgv } from './single-instance';
import { TrayController, trayIconSet, type TrayActions } from './tray';
import { createMainWindow, focusWindow, isWindowInFront, keepRunningInTrayOnClose } from './window';

/** Where the built bundles live: out/main (this file, bundled), out/preload, out/renderer. */
export function bundlePaths(mainDir: string) {
  return {
    preload: join(mainDir, '..', 'preload', 'index.cjs'),
    renderer: join(mainDir, '..', 'renderer'),
    trayIcons: join(mainDir, 'tray'),
    windowIcon: join(mainDir, 'icon.png'),
  };
}

/** DesktopIntegration that forwards to several (Electron + the e2e recorder). */
class TeeDesktop implements DesktopIntegration {
  constructor(private readonly targets: DesktopIntegration[]) {}
  notify(n: DesktopNotice): void {
    for (const t of this.targets) t.notify(n);
  }
  setTrayState(s: TrayState): void {
    for (const t of this.targets) t.setTrayState(s);
  }
  dispose(): void {
    for (const t of this.targets) t.dispose();
  }
}

export interface DesktopAppOptions {
  mainDir?: string;
  env?: NodeJS.ProcessEnv;
  argv?: string[];
}

export async function startDesktopApp(opts: DesktopAppOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const paths = bundlePaths(opts.mainDir ?? dirname(fileURLToPath(import.meta.url)));
  let win: BrowserWindow | null = null;
  let backend: DesktopBackend | null = null;
  let quitting = false;
  const pendingPaths: string[] = [];

  // ---- before 'ready'
  registerAppScheme();
  app.setAppUserModelId(APP_ID); // Windows: notifications are attributed to this id (= electron-builder appId)
  const primary = acquireSingleInstance({
    focus: () => openWindow(),
    importPaths: (p) => void importPaths(p),
  });
  if (!primary) {
    // The running instance got our argv (and focuses itself); nothing else to do here.
    app.quit();
    return;
  }
  app.on('web-contents-created', (_event, contents) => guardWebContents(contents));
  app.on('before-quit', () => {
    quitting = true;
  });

  await app.whenReady();

  // ---- after 'ready'
  denyAllPermissions(session.defaultSession);
  serveAppProtocol(paths.renderer);

  // The desktop side exists before the backend (the policy inside createApp pushes the first
  // tray state at once); what needs the backend reaches it through `backend` once it is set.
  const toast = (n: DesktopNotice) =>
    backend?.service.broadcast('toast', {
      kind: n.kind === 'completed' ? 'success' : n.kind === 'failed' || n.kind === 'server_disconnected' ? 'error' : 'info',
      title: n.title,
      body: n.body,
      ...(n.jobId ? { jobId: n.jobId } : {}),
    });
  const notifier = new ElectronNotifier({
    focusWindow: () => openWindow(),
    // The window selects the job and opens its log (contract event `selectJob`); a job that has
    // left the history meanwhile gets the notice back as a toast instead.
    selectJob: (jobId, notice) => {
      if (!backend?.service.selectJob(jobId)) toast(notice);
    },
    fallbackToast: toast,
  });
  const trayActions: TrayActions = { openWindow: () => openWindow(), quit: () => app.quit() };
  const tray = new TrayController(trayIconSet(paths.trayIcons), trayActions);
  tray.create();
  const electronDesktop = new ElectronDesktop(tray, notifier);
  let desktop: DesktopIntegration = electronDesktop;
  const recorder = env.APP_E2E === '1' ? new RecordingDesktop() : null;
  if (recorder) desktop = new TeeDesktop([electronDesktop, recorder]);

  const fromEnv = await desktopOptionsFromEnv(env);
  backend = await startDesktopBackend({ ...fromEnv, appVersion: app.getVersion(), desktop, isJobVisible: () => isWindowInFront(win) });
  const be = backend;
  const policy = be.policy;
  const queue = be.queueControl;
  if (queue) {
    trayActions.pauseQueue = () => {
      queue.pause();
      policy.refreshTray();
    };
    trayActions.resumeQueue = () => {
      queue.resume();
      policy.refreshTray();
    };
    tray.refresh();
  }
  if (recorder) {
    // e2e flavour: what the desktop was told + an in-process API handle, for electronApp.evaluate().
    const e2eConn = be.service.connect(() => {});
    (globalThis as { __e2e?: unknown }).__e2e = {
      desktop: recorder,
      configDir: be.configDir,
      importPaths: (p: string[]) => importPaths(p),
      call: (method: string, params: unknown) => e2eConn.call(method, params),
    };
  }

  const stopPorts = handleRpcPortRequests({
    getWindow: () => win,
    serve: (channel) => serveRpc(channel, { service: be.service }),
    onRefused: (reason) => console.warn(`[kiln] ${reason}`),
  });
  const stopImports = handlePathImports(() => win, {
    importYaml: (req) => be.importYaml(req),
    confirmReplace: (name) => confirmReplaceDialog(win, name),
  });

  function openWindow(): void {
    if (!app.isReady()) return;
    if (win && !win.isDestroyed()) {
      focusWindow(win);
      return;
    }
    win = createMainWindow({ preloadPath: paths.preload, iconPath: paths.windowIcon, devTools: !app.isPackaged || env.KILN_DEVTOOLS === '1' });
    const w = win;
    keepRunningInTrayOnClose(w, {
      activeJobs: () => be.jobs().filter((j) => j.status === 'queued' || j.status === 'running').length,
      isQuitting: () => quitting,
      announce: (n) =>
        desktop.notify({
          kind: 'info',
          title: 'Kiln is still running',
          body: `${n} job${n === 1 ? '' : 's'} active — Kiln keeps building in the tray. Quit from the tray menu.`,
        }),
    });
    w.on('focus', () => policy.acknowledgeFailures());
    w.on('closed', () => {
      if (win === w) win = null;
    });
  }

  async function importPaths(list: string[]): Promise<PathImportResult[]> {
    if (!backend) {
      pendingPaths.push(...list);
      return [];
    }
    const results: PathImportResult[] = [];
    for (const p of list) {
      const r = await importYamlFromPath(p, { importYaml: (req) => be.importYaml(req), confirmReplace: (name) => confirmReplaceDialog(win, name) });
      results.push(r);
      if (r.status === 'imported') be.service.broadcast('toast', { kind: 'success', title: `Imported ${r.configuration}`, body: r.overwritten ? 'Replaced the existing file' : '' });
      else if (r.status === 'refused') be.service.broadcast('toast', { kind: 'error', title: 'Import refused', body: r.message });
    }
    return results;
  }

  openWindow();
  void importPaths([...pendingPaths.splice(0), ...yamlPathsFromArgv(opts.argv ?? process.argv, process.cwd())]);

  app.on('activate', () => openWindow()); // macOS dock click
  app.on('window-all-closed', () => {
    // Closing the last window with nothing active quits (macOS keeps apps open by convention).
    if (process.platform !== 'darwin') app.quit();
  });
  let stopped = false;
  app.on('will-quit', (event) => {
    if (stopped) return;
    event.preventDefault();
    stopped = true;
    void (async () => {
      stopPorts();
      stopImports();
      try {
        await be.stop(); // policy off first; running jobs end cancelled ("runner shutdown") and are persisted
      } catch (err) {
        console.error('[kiln] backend stop failed:', err);
      }
      desktop.dispose();
      app.exit(0);
    })();
  });
}

// The Electron shell's lifecycle. Thin on purpose: the backend is the same composition root the
// headless server uses; this file adds the window, the app:// protocol, the security hooks, the
// MessagePort transport, the tray + notifications (DesktopIntegration) and YAML imports by path.
//
// Order matters (issue 17 defect 1): everything a user or the OS can trigger — the tray, a
// second launch, `open-file`, the window's close/focus, the renderer's connect — is wired BEFORE
// the backend starts, and reaches the backend only through `be` (null while it starts). The
// window opens at once; its RPC connection is answered when the backend is attached.
import { app, dialog, session, type BrowserWindow } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../../preload/contract';
import { serveRpc } from '../core/api/rpc-server';
import { RecordingDesktop, type DesktopIntegration, type DesktopNotice } from '../core/desktop';
import { desktopOptionsFromEnv, QUIT_DEADLINE_MS, startDesktopBackend, type DesktopBackend, type DesktopBackendOptions } from './backend';
import { APP_ID } from './constants';
import { serveWhenReady } from './deferred-rpc';
import { confirmReplaceDialog, importYamlFromPath, type PathImportResult } from './drop-import';
import { ElectronDesktop, TeeDesktop } from './electron-desktop';
import { launchedAtLogin, setLaunchAtLogin } from './launch-at-login';
import { resolveGuiPath } from './login-path';
import { ElectronNotifier } from './notifications';
import { registerAppScheme, serveAppProtocol } from './protocol';
import { handleRpcPortRequests } from './rpc-port';
import { denyAllPermissions, guardWebContents } from './security';
import { acquireSingleInstance, yamlPathsFromArgv } from './single-instance';
import { TrayController, trayBuildServer, trayIconSet, type TrayActions } from './tray';
import { trayHostAvailable } from './tray-host';
import { confirmQuitDialog, createMainWindow, focusWindow, isWindowInFront, keepRunningInTrayOnClose } from './window';

/** Where the built bundles live: out/main (this file, bundled), out/preload, out/renderer. */
export function bundlePaths(mainDir: string) {
  return {
    preload: join(mainDir, '..', 'preload', 'index.cjs'),
    renderer: join(mainDir, '..', 'renderer'),
    trayIcons: join(mainDir, 'tray'),
    windowIcon: join(mainDir, 'icon.png'),
  };
}

export interface DesktopAppOptions {
  mainDir?: string;
  /** The process environment; its PATH is replaced by the resolved GUI PATH at start. */
  env?: NodeJS.ProcessEnv;
  argv?: string[];
  platform?: NodeJS.Platform;
  home?: string;
  /** Bin dirs of managed toolchains (the toolchain manager): first on PATH when they exist. */
  managedToolchainDirs?: () => readonly string[] | Promise<readonly string[]>;
  /** Whether a tray icon can be seen (default: tray-host.ts). */
  trayHostAvailable?: () => Promise<boolean>;
  /** How long quitting may take (default 10 s). */
  quitDeadlineMs?: number;
  /** Extra parts composed on the backend (tests). */
  extensions?: DesktopBackendOptions['extensions'];
}

const isActive = (s: string) => s === 'queued' || s === 'running';

export async function startDesktopApp(opts: DesktopAppOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const argv = opts.argv ?? process.argv;
  const paths = bundlePaths(opts.mainDir ?? dirname(fileURLToPath(import.meta.url)));
  let win: BrowserWindow | null = null;
  let be: DesktopBackend | null = null;
  let quitting = false;
  let wired = false; // after-ready wiring done: windows may open
  let trayShown = true; // until the check answers
  const pendingPaths: string[] = [];

  // ---- before 'ready' (open-file and second-instance may fire from here on)
  registerAppScheme();
  app.setAppUserModelId(APP_ID); // Windows: notifications are attributed to this id (= electron-builder appId)
  const primary = acquireSingleInstance({ focus: () => showWindow(), importPaths: (p) => void importPaths(p) });
  if (!primary) {
    app.quit(); // the running instance got our argv and focuses itself
    return;
  }
  app.on('web-contents-created', (_event, contents) => guardWebContents(contents));
  app.on('before-quit', () => {
    quitting = true;
  });
  // Bounded work that needs no window, in parallel with Electron's start.
  const pathReady = (async () => {
    const managedDirs = (await opts.managedToolchainDirs?.()) ?? [];
    const r = await resolveGuiPath({ env, platform, home: opts.home, managedDirs });
    env.PATH = r.path;
    if (!r.fromShell && platform !== 'win32') console.warn(`[kiln] login-shell PATH not used (${r.shellError}); using ${r.path}`);
  })().catch((err: unknown) => console.warn('[kiln] PATH resolution failed:', err));
  const trayCheck = (opts.trayHostAvailable ?? (() => trayHostAvailable({ platform, env })))().catch(() => true);

  await app.whenReady();

  // ---- after 'ready': IPC and every user-facing entry point first
  denyAllPermissions(session.defaultSession);
  serveAppProtocol(paths.renderer);
  let attach!: (b: DesktopBackend) => void;
  let fail!: (err: unknown) => void;
  const backendReady = new Promise<DesktopBackend>((resolve, reject) => {
    attach = resolve;
    fail = reject;
  });
  backendReady.catch(() => undefined);
  const stopPorts = handleRpcPortRequests({
    getWindow: () => win,
    serve: (channel) => serveWhenReady(backendReady, channel, (b, c) => serveRpc(c, { service: b.service })),
    onRefused: (reason) => console.warn(`[kiln] ${reason}`),
  });

  const toast = (n: DesktopNotice) =>
    be?.service.broadcast('toast', {
      kind: n.kind === 'completed' ? 'success' : n.kind === 'failed' || n.kind === 'server_disconnected' ? 'error' : 'info',
      title: n.title,
      body: n.body,
      ...(n.jobId ? { jobId: n.jobId } : {}),
    });
  const notifier = new ElectronNotifier({
    focusWindow: () => showWindow(),
    // The window selects the job and opens its log (contract event `selectJob`); a job that has
    // left the history meanwhile gets the notice back as a toast instead.
    selectJob: (jobId, notice) => {
      if (!be?.service.selectJob(jobId)) toast(notice);
    },
    fallbackToast: toast,
  });
  const refreshTray = () => {
    be?.policy.refreshTray();
    tray.setBuildServer(be ? trayBuildServer(be.buildServer(), be.jobs()) : null);
  };
  const reportFailure = (what: string) => (err: unknown) => toast({ kind: 'failed', title: what, body: err instanceof Error ? err.message : String(err) });
  const trayActions: TrayActions = {
    openWindow: () => showWindow(),
    quit: () => app.quit(),
    pauseQueue: () => {
      be?.queueControl.pause();
      refreshTray();
    },
    resumeQueue: () => {
      be?.queueControl.resume();
      refreshTray();
    },
    openPairingWindow: () => {
      showWindow();
      be?.openPairingWindow().then(refreshTray, reportFailure('Could not open the pairing window'));
    },
    stopBuildServer: () => {
      be?.stopBuildServer().then(refreshTray, reportFailure('Could not stop the build server'));
    },
  };
  const tray = new TrayController(trayIconSet(paths.trayIcons, platform), trayActions, platform);
  tray.create();
  const electronDesktop = new ElectronDesktop(tray, notifier, { window: () => win, downloadsDir: () => app.getPath('downloads') });
  const recorder = env.APP_E2E === '1' ? new RecordingDesktop() : null;
  const desktop: DesktopIntegration = recorder ? new TeeDesktop([electronDesktop, recorder]) : electronDesktop;

  function openWindow(show: boolean): void {
    const w = createMainWindow({ preloadPath: paths.preload, iconPath: paths.windowIcon, show, devTools: !app.isPackaged || env.KILN_DEVTOOLS === '1' });
    win = w;
    keepRunningInTrayOnClose(w, {
      activeJobs: () => (be ? be.jobs().filter((j) => isActive(j.status)).length : 0),
      serving: () => be?.buildServer()?.listening ?? false,
      isQuitting: () => quitting,
      trayShown: () => trayShown,
      announce: (n) =>
        desktop.notify({
          kind: 'info',
          title: 'Kiln is still running',
          body: n > 0 ? `${n} job${n === 1 ? '' : 's'} active — Kiln keeps building in the tray. Quit from the tray menu.` : 'The build server keeps running in the tray. Quit from the tray menu.',
        }),
      confirmQuit: (n) => confirmQuitDialog(w, n),
      quit: () => app.quit(),
    });
    w.on('focus', () => be?.policy.acknowledgeFailures());
    w.on('closed', () => {
      if (win === w) win = null;
    });
  }

  /** Tray "Open Kiln", second launch, open-file, notification click, dock click. */
  function showWindow(): void {
    if (!wired) return; // before ready: the window opens once wiring is done
    if (win && !win.isDestroyed()) focusWindow(win);
    else openWindow(true);
  }

  async function importPaths(list: string[]): Promise<PathImportResult[]> {
    const backend = be;
    if (!backend) {
      pendingPaths.push(...list); // imported once the backend is attached
      return [];
    }
    const results: PathImportResult[] = [];
    for (const p of list) {
      const r = await importYamlFromPath(p, { importYaml: (req) => backend.importYaml(req), confirmReplace: (name) => confirmReplaceDialog(win, name) });
      results.push(r);
      if (r.status === 'imported') backend.service.broadcast('toast', { kind: 'success', title: `Imported ${r.configuration}`, body: r.overwritten ? 'Replaced the existing file' : '' });
      else if (r.status === 'refused') backend.service.broadcast('toast', { kind: 'error', title: 'Import refused', body: r.message });
    }
    return results;
  }

  app.on('activate', () => showWindow()); // macOS dock click
  app.on('window-all-closed', () => {
    // Closing the last window with nothing active quits (macOS keeps apps open by convention).
    if (platform !== 'darwin') app.quit();
  });
  let exiting = false;
  app.on('will-quit', (event) => {
    if (exiting) return;
    event.preventDefault();
    exiting = true;
    const deadlineMs = opts.quitDeadlineMs ?? QUIT_DEADLINE_MS;
    const started = Date.now();
    // Last resort: the process ends shortly after the deadline whatever hangs below.
    const hard = setTimeout(() => app.exit(0), deadlineMs + 2_000);
    void (async () => {
      stopPorts();
      // Still starting: wait for it within the same deadline, then stop it.
      const backend = be ?? (await Promise.race([backendReady.catch(() => null), new Promise<null>((r) => setTimeout(() => r(null), deadlineMs).unref())]));
      // Running jobs end cancelled (cancelled_by 'shutdown') and are persisted; bounded.
      if (backend) await backend.stop({ deadlineMs: Math.max(0, deadlineMs - (Date.now() - started)) });
      desktop.dispose();
      clearTimeout(hard);
      app.exit(0);
    })();
  });

  wired = true;
  const atLogin = launchedAtLogin(argv, platform, app);
  // A login start waits for the backend to decide (hidden in the tray when serving); else now.
  if (!atLogin) openWindow(true);

  // ---- the backend (seconds: the esphome probe, the peer-link listener)
  await pathReady;
  trayShown = await trayCheck;
  try {
    const fromEnv = await desktopOptionsFromEnv(env, opts.home);
    be = await startDesktopBackend({
      ...fromEnv,
      appVersion: app.getVersion(),
      desktop,
      isJobVisible: () => isWindowInFront(win),
      extensions: opts.extensions,
    });
  } catch (err) {
    fail(err);
    const message = err instanceof Error ? err.message : String(err);
    console.error('[kiln] the backend failed to start:', err);
    dialog.showErrorBox('Kiln could not start', message);
    app.exit(1);
    return;
  }
  const backend = be;
  attach(backend);
  if (exiting) return;

  refreshTray();
  let loginSetting = backend.settings.get().launch_at_login;
  const applyLogin = (on: boolean) =>
    setLaunchAtLogin(on, { platform, env, home: opts.home, loginItems: app, execArgs: app.isPackaged ? [] : [app.getAppPath()] }).catch(
      reportFailure('Launch at login could not be changed'),
    );
  if (loginSetting) void applyLogin(true); // refresh the entry (the AppImage may have moved)
  backend.onEvent((event, data) => {
    if (event === 'buildServerRoleChanged' || event === 'jobLifecycle' || event === 'pairingWindow') refreshTray();
    if (event === 'settingsChanged') {
      const on = (data as Settings).launchAtLogin;
      if (on !== loginSetting) {
        loginSetting = on;
        void applyLogin(on);
      }
    }
  });
  if (recorder) {
    // e2e flavour: what the desktop was told + an in-process API handle, for electronApp.evaluate().
    const e2eConn = backend.service.connect(() => {});
    (globalThis as { __e2e?: unknown }).__e2e = {
      desktop: recorder,
      configDir: backend.configDir,
      importPaths: (p: string[]) => importPaths(p),
      call: (method: string, params: unknown) => e2eConn.call(method, params),
      trayMenu: () => tray.menuLabels(),
      path: () => env.PATH,
    };
  }
  if (atLogin && !(backend.buildServer()?.enabled && trayShown)) showWindow();
  void importPaths([...pendingPaths.splice(0), ...yamlPathsFromArgv(argv, process.cwd())]);
}

// Toolchains for one Kiln process: installs with watchable progress and Stop, the managed default,
// update checks, and `ensure(version)` for a build server provisioning a sender's version. Two
// callers asking for one version share one install (here; the store's lock covers other processes).
import { raceAbort } from '../race-abort';
import { installToolchain, type InstallOptions } from './installer';
import type { InstallPhase, InstallProgress } from './pip-progress';
import { ToolchainStore, type Toolchain } from './store';
import { checkForUpdate, type UpdateCheck } from './update-check';
import { checkVersion, compareVersions, ToolchainError } from './version';

export const INSTALL_LOG_LINES = 2000;

export interface InstallState {
  id: string;
  /** null = latest (until pip has told us which). */
  version: string | null;
  origin: 'user' | 'provision';
  status: 'running' | 'done' | 'failed' | 'cancelled';
  phase: InstallPhase;
  fraction: number;
  message: string;
  error: string;
  startedAt: string;
  endedAt: string | null;
}

export type ToolchainEvent = { kind: 'install'; install: InstallState } | { kind: 'changed'; reason: string };

export interface ToolchainManagerOptions {
  store: ToolchainStore;
  /** pip pass-through applied to every install (offline wheelhouse / mirror). */
  pip?: Pick<InstallOptions, 'findLinks' | 'indexUrl' | 'noIndex' | 'python'>;
  env?: NodeJS.ProcessEnv;
  /** PyPI JSON URL for the update check (a mirror's, or a test server's). */
  updateUrl?: string;
}

interface Running {
  state: InstallState;
  log: string[];
  abort: AbortController;
  promise: Promise<Toolchain>;
  listeners: Set<(line: string) => void>;
}

export class ToolchainManager {
  readonly store: ToolchainStore;
  private readonly installs = new Map<string, Running>();
  private readonly byKey = new Map<string, Running>();
  private readonly listeners = new Set<(e: ToolchainEvent) => void>();
  private nextId = 1;

  constructor(private readonly o: ToolchainManagerOptions) {
    this.store = o.store;
  }

  onEvent(fn: (e: ToolchainEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  list(): Toolchain[] {
    return this.store.list();
  }

  installsInProgress(): InstallState[] {
    return [...this.installs.values()].map((r) => ({ ...r.state }));
  }

  /** The full log of an install (running or recently ended). */
  installLog(id: string): string[] {
    return [...(this.installs.get(id)?.log ?? [])];
  }

  /**
   * Starts (or joins) an install. `onLine` sees every line from now on (a joiner does not get the
   * lines before it joined; they are in `installLog`).
   */
  install(version: string | null, opts: { origin?: 'user' | 'provision'; onLine?: (line: string) => void } = {}): { state: InstallState; done: Promise<Toolchain> } {
    if (version !== null) checkVersion(version);
    const key = version ?? 'latest';
    const existing = this.byKey.get(key);
    if (existing && existing.state.status === 'running') {
      if (opts.onLine) existing.listeners.add(opts.onLine);
      return { state: { ...existing.state }, done: existing.promise };
    }
    const id = `i${this.nextId++}`;
    const abort = new AbortController();
    const state: InstallState = { id, version, origin: opts.origin ?? 'user', status: 'running', phase: 'python', fraction: 0, message: 'starting', error: '', startedAt: new Date().toISOString(), endedAt: null };
    const run: Running = { state, log: [], abort, listeners: new Set(opts.onLine ? [opts.onLine] : []), promise: Promise.resolve(null as unknown as Toolchain) };
    const emit = (): void => this.emit({ kind: 'install', install: { ...state } });
    run.promise = installToolchain(this.store, {
      ...this.o.pip,
      env: this.o.env,
      version: version ?? undefined,
      origin: state.origin,
      signal: abort.signal,
      onLine: (line) => {
        run.log.push(line);
        if (run.log.length > INSTALL_LOG_LINES) run.log.splice(0, run.log.length - INSTALL_LOG_LINES);
        for (const l of run.listeners) l(line);
      },
      onProgress: (p: InstallProgress) => {
        state.phase = p.phase;
        state.fraction = p.fraction;
        state.message = p.message;
        emit();
      },
    }).then(
      async (r) => {
        if (state.origin === 'user' && r.toolchain.origin !== 'user') await this.store.adopt(r.toolchain.version);
        state.status = 'done';
        state.version = r.toolchain.version;
        state.fraction = 1;
        state.phase = 'done';
        state.message = r.alreadyInstalled ? `ESPHome ${r.toolchain.version} is installed` : `ESPHome ${r.toolchain.version} installed`;
        state.endedAt = new Date().toISOString();
        // The first toolchain on a machine becomes the default: one click from "no ESPHome" to builds.
        if (state.origin === 'user' && this.store.defaultVersion() === null) await this.store.setDefault(r.toolchain.version);
        emit();
        this.emit({ kind: 'changed', reason: 'installed' });
        return this.store.get(r.toolchain.version) ?? r.toolchain;
      },
      (err: unknown) => {
        state.status = err instanceof ToolchainError && err.code === 'cancelled' ? 'cancelled' : 'failed';
        state.error = err instanceof Error ? err.message : String(err);
        state.message = state.error;
        state.endedAt = new Date().toISOString();
        emit();
        throw err;
      },
    );
    run.promise.catch(() => undefined);
    this.installs.set(id, run);
    this.byKey.set(key, run);
    // Ended installs stay readable for a while (the window shows the last one's log).
    void run.promise.catch(() => undefined).finally(() => {
      setTimeout(() => {
        if (this.installs.get(id) === run) this.installs.delete(id);
        if (this.byKey.get(key) === run) this.byKey.delete(key);
      }, 10 * 60_000).unref?.();
    });
    emit();
    return { state: { ...state }, done: run.promise };
  }

  /** Stop: kills pip, removes the temp venv. False when no such install is running. */
  stop(id: string): boolean {
    const r = this.installs.get(id);
    if (!r || r.state.status !== 'running') return false;
    r.abort.abort(new Error('stopped by the user'));
    return true;
  }

  async setDefault(version: string): Promise<Toolchain> {
    const t = await this.store.setDefault(version);
    this.emit({ kind: 'changed', reason: 'default' });
    return t;
  }

  async remove(version: string): Promise<void> {
    await this.store.remove(version);
    this.emit({ kind: 'changed', reason: 'removed' });
  }

  checkForUpdate(): Promise<UpdateCheck> {
    return checkForUpdate(this.store.defaultVersion(), { url: this.o.updateUrl });
  }

  /**
   * A build server's provisioning: the toolchain of exactly `version`, installed on demand (its
   * lines go to `onLine`), marked used now; then provisioned toolchains beyond the keep limit are
   * removed oldest-unused first, never the default, a user's, or one a build is using.
   */
  async ensure(version: string, opts: { signal?: AbortSignal; onLine?: (line: string) => void; inUse?: () => Set<string> } = {}): Promise<Toolchain> {
    checkVersion(version);
    let t = this.store.get(version);
    if (!t) {
      const { done } = this.install(version, { origin: 'provision', onLine: opts.onLine });
      // A cancelled build stops waiting; the install goes on for other builds waiting on it.
      t = await raceAbort(done, opts.signal, () => new ToolchainError('provisioning stopped: the build was cancelled', 'cancelled'));
    }
    await this.store.touch(version);
    await this.evict(new Set([version, ...(opts.inUse?.() ?? [])]));
    return this.store.get(version) ?? t;
  }

  private async evict(keep: Set<string>): Promise<void> {
    const limit = this.store.provisionKeep();
    const provisioned = this.store.list().filter((t) => t.origin === 'provision' && !t.isDefault);
    if (provisioned.length <= limit) return;
    const candidates = provisioned.filter((t) => !keep.has(t.version)).sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt) || compareVersions(a.version, b.version));
    let excess = provisioned.length - limit;
    for (const t of candidates) {
      if (excess <= 0) break;
      await this.store.remove(t.version).catch(() => undefined);
      excess--;
    }
    this.emit({ kind: 'changed', reason: 'evicted' });
  }

  private emit(e: ToolchainEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch {
        /* a listener's problem is not the install's */
      }
    }
  }
}

// Starts processes through Kiln's spawner (process-spawner.cjs, a small long-lived child) instead
// of forking this process. Why (measured, docs/notes/performance.md "Process start"): libuv forks
// on Linux, and the fork copies this whole process's page tables while its event loop waits — at
// ~250 MB RSS each spawn stalled the loop for several ms (every build server's frames, the
// window's WebSocket and log streaming with it). A fork of the small spawner costs Kiln nothing.
// The spawner hands the child's output pipe over as a handle, so Kiln reads it itself exactly as
// before (same backpressure); the spawner reaps the child and reports the exit status.
// The spawner is an accelerator: when its file is missing, it does not come up in time, or it died
// too often, `launch` returns false and the caller spawns directly. A process that was running
// when the spawner died is reported `lost` (its exit status can no longer be known).
// Not inside Electron: the packaged app has the runAsNode fuse off (electron.config.ts), so a
// fork of process.execPath would start a second Kiln app, not a Node script; the desktop app
// spawns directly as before (see docs/notes/performance.md "Process start").
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** Next to this module in the sources, next to the bundle in builds (both copy it there). */
const SPAWNER_FILE = new URL('./process-spawner.cjs', import.meta.url);
const READY_TIMEOUT_MS = 10_000;
const MAX_STARTS = 3;
const SPAWNER_GRACE_MS = 3000;

export interface LaunchRequest {
  file: string;
  args: readonly string[];
  cwd?: string;
  env: Record<string, string>;
}

/** What a launched process reports, in this order: spawned or failed; then exited or lost. */
export interface LaunchHandlers {
  spawned(pid: number, output: Socket): void;
  /** Could not be started; `code` is the errno name (ENOENT, EACCES, …). */
  failed(code: string): void;
  exited(code: number | null, signal: NodeJS.Signals | null): void;
  /** The spawner died while the process ran: it is no longer anyone's child. */
  lost(): void;
  /** The spawner died before it confirmed the start: the caller starts the process itself. */
  unavailable(): void;
}

export interface ProcessSpawnerOptions {
  /** The spawner script (default: process-spawner.cjs next to this module). */
  scriptPath?: string;
  /** How long a new spawner may take to say ready; then it is killed and launches go direct. */
  readyTimeoutMs?: number;
  /** Spawner starts allowed in this process's life; after that every launch goes direct. */
  maxStarts?: number;
  /** Default `spawnerSupported()`; false = every launch goes direct. */
  enabled?: boolean;
  /** How long the spawner gives its groups after SIGTERM when Kiln has gone. */
  graceMs?: number;
}

type Incoming =
  | { t: 'ready' }
  | { t: 'spawned'; id: number; pid: number }
  | { t: 'failed'; id: number; code: string }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };

interface Pending {
  handlers: LaunchHandlers;
  spawned: boolean;
}

/**
 * Whether a spawner can be forked here: plain Node only. Inside Electron process.execPath is the
 * Electron binary, which runs a script only with the runAsNode fuse on (off in release builds).
 */
export function spawnerSupported(versions: NodeJS.ProcessVersions = process.versions): boolean {
  return process.platform !== 'win32' && !('electron' in versions);
}

export class ProcessSpawner {
  private child: ChildProcess | undefined;
  private ready: Promise<boolean> = Promise.resolve(false);
  private isReady = false;
  private starts = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly scriptPath: string | undefined;
  private readonly readyTimeoutMs: number;
  private readonly maxStarts: number;
  private readonly graceMs: number;

  constructor(opts: ProcessSpawnerOptions = {}) {
    this.scriptPath = opts.scriptPath ?? (SPAWNER_FILE.protocol === 'file:' ? fileURLToPath(SPAWNER_FILE) : undefined);
    this.readyTimeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
    this.maxStarts = (opts.enabled ?? spawnerSupported()) ? (opts.maxStarts ?? MAX_STARTS) : 0;
    this.graceMs = opts.graceMs ?? SPAWNER_GRACE_MS;
  }

  /** The spawner's pid while it runs (tests and diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts `req` through the spawner; resolves false when the spawner is not available (the
   * caller spawns directly; no handler is called then).
   */
  async launch(req: LaunchRequest, handlers: LaunchHandlers): Promise<boolean> {
    const child = await this.whenReady();
    if (!child?.connected) return false;
    const id = this.nextId++;
    this.pending.set(id, { handlers, spawned: false });
    this.updateRef();
    child.send({ t: 'run', id, file: req.file, args: req.args, cwd: req.cwd, env: req.env }, (err) => {
      // The channel closed under us: the 'exit' handler reports this launch unavailable.
      if (err) void err;
    });
    return true;
  }

  /**
   * Starts the spawner now without waiting for it, so its start (a node process, 80–110 ms at load 2,
   * up to ~0.3 s loaded) overlaps the caller's own start-up instead of delaying its first run.
   */
  warmUp(): void {
    if (this.child || this.starts >= this.maxStarts || !this.scriptPath || !existsSync(this.scriptPath)) return;
    this.start(this.scriptPath);
  }

  /** Ends the spawner (tests); launches in flight are reported as if it had died. */
  stop(): void {
    this.child?.kill('SIGKILL');
  }

  /**
   * The spawner once it has said ready; undefined when it cannot be had in time (not allowed, file
   * missing, died, or not ready within `readyTimeoutMs` of its start — then it is killed and the
   * next launch may start another, up to `maxStarts`).
   */
  private async whenReady(): Promise<ChildProcess | undefined> {
    if (!this.child) {
      if (this.starts >= this.maxStarts || !this.scriptPath || !existsSync(this.scriptPath)) return undefined;
      this.start(this.scriptPath);
    }
    const child = this.child;
    if (!child || this.isReady) return child;
    return (await this.ready) ? child : undefined;
  }

  private start(scriptPath: string): void {
    this.starts++;
    this.isReady = false;
    // Plain node, no loader flags or NODE_OPTIONS: the spawner is one small CommonJS file and
    // should stay small.
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.NODE_OPTIONS;
    let child: ChildProcess;
    try {
      child = fork(scriptPath, [String(this.graceMs)], {
        execArgv: ['--max-semi-space-size=1', '--max-old-space-size=64'],
        env,
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        serialization: 'json',
      });
    } catch {
      return;
    }
    this.child = child;
    let markReady: (ok: boolean) => void = () => {};
    this.ready = new Promise<boolean>((r) => (markReady = r));
    // Not ready in time: something is wrong with it; do not keep launches waiting on it.
    const timer = setTimeout(() => child.kill('SIGKILL'), this.readyTimeoutMs);
    let gone = false;
    const onGone = (): void => {
      if (gone) return;
      gone = true;
      clearTimeout(timer);
      if (this.child === child) {
        this.child = undefined;
        this.isReady = false;
      }
      markReady(false);
      this.onSpawnerGone();
    };
    child.on('message', (msg: Incoming, handle?: Socket) => {
      if (msg?.t === 'ready') {
        clearTimeout(timer);
        if (this.child === child) this.isReady = true;
        markReady(true);
      } else this.onMessage(msg, handle);
    });
    child.on('error', () => {
      // Could not be started at all: no 'exit' follows. Otherwise 'exit' does.
      if (child.pid === undefined) onGone();
    });
    child.on('exit', onGone);
    this.updateRef();
  }

  private onMessage(msg: Incoming, handle: Socket | undefined): void {
    // Our own child, but still input from another process: anything off-shape is ignored.
    if (typeof msg !== 'object' || msg === null || msg.t === 'ready' || typeof msg.id !== 'number') return;
    if (msg.t === 'spawned' && !(Number.isInteger(msg.pid) && msg.pid > 0)) return;
    if (msg.t === 'failed' && typeof msg.code !== 'string') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.t === 'spawned') {
      if (!handle) {
        // Cannot happen with a working channel; never leave the process running unread.
        try {
          process.kill(-msg.pid, 'SIGKILL');
        } catch {}
        this.pending.delete(msg.id);
        this.updateRef();
        p.handlers.lost();
        return;
      }
      p.spawned = true;
      p.handlers.spawned(msg.pid, handle);
    } else if (msg.t === 'failed') {
      this.pending.delete(msg.id);
      this.updateRef();
      p.handlers.failed(msg.code);
    } else {
      this.pending.delete(msg.id);
      this.updateRef();
      p.handlers.exited(msg.code, msg.signal);
    }
  }

  private onSpawnerGone(): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      if (p.spawned) p.handlers.lost();
      else p.handlers.unavailable();
    }
  }

  /** The spawner keeps Kiln alive only while one of its processes runs (like a direct child). */
  private updateRef(): void {
    const child = this.child;
    if (!child) return;
    const busy = this.pending.size > 0;
    const channel = child.channel as { ref?: () => void; unref?: () => void } | null | undefined;
    if (busy) {
      child.ref();
      channel?.ref?.();
    } else {
      child.unref();
      channel?.unref?.();
    }
  }
}

let shared: ProcessSpawner | undefined;

/** The process-wide spawner runTracked uses by default (started on first use). */
export function sharedProcessSpawner(): ProcessSpawner {
  shared ??= new ProcessSpawner();
  return shared;
}

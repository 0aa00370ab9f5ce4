// A tracked esphome subprocess (firmware-jobs.md §6 step 7, §7; esphome-cli.md §6.2): own process
// group, stdin closed, stdout+stderr merged into one pipe, output split into chunks, cancel =
// SIGTERM to the group then SIGKILL to the group after a grace period, and a bounded drain after
// the child exits because a grandchild may keep the pipe open.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { findExecutable } from './command';
import { LineSplitter } from './line-splitter';
import { sharedProcessSpawner, type ProcessSpawner } from './process-spawner';

export const TERMINATE_GRACE_MS = 3000;
export const DRAIN_AFTER_EXIT_MS = 1000;
const GROUP_POLL_MS = 50;

export interface RunTrackedOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Every output chunk, with its terminator, in order. */
  onChunk?: (chunk: string) => void;
  /** Aborting terminates the process group (also right after spawn if already aborted). */
  signal?: AbortSignal;
  terminateGraceMs?: number;
  /** How long to keep reading after the child exits before giving up on EOF. */
  drainMs?: number;
  /** Terminate the group after this long (bundle: 60 s, version probe: 15 s). */
  timeoutMs?: number;
  onSpawn?: (pid: number) => void;
  /**
   * Who starts the process on Linux/macOS: default the process-wide spawner (no fork of this
   * process, see process-spawner.ts); null = spawn directly from this process.
   */
  spawner?: ProcessSpawner | null;
}

export interface TrackedResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** We sent SIGTERM/SIGKILL (abort or timeout). */
  terminated: boolean;
  timedOut: boolean;
  pid: number;
}

/** The executable could not be started (missing, not executable). */
export class SpawnError extends Error {
  constructor(
    readonly code: string,
    readonly argv0: string,
    message: string,
  ) {
    super(message);
    this.name = 'SpawnError';
  }
}

const isWindows = process.platform === 'win32';

/**
 * Runs `argv` and resolves when it has exited and its output is drained (or the drain window
 * ran out). Rejects with `SpawnError` when the executable cannot be started.
 */
export function runTracked(argv: readonly string[], opts: RunTrackedOptions = {}): Promise<TrackedResult> {
  const env = opts.env ?? (process.env as Record<string, string>);
  const grace = opts.terminateGraceMs ?? TERMINATE_GRACE_MS;
  const drainMs = opts.drainMs ?? DRAIN_AFTER_EXIT_MS;
  const [cmd, ...rest] = argv;
  if (!cmd) return Promise.reject(new SpawnError('EINVAL', '', 'empty command'));
  const exe = findExecutable(cmd, env, opts.cwd);
  if (!exe) {
    const code = /[\\/]/.test(cmd) && existsSync(cmd) ? 'EACCES' : 'ENOENT';
    return Promise.reject(new SpawnError(code, cmd, `command ${spawnReason(code)}: '${cmd}'`));
  }

  return new Promise<TrackedResult>((resolvePromise, reject) => {
    // Everything after the start is the same for a direct child and one started by the spawner:
    // one output pipe (stderr merged into it by the shell), an exit status, the pid of the group.
    const splitter = new LineSplitter((chunk) => opts.onChunk?.(chunk));
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let eof = false;
    let settled = false;
    let terminated = false;
    let timedOut = false;
    let drainTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let pid: number | undefined;
    let stdout: Readable | undefined;

    const onAbort = (): void => {
      if (terminated) return;
      terminated = true;
      if (pid !== undefined) terminateGroup(pid, grace);
    };
    // Aborting before the process exists (the spawner is still starting it) terminates it as soon
    // as it does.
    if (opts.signal) {
      if (opts.signal.aborted) terminated = true;
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }

    const failStart = (code: string): void => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(new SpawnError(code, cmd, `command ${spawnReason(code)}: '${cmd}'`));
    };

    const started = (childPid: number, out: Readable, err?: Readable): void => {
      pid = childPid;
      stdout = out;
      const onData = (b: Buffer): void => splitter.push(b);
      out.on('data', onData);
      err?.on('data', onData); // Windows only: two pipes
      out.on('end', () => {
        eof = true;
        maybeFinish();
      });
      out.on('error', () => {
        eof = true;
        maybeFinish();
      });
      opts.onSpawn?.(childPid);
      if (terminated) terminateGroup(childPid, grace);
      if (opts.timeoutMs !== undefined) {
        timeoutTimer = setTimeout(() => {
          timedOut = true;
          onAbort();
        }, opts.timeoutMs);
      }
    };

    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      exited = { code, signal };
      if (!eof) {
        drainTimer = setTimeout(() => {
          // Something in the group still holds the pipe: stop waiting, and make sure no stray
          // process keeps running after the job is over.
          stdout?.destroy();
          eof = true;
          if (pid !== undefined && !terminated) terminateGroup(pid, grace);
          maybeFinish();
        }, drainMs);
      }
      maybeFinish();
    };

    const spawnDirect = (): void => {
      let child: ChildProcess;
      try {
        child = isWindows
          ? spawn(exe, rest, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true })
          : spawn('/bin/sh', shellArgs, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
      } catch (err) {
        failStart(errnoCode(err));
        return;
      }
      child.on('error', (err) => {
        if (child.pid === undefined) failStart(errnoCode(err));
      });
      child.on('exit', onExit);
      if (child.pid === undefined) return; // 'error' follows
      started(child.pid, child.stdout!, child.stderr ?? undefined);
    };

    // `exec 2>&1` makes stderr the same pipe as stdout (true merge, order preserved), then
    // `exec "$@"` replaces the shell: the process and its group are esphome itself. Arguments
    // travel as positional parameters, never through shell parsing.
    const shellArgs = ['-c', 'exec 2>&1; exec "$@"', 'kiln-exec', exe, ...rest];
    const spawner = isWindows ? undefined : opts.spawner === undefined ? sharedProcessSpawner() : opts.spawner ?? undefined;
    if (!spawner) {
      spawnDirect();
      return;
    }
    spawner
      .launch(
        // The spawner's own cwd is this process's at the time it started: name ours explicitly.
        { file: '/bin/sh', args: shellArgs, cwd: opts.cwd ?? process.cwd(), env },
        {
          spawned: (childPid, out) => {
            // As on the direct path, where it throws out of the executor: a throwing onSpawn
            // rejects the run instead of escaping into the IPC handler.
            try {
              started(childPid, out);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          },
          failed: failStart,
          exited: onExit,
          lost: () => {
            // The spawner died under a running process: its output pipe is still ours, but no one
            // can report how it ended. Stop it (no stray build) and say what happened.
            if (settled || exited) return;
            settled = true;
            if (pid !== undefined) terminateGroup(pid, grace);
            stdout?.destroy();
            cleanup();
            splitter.end();
            reject(new Error(`the process runner stopped unexpectedly; '${cmd}' was stopped`));
          },
          unavailable: spawnDirect,
        },
      )
      .then(
        (viaSpawner) => {
          if (!viaSpawner) spawnDirect();
        },
        () => spawnDirect(),
      );

    function cleanup(): void {
      clearTimeout(drainTimer);
      clearTimeout(timeoutTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    }

    function maybeFinish(): void {
      if (settled || !exited || !eof) return;
      settled = true;
      cleanup();
      splitter.end();
      resolvePromise({ exitCode: exited.code, signal: exited.signal, terminated, timedOut, pid: pid! });
    }
  });
}

/**
 * SIGTERM to the whole process group now; SIGKILL to the group once the grace period is over if
 * anything in it is still alive (a child that ignores SIGTERM, or a grandchild that outlived it).
 */
export function terminateGroup(pid: number, graceMs: number = TERMINATE_GRACE_MS): void {
  if (isWindows) {
    spawnSync('taskkill', ['/F', '/T', '/PID', String(pid)], { stdio: 'ignore', windowsHide: true });
    return;
  }
  if (!signalGroup(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  const poll = setInterval(() => {
    if (!groupAlive(pid)) {
      clearInterval(poll);
    } else if (Date.now() >= deadline) {
      clearInterval(poll);
      signalGroup(pid, 'SIGKILL');
    }
  }, Math.min(GROUP_POLL_MS, Math.max(1, graceMs)));
}

export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false;
  }
}

function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN';
}

/** Human wording for a spawn error code ("not found", "is not executable", …). */
export function spawnReason(code: string): string {
  return code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'is not executable' : `could not be started (${code})`;
}

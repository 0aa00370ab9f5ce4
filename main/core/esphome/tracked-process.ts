// A tracked esphome subprocess (firmware-jobs.md §6 step 7, §7; esphome-cli.md §6.2): own process
// group, stdin closed, stdout+stderr merged into one pipe, output split into chunks, cancel =
// SIGTERM to the group then SIGKILL to the group after a grace period, and a bounded drain after
// the child exits because a grandchild may keep the pipe open.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findExecutable } from './command';
import { LineSplitter } from './line-splitter';

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
    let child: ChildProcess;
    try {
      child = isWindows
        ? spawn(exe, rest, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true })
        : // `exec 2>&1` makes stderr the same pipe as stdout (true merge, order preserved), then
          // `exec "$@"` replaces the shell: the process and its group are esphome itself. Arguments
          // travel as positional parameters, never through shell parsing.
          spawn('/bin/sh', ['-c', 'exec 2>&1; exec "$@"', 'kiln-exec', exe, ...rest], {
            cwd: opts.cwd,
            env,
            stdio: ['ignore', 'pipe', 'ignore'],
            detached: true,
          });
    } catch (err) {
      reject(toSpawnError(err, cmd));
      return;
    }

    const splitter = new LineSplitter((chunk) => opts.onChunk?.(chunk));
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let eof = false;
    let settled = false;
    let terminated = false;
    let timedOut = false;
    let drainTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    const pid = child.pid;

    const onData = (b: Buffer): void => splitter.push(b);
    child.stdout!.on('data', onData);
    child.stderr?.on('data', onData); // Windows only: two pipes
    child.stdout!.on('end', () => {
      eof = true;
      maybeFinish();
    });
    child.stdout!.on('error', () => {
      eof = true;
      maybeFinish();
    });

    child.on('error', (err) => {
      if (pid === undefined && !settled) {
        settled = true;
        cleanup();
        reject(toSpawnError(err, cmd));
      }
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      if (!eof) {
        drainTimer = setTimeout(() => {
          // Something in the group still holds the pipe: stop waiting, and make sure no stray
          // process keeps running after the job is over.
          child.stdout!.destroy();
          eof = true;
          if (pid !== undefined && !terminated) terminateGroup(pid, grace);
          maybeFinish();
        }, drainMs);
      }
      maybeFinish();
    });

    if (pid === undefined) return; // 'error' follows
    opts.onSpawn?.(pid);

    const onAbort = (): void => {
      if (terminated) return;
      terminated = true;
      terminateGroup(pid, grace);
    };
    if (opts.signal) {
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    if (opts.timeoutMs !== undefined) {
      timeoutTimer = setTimeout(() => {
        timedOut = true;
        onAbort();
      }, opts.timeoutMs);
    }

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

function toSpawnError(err: unknown, cmd: string): SpawnError {
  const code = (err as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN';
  return new SpawnError(code, cmd, `command ${spawnReason(code)}: '${cmd}'`);
}

/** Human wording for a spawn error code ("not found", "is not executable", …). */
export function spawnReason(code: string): string {
  return code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'is not executable' : `could not be started (${code})`;
}

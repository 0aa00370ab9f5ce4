/**
 * One writer per data dir. Two processes on one data dir each believed the other's RUNNING job
 * was a crash, re-ran it, and `jobs.json` became last-writer-wins (for an install: two flashes
 * of one device). Every process that owns a data dir (`kiln serve`, the desktop app,
 * `kiln build --data-dir`, `kiln receiver`) holds `<dataDir>/kiln.lock` for its whole life.
 *
 * The lock is a file created with O_EXCL holding the owner's pid, host, command and (on Linux)
 * the kernel's start time of that pid, so a reused pid is not mistaken for the owner. A lock
 * whose owner is gone (SIGKILL, power cut) is stale and taken over; the takeover itself is
 * serialised by a second O_EXCL file so two newcomers cannot both take over one stale lock.
 * Why not a library: `proper-lockfile` detects staleness by mtime (a live owner must keep
 * touching the lock, and a dead one is only noticed after the stale period) and records no
 * owner to name; an O_EXCL file with a liveness check answers at once and says who holds it.
 */
import { closeSync, fsyncSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { mkdirPrivateSync, PRIVATE_FILE_MODE } from './private-fs';

export const LOCK_FILE_NAME = 'kiln.lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** What holds it, e.g. "kiln serve" or "kiln build". */
  command: string;
  /** ISO time the lock was taken. */
  since: string;
  /** Linux: field 22 of /proc/<pid>/stat (start time in clock ticks since boot). */
  procStart?: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | null,
  ) {
    super(
      holder
        ? `the data dir ${dataDir} is in use by ${holder.command} (pid ${holder.pid} on ${holder.host}, since ${holder.since}); stop that process or use another data dir`
        : `the data dir ${dataDir} is being locked by another Kiln process right now; try again`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** Removes the lock (only if it is still ours). Idempotent. */
  release(): void;
}

/** A lock file younger than this with no readable owner is being written right now. */
const FRESH_UNREADABLE_MS = 2000;
/** A takeover guard older than this was left by a process that died mid-takeover. */
const STALE_GUARD_MS = 10_000;

/** Takes the lock or throws DataDirLockedError naming the holder. Synchronous: used at startup. */
export function acquireDataDirLock(dataDir: string, command: string): DataDirLock {
  mkdirPrivateSync(dataDir);
  const file = join(dataDir, LOCK_FILE_NAME);
  const me: LockHolder = { pid: process.pid, host: hostname(), command, since: new Date().toISOString(), procStart: procStartTime(process.pid) };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, me)) return makeHandle(file, me);
    const holder = readHolder(file);
    if (holder === 'gone') continue; // released between our open and our read
    if (holder === null) {
      // Unreadable: either being written right now (fresh) or torn by a crash mid-write (old).
      if (ageMs(file) < FRESH_UNREADABLE_MS) throw new DataDirLockedError(dataDir, null);
    } else if (isAlive(holder)) {
      throw new DataDirLockedError(dataDir, holder);
    }
    takeOverStale(file, holder);
  }
  throw new DataDirLockedError(dataDir, null);
}

function tryCreate(file: string, me: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(me) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Removes a stale lock under a guard, re-checking under the guard that it is the same one. */
function takeOverStale(file: string, seen: LockHolder | null): void {
  const guard = `${file}.takeover`;
  let fd: number;
  try {
    fd = openSync(guard, 'wx', PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (ageMs(guard) > STALE_GUARD_MS) unlinkQuiet(guard);
    return; // someone else is taking over; the caller re-reads
  }
  try {
    const now = readHolder(file);
    const same = now === 'gone' ? false : now === null ? seen === null : seen !== null && now.pid === seen.pid && now.since === seen.since;
    if (same) unlinkQuiet(file);
  } finally {
    closeSync(fd);
    unlinkQuiet(guard);
  }
}

function makeHandle(file: string, me: LockHolder): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const now = readHolder(file);
    if (now !== null && now !== 'gone' && now.pid === me.pid && now.since === me.since) unlinkQuiet(file);
  };
  // A normal exit (also process.exit in a signal handler) leaves no lock behind; a SIGKILL
  // does, and the next process takes it over because this pid is gone.
  process.on('exit', release);
  return { file, holder: me, release };
}

function readHolder(file: string): LockHolder | null | 'gone' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (typeof v.pid !== 'number' || !Number.isSafeInteger(v.pid) || v.pid <= 0 || typeof v.host !== 'string') return null;
    return {
      pid: v.pid,
      host: v.host,
      command: typeof v.command === 'string' ? v.command.replace(/[\x00-\x1f\x7f]/g, '') : 'another Kiln process',
      since: typeof v.since === 'string' ? v.since : '?',
      procStart: typeof v.procStart === 'string' ? v.procStart : undefined,
    };
  } catch {
    return null;
  }
}

function isAlive(h: LockHolder): boolean {
  // Another host sharing this data dir (network file system): its pid means nothing here, so
  // the lock is respected until that process releases it.
  if (h.host !== hostname()) return true;
  if (h.pid === process.pid) return false; // our own leftover (e.g. a previous app in this process)
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid exists; it is the holder only if it started when the holder did.
  const start = procStartTime(h.pid);
  if (h.procStart !== undefined && start !== undefined && start !== h.procStart) return false;
  // A zombie has exited; only its parent has not reaped it yet.
  if (procState(h.pid) === 'Z') return false;
  return true;
}

function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function procStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19]; // field 22 overall; fields after the name start at 3
}

function procState(pid: number): string | undefined {
  return procStat(pid)?.[0];
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

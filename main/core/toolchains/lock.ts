// A per-version install lock shared by every Kiln process on the machine: an exclusively created
// file holding the owner's pid and host. A lock whose owner on this host is gone is stale and
// taken over, so a crashed install never blocks the next one. (proper-lockfile's mtime refresh
// would need a timer running for the whole multi-minute pip install; a pid check needs none.)
import { hostname } from 'node:os';
import { open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../private-fs';

export interface LockOptions {
  signal?: AbortSignal;
  /** Called once when the lock is held by someone else and we start waiting. */
  onWait?: (owner: string) => void;
  pollMs?: number;
}

export async function acquireLock(file: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  await mkdirPrivate(dirname(file));
  let waited = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const fh = await open(file, 'wx', PRIVATE_FILE_MODE);
      try {
        await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
      } finally {
        await fh.close();
      }
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await unlink(file).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    if (owner && owner.host === hostname() && !alive(owner.pid)) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    if (!waited) {
      waited = true;
      opts.onWait?.(owner ? `process ${owner.pid} on ${owner.host}` : 'another process');
    }
    await sleep(opts.pollMs ?? 250, opts.signal);
  }
}

async function readOwner(file: string): Promise<{ pid: number; host: string } | null> {
  try {
    const raw = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (raw && typeof raw === 'object' && typeof (raw as { pid?: unknown }).pid === 'number' && typeof (raw as { host?: unknown }).host === 'string') {
      return raw as { pid: number; host: string };
    }
  } catch {
    /* being written right now, or garbage: wait and look again */
  }
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      // Rejects with whatever the caller aborted with, as Node's own abortable APIs do.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      rej(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

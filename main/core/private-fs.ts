/**
 * Private data stays private: every directory Kiln creates under a data dir is 0700 and every
 * file 0600, whatever the process umask. A sender's sources and `secrets.yaml` live in these
 * trees on a build server, so "readable by other local users" is a leak, not a nicety.
 *
 * `mkdir(…, {mode})` is filtered by the umask and does not touch directories that already
 * exist, so both helpers chmod explicitly after creating.
 */
import { chmod, mkdir, open, rename, writeFile } from 'node:fs/promises';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** mkdir -p with 0700 on every directory it creates, and on `path` itself. */
export async function mkdirPrivate(path: string): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmodCreated(path, first);
}

export function mkdirPrivateSync(path: string): void {
  const first = mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodCreatedSync(path, first);
}

/** Write a whole file with mode 0600 (also when it already existed with a wider mode). */
export async function writeFilePrivate(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(path, data, { mode: PRIVATE_FILE_MODE });
  await chmod(path, PRIVATE_FILE_MODE);
}

export function writeFilePrivateSync(path: string, data: string | Uint8Array): void {
  writeFileSync(path, data, { mode: PRIVATE_FILE_MODE });
  chmodSync(path, PRIVATE_FILE_MODE);
}

/** Atomic replace: write `path.tmp-<pid>` 0600, fsync, rename over `path`. */
export async function writeFileAtomicPrivate(path: string, data: string | Uint8Array): Promise<void> {
  await mkdirPrivate(dirname(path));
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    await fh.writeFile(data);
    await fh.chmod(PRIVATE_FILE_MODE);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function chmodCreated(path: string, first: string | undefined): Promise<void> {
  // mkdir returns the first directory it created; chmod it and every one below it.
  await chmod(path, PRIVATE_DIR_MODE);
  if (first === undefined) return;
  for (let d = dirname(path); d.length >= first.length && d !== dirname(d); d = dirname(d)) {
    await chmod(d, PRIVATE_DIR_MODE);
  }
}

function chmodCreatedSync(path: string, first: string | undefined): void {
  chmodSync(path, PRIVATE_DIR_MODE);
  if (first === undefined) return;
  for (let d = dirname(path); d.length >= first.length && d !== dirname(d); d = dirname(d)) {
    chmodSync(d, PRIVATE_DIR_MODE);
  }
}

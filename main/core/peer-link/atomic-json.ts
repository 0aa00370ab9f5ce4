// Small-file persistence shared by the identity and the pairing stores: atomic replace
// (temp file in the same directory + fsync + rename) and "corrupt file moved aside" reading.
import { randomBytes } from 'node:crypto';
import { promises as fsp, renameSync, readFileSync, openSync, writeSync, fsyncSync, closeSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { mkdirPrivate, mkdirPrivateSync } from '../private-fs';

export type Reporter = (message: string) => void;

export const defaultReporter: Reporter = (message) => console.warn(`[kiln peer-link] ${message}`);

function tempNameFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Writes `data` to `file` atomically with the given mode (default 0600). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await mkdirPrivate(dirname(file));
  const tmp = tempNameFor(file);
  const handle = await fsp.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsp.chmod(file, mode).catch(() => undefined);
}

/** Synchronous twin for start-up paths (identity creation before anything listens). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode = 0o600): void {
  mkdirPrivateSync(dirname(file));
  const tmp = tempNameFor(file);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

export function corruptNameFor(file: string, now = Date.now()): string {
  return `${file}.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
}

/**
 * Reads and parses a JSON file. Missing → `undefined`. Unparseable, or rejected by `validate`
 * (which throws with a reason) → the file is renamed aside (`<file>.corrupt-<time>`), the
 * problem is reported, and `undefined` is returned so callers start empty.
 */
export function readJsonOrQuarantine<T>(file: string, validate: (raw: unknown) => T, report: Reporter = defaultReporter): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return validate(JSON.parse(text));
  } catch (err) {
    const aside = corruptNameFor(file);
    try {
      renameSync(file, aside);
      report(`${file} is corrupt (${(err as Error).message}); moved aside to ${aside} and starting empty`);
    } catch (renameErr) {
      report(`${file} is corrupt (${(err as Error).message}) and could not be moved aside: ${(renameErr as Error).message}`);
    }
    return undefined;
  }
}

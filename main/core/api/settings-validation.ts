// Settings are checked before they are saved (issue 16): an esphome command must run `version`
// and print one; a configuration folder must exist (or be created) and be a folder we can write.
// A refusal is an ApiError invalid_args in plain words and nothing is saved.
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { EsphomeStatus } from '../../../preload/contract';
import { ApiError } from '../errors';

export async function checkEsphomeCommand(argv: string[], probe: (argv: string[]) => Promise<EsphomeStatus>): Promise<EsphomeStatus | null> {
  if (argv.length === 0) return null; // "default": whatever --esphome / KILN_ESPHOME / `esphome` is
  const status = await probe(argv);
  if (!status.found) {
    throw new ApiError('invalid_args', `"${argv.join(' ')}" did not work as an esphome command (${status.error || 'no version printed'}). Nothing was saved.`, {
      field: 'esphomeCommand',
    });
  }
  return status;
}

export async function checkConfigDir(dir: string): Promise<{ created: boolean }> {
  const fail = (why: string) => new ApiError('invalid_args', `Configuration folder "${dir}": ${why}. Nothing was saved.`, { field: 'configDir' });
  if (!dir.trim()) throw fail('enter a folder');
  if (!isAbsolute(dir)) throw fail('use a full path (starting with /)');
  let created = false;
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw fail('this is a file, not a folder');
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fail(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    try {
      await mkdir(dir, { recursive: true });
      created = true;
    } catch (e) {
      throw fail(`does not exist and could not be created (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  try {
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    throw fail('Kiln cannot read and write it');
  }
  return { created };
}

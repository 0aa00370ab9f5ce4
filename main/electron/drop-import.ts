// YAML imports by path: paths given on the command line (first or second launch, "Open with
// Kiln" from a file manager) and macOS `open-file`. Drops in the window import the file's
// content instead (renderer/src/ui/drop.ts). Main trusts nothing about a path: absolute path, realpath, regular file, .yaml/.yml, ≤ 1 MiB, UTF-8,
// read here, then validated and written by the same importer the API uses (importYaml). A name
// clash asks the user; nothing is overwritten silently.
import { dialog, type BrowserWindow } from 'electron';
import { open, realpath, lstat } from 'node:fs/promises';
import { basename, extname, isAbsolute } from 'node:path';
import type { ImportResult } from '../../preload/contract';
import { ApiError, toApiError } from '../core/errors';

export const MAX_YAML_BYTES = 1024 * 1024;
const MAX_PATH_LENGTH = 4096;

export type PathImportResult =
  | { status: 'imported'; configuration: string; deviceName: string; overwritten: boolean }
  /** Name clash and the user kept the existing file. */
  | { status: 'kept'; configuration: string }
  | { status: 'refused'; code: string; message: string };

export interface DroppedYaml {
  /** Leaf name the user dropped (the link's own name when it was a symlink). */
  name: string;
  content: string;
  realPath: string;
}

const isYamlName = (p: string) => ['.yaml', '.yml'].includes(extname(p).toLowerCase());

/** Reads a YAML file from a path that came from outside. Throws ApiError('invalid_args', …). */
export async function readDroppedYaml(input: unknown): Promise<DroppedYaml> {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_PATH_LENGTH || input.includes('\0')) {
    throw new ApiError('invalid_args', 'not a file path');
  }
  if (!isAbsolute(input)) throw new ApiError('invalid_args', 'the dropped path is not absolute');
  const name = basename(input);
  if (!isYamlName(name)) throw new ApiError('invalid_args', `"${name}" is not a .yaml or .yml file`);
  let real: string;
  try {
    real = await realpath(input);
  } catch {
    throw new ApiError('invalid_args', `"${name}" cannot be read`);
  }
  if (!isYamlName(real)) throw new ApiError('invalid_args', `"${name}" does not point to a .yaml or .yml file`);
  const info = await lstat(real);
  if (!info.isFile()) throw new ApiError('invalid_args', `"${name}" is not a regular file`);
  if (info.size > MAX_YAML_BYTES) throw new ApiError('invalid_args', `"${name}" is larger than 1 MiB`);
  // Read at most one byte past the limit: the file may have grown since lstat.
  const fh = await open(real, 'r');
  let bytes: Buffer;
  try {
    const buf = Buffer.alloc(MAX_YAML_BYTES + 1);
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, total, buf.length - total, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_YAML_BYTES) throw new ApiError('invalid_args', `"${name}" is larger than 1 MiB`);
    }
    bytes = buf.subarray(0, total);
  } finally {
    await fh.close();
  }
  let content: string;
  try {
    content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError('invalid_args', `"${name}" is not a UTF-8 text file`);
  }
  return { name, content, realPath: real };
}

export interface PathImportDeps {
  /** The API service's importYaml (validates content, refuses a clash unless overwrite). */
  importYaml(req: { name: string; content: string; overwrite?: boolean }): Promise<ImportResult>;
  /** Ask the user whether to replace an existing configuration of that name. */
  confirmReplace(name: string): Promise<boolean>;
}

function isNameClash(err: ApiError): boolean {
  const data = err.data as { reason?: unknown } | undefined;
  return err.code === 'precondition_failed' && data?.reason === 'exists';
}

export async function importYamlFromPath(input: unknown, deps: PathImportDeps): Promise<PathImportResult> {
  try {
    const file = await readDroppedYaml(input);
    try {
      const r = await deps.importYaml({ name: file.name, content: file.content });
      return { status: 'imported', ...r };
    } catch (err) {
      const apiErr = toApiError(err);
      if (!isNameClash(apiErr)) throw apiErr;
      if (!(await deps.confirmReplace(file.name))) return { status: 'kept', configuration: file.name };
      const r = await deps.importYaml({ name: file.name, content: file.content, overwrite: true });
      return { status: 'imported', ...r };
    }
  } catch (err) {
    const e = toApiError(err);
    return { status: 'refused', code: e.code, message: e.message };
  }
}

/** The "ask" of a name clash, as a modal question on the main window. */
export async function confirmReplaceDialog(win: BrowserWindow | null, name: string): Promise<boolean> {
  const opts = {
    type: 'question' as const,
    buttons: ['Keep existing', 'Replace'],
    defaultId: 0,
    cancelId: 0,
    noLink: true,
    message: `A configuration named "${name}" already exists.`,
    detail: 'Replace it with the dropped file? The current file will be overwritten.',
  };
  const { response } = win && !win.isDestroyed() ? await dialog.showMessageBox(win, opts) : await dialog.showMessageBox(opts);
  return response === 1;
}

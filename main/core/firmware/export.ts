// "Save as…" for a kept build (issue 15, desktop): the image is re-hashed before it is written (a
// damaged library file is refused, never exported), then written atomically next to the chosen
// path (temp file, fsync, rename) so a crash leaves either the old file or the whole new one.
// 0644: the user chose where it goes and it is theirs to share; the library copy stays 0600.
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { FirmwareLibrary } from './store';

export type ExportKind = 'ota' | 'factory';

export class FirmwareExportError extends Error {}

export interface ExportedFirmware {
  path: string;
  bytes: number;
  sha256: string;
}

export async function exportFirmware(library: FirmwareLibrary, entryId: string, kind: ExportKind, destPath: string): Promise<ExportedFirmware> {
  if (!isAbsolute(destPath)) throw new FirmwareExportError(`save path must be absolute: ${destPath}`);
  const entry = await library.get(entryId);
  if (!entry) throw new FirmwareExportError(`no firmware build ${entryId}`);
  const image = entry.images.find((i) => i.role === kind);
  if (!image) throw new FirmwareExportError(`firmware build ${entryId} has no ${kind} image`);
  let data: Buffer;
  try {
    data = await readFile(join(entry.dir, image.file));
  } catch {
    throw new FirmwareExportError(`the ${kind} image of build ${entryId} is missing from the library`);
  }
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (sha256 !== image.sha256 || data.length !== image.size) throw new FirmwareExportError(`the ${kind} image of build ${entryId} is damaged (SHA-256 mismatch); nothing was saved`);
  const tmp = join(dirname(destPath), `.${basename(destPath)}.kiln-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, destPath);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new FirmwareExportError(`could not save ${destPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { path: destPath, bytes: data.length, sha256 };
}

// An in-memory tar writer for the artifact tarball. The members are already in memory and their
// sizes known, so the whole archive is one allocation filled by copies: no stream, no per-entry
// callback, no concatenation of the pieces afterwards. The headers are byte for byte what
// tar-stream writes for the same entries (ustar, mode 0644, uid/gid 0, mtime 0, no user names;
// `tar-writer.test.ts` compares the two), so archives do not depend on which writer made them.
// Names tar-stream would store in a PAX header (non-ASCII, or too long for ustar's 100-byte name
// field) are not handled here: the caller falls back to tar-stream for those archives.

export interface TarFile {
  name: string;
  data: Uint8Array;
}

const BLOCK = 512;
const NAME_FIELD = 100;
const END_OF_ARCHIVE = 2 * BLOCK;
/** The largest size an 11-digit octal field holds (8 GiB − 1). */
const MAX_OCTAL_SIZE = 0o77777777777;

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** True when `name` fits a plain ustar name field (printable ASCII, at most 100 bytes). */
export function fitsUstarName(name: string): boolean {
  return name.length > 0 && name.length <= NAME_FIELD && /^[\x20-\x7e]+$/.test(name);
}

function writeOctal(buf: Buffer, at: number, value: number, digits: number): void {
  buf.write(`${value.toString(8).padStart(digits, '0')} `, at, 'latin1');
}

/** The 512-byte ustar header of a regular file, as tar-stream's `headers.encode` writes it. */
function writeHeader(buf: Buffer, at: number, name: string, size: number): void {
  buf.fill(0, at, at + BLOCK);
  buf.write(name, at, 'latin1');
  writeOctal(buf, at + 100, 0o644, 6); // mode
  writeOctal(buf, at + 108, 0, 6); // uid
  writeOctal(buf, at + 116, 0, 6); // gid
  writeOctal(buf, at + 124, size, 11);
  writeOctal(buf, at + 136, 0, 11); // mtime
  buf[at + 156] = 0x30; // typeflag '0': regular file
  buf.write('ustar\x0000', at + 257, 'latin1'); // magic "ustar\0", version "00"
  writeOctal(buf, at + 329, 0, 6); // devmajor
  writeOctal(buf, at + 337, 0, 6); // devminor
  // The checksum counts its own field as eight spaces.
  let sum = 8 * 0x20;
  for (const b of buf.subarray(at, at + 148)) sum += b;
  for (const b of buf.subarray(at + 156, at + BLOCK)) sum += b;
  writeOctal(buf, at + 148, sum, 6);
}

export interface TarPlan {
  /** The whole archive: headers, padding and end blocks written; member data still to fill in. */
  archive: Buffer;
  /** Where each member's bytes go, in order (views into `archive`). */
  slots: Buffer[];
}

/**
 * Lays out the archive of members of known sizes: one allocation with every header written, so
 * the caller can read each file straight into its slot (no intermediate copy). `null` when a name
 * needs a PAX header (see `fitsUstarName`) or a member is too large for the ustar size field.
 */
export function planTar(entries: ReadonlyArray<{ name: string; size: number }>): TarPlan | null {
  let total = END_OF_ARCHIVE;
  for (const e of entries) {
    if (!fitsUstarName(e.name) || !Number.isSafeInteger(e.size) || e.size < 0 || e.size > MAX_OCTAL_SIZE) return null;
    total += BLOCK + padded(e.size);
  }
  const archive = Buffer.allocUnsafe(total);
  const slots: Buffer[] = [];
  let at = 0;
  for (const e of entries) {
    writeHeader(archive, at, e.name, e.size);
    at += BLOCK;
    slots.push(archive.subarray(at, at + e.size));
    const end = at + padded(e.size);
    archive.fill(0, at + e.size, end);
    at = end;
  }
  archive.fill(0, at, total);
  return { archive, slots };
}

/** The tar archive of `files`, in order (see `planTar` for when it is `null`). */
export function renderTar(files: readonly TarFile[]): Buffer | null {
  const plan = planTar(files.map((f) => ({ name: f.name, size: f.data.length })));
  if (!plan) return null;
  files.forEach((f, i) => {
    const slot = plan.slots[i];
    if (slot === undefined) throw new Error(`tar plan has no slot for ${f.name}`); // one slot per file: never
    slot.set(f.data);
  });
  return plan.archive;
}

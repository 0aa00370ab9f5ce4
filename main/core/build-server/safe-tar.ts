// Streaming, validating gzip-tar extraction shared by bundle extraction (receiver) and artifact
// materialisation (offloader). Nothing here trusts the archive: every member is a regular file
// with a normalised relative POSIX name, the inflated byte count is bounded while streaming (a
// gzip bomb is refused, not unpacked), and files are only ever created inside a fresh directory
// we own, with O_EXCL, so a later member cannot overwrite or redirect an earlier one.
import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import * as tarStream from 'tar-stream';

export class UnsafeArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeArchiveError';
  }
}

export interface SafeTarLimits {
  /** Bound on the inflated tar stream (headers + data), counted while streaming. */
  maxUncompressedBytes: number;
  /** Bound on the number of members (an inode bomb is refused too). Default 20 000. */
  maxMembers?: number;
}

export interface ExtractedMember {
  /** Normalised POSIX relative name. */
  name: string;
  size: number;
  /** Hex SHA-256 of the member's content (what a build server's artifact reuse keys on). */
  sha256: string;
}

const gunzipAsync = promisify(gunzip) as (data: Buffer, opts: { chunkSize: number; maxOutputLength: number }) => Promise<Buffer>;

const MAX_NAME_LENGTH = 1024;
const MAX_COMPONENT_LENGTH = 255;

/**
 * Normalises a tar member name to a relative POSIX path, or throws `UnsafeArchiveError`:
 * no absolute paths (`/x`, `C:x`), no `..`, no backslashes or NUL, no empty result.
 * `.` components and repeated slashes are dropped.
 */
export function normalizeMemberName(raw: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new UnsafeArchiveError('member with an empty name');
  if (raw.includes('\0')) throw new UnsafeArchiveError(`member name contains NUL: ${JSON.stringify(raw)}`);
  if (raw.includes('\\')) throw new UnsafeArchiveError(`member name contains a backslash: ${JSON.stringify(raw)}`);
  if (raw.startsWith('/')) throw new UnsafeArchiveError(`absolute member path: ${JSON.stringify(raw)}`);
  if (/^[A-Za-z]:/.test(raw)) throw new UnsafeArchiveError(`drive-qualified member path: ${JSON.stringify(raw)}`);
  if (raw.length > MAX_NAME_LENGTH) throw new UnsafeArchiveError('member name too long');
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UnsafeArchiveError(`member path escapes the root: ${JSON.stringify(raw)}`);
    if (Buffer.byteLength(part) > MAX_COMPONENT_LENGTH) throw new UnsafeArchiveError('member path component too long');
    parts.push(part);
  }
  if (parts.length === 0) throw new UnsafeArchiveError(`member name names no file: ${JSON.stringify(raw)}`);
  return parts.join('/');
}

/**
 * The per-member rules shared by both extractors: regular files only, a safe normalised name,
 * no duplicates, bounded member count and declared size.
 */
class MemberRules {
  private readonly seen = new Set<string>();
  private declared = 0;
  constructor(
    private readonly limits: SafeTarLimits,
    private readonly maxMembers = limits.maxMembers ?? 20_000,
  ) {}

  /** The member's normalised name; throws `UnsafeArchiveError` for a refused member. */
  admit(header: { name: string; type: string | null; size?: number | null }): { name: string; size: number } {
    if (header.type !== 'file') throw new UnsafeArchiveError(`member ${JSON.stringify(header.name)} is a ${header.type}, only regular files are allowed`);
    const name = normalizeMemberName(header.name);
    if (this.seen.has(name)) throw new UnsafeArchiveError(`duplicate member ${JSON.stringify(name)}`);
    this.seen.add(name);
    if (this.seen.size > this.maxMembers) throw new UnsafeArchiveError(`more than ${this.maxMembers} members`);
    const size = header.size ?? 0;
    this.declared += size;
    if (this.declared > this.limits.maxUncompressedBytes) throw new UnsafeArchiveError(`members total more than ${this.limits.maxUncompressedBytes} bytes`);
    return { name, size };
  }
}

export interface MemberData {
  /** Normalised POSIX relative name. */
  name: string;
  data: Buffer;
}

/** Inflate in 1 MiB pieces: zlib's default 16 KiB makes a 5 MB archive hundreds of thread-pool round trips. */
const INFLATE_CHUNK_BYTES = 1024 * 1024;
/** gzip header (10) + trailer (8): the least a gzip stream can be. */
const GZIP_MIN_BYTES = 18;

/**
 * zlib's output chunk for inflating `gz` in one call: the size the gzip trailer announces
 * (ISIZE, plus one so the output ends inside the chunk), bounded by `max` + 1, so the inflated
 * tar comes back as one buffer instead of 1 MiB pieces that zlib then concatenates (a second
 * copy of every artifact download, ~5 MB). ISIZE is only a hint from untrusted bytes: a wrong
 * one changes how the output is cut, never the output or the `maxOutputLength` bound.
 */
export function inflateChunkBytes(gz: Buffer, max: number): number {
  if (gz.length < GZIP_MIN_BYTES) return INFLATE_CHUNK_BYTES;
  const isize = gz.readUInt32LE(gz.length - 4);
  return Math.min(Math.max(isize + 1, 64 * 1024), max + 1);
}

/**
 * Reads a gzip tar that is already in memory into memory, member by member, under the same
 * rules as `extractTarGzSafely` — for archives small enough to hold (artifact tarballs, at most
 * 64 MiB): inflating in one call and writing each file once is several times faster than
 * streaming every piece through the file system. The inflated size is bounded by zlib itself
 * (`maxOutputLength`), so a gzip bomb stops at the limit.
 */
export async function readTarGzSafely(gz: Uint8Array, limits: SafeTarLimits, signal?: AbortSignal): Promise<MemberData[]> {
  if (signal?.aborted) throw abortError(signal);
  let tar: Buffer;
  try {
    // Untrusted input: only zlib parses it.
    const input = Buffer.from(gz.buffer, gz.byteOffset, gz.byteLength);
    const maxOutputLength = Math.max(1, limits.maxUncompressedBytes);
    tar = await gunzipAsync(input, { chunkSize: inflateChunkBytes(input, maxOutputLength), maxOutputLength });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new UnsafeArchiveError(`archive inflates beyond ${limits.maxUncompressedBytes} bytes`);
    throw new UnsafeArchiveError(`not a valid gzip stream: ${e.message}`);
  }
  if (signal?.aborted) throw abortError(signal);
  const rules = new MemberRules(limits);
  const members: MemberData[] = [];
  const extract = tarStream.extract();
  const parsed = (async () => {
    for await (const entry of extract) {
      const { name, size } = rules.admit(entry.header);
      const pieces: Buffer[] = [];
      let got = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        pieces.push(chunk);
        got += chunk.length;
      }
      if (got !== size) throw new UnsafeArchiveError(`member ${JSON.stringify(name)} is truncated`);
      members.push({ name, data: (pieces.length === 1 ? pieces[0] : undefined) ?? Buffer.concat(pieces, got) });
    }
  })();
  // streamx's typings insist on an argument; end(chunk) writes it and ends.
  (extract as unknown as { end(chunk: Buffer): void }).end(tar);
  try {
    await parsed;
  } catch (err) {
    extract.destroy();
    throw err instanceof UnsafeArchiveError ? err : new UnsafeArchiveError(`not a valid tar archive: ${(err as Error).message}`);
  }
  // Extracted to disk, a file whose name is another member's directory could not be created:
  // refuse it here too, so the caller never writes half of such an archive.
  const names = new Set(members.map((m) => m.name));
  for (const { name } of members) {
    for (let cut = name.indexOf('/'); cut > 0; cut = name.indexOf('/', cut + 1)) {
      if (names.has(name.slice(0, cut))) throw new UnsafeArchiveError(`member ${JSON.stringify(name)} conflicts with another member (${JSON.stringify(name.slice(0, cut))} is a file)`);
    }
  }
  if (signal?.aborted) throw abortError(signal);
  return members;
}

/**
 * Extracts a gzip tar into `destDir`, which must be a fresh, empty directory owned by the caller
 * (so no symlink can pre-exist inside it). Throws `UnsafeArchiveError` for any refused member or
 * limit, and leaves cleanup of `destDir` to the caller.
 */
export async function extractTarGzSafely(
  gz: Uint8Array,
  destDir: string,
  limits: SafeTarLimits,
  signal?: AbortSignal,
): Promise<ExtractedMember[]> {
  const rules = new MemberRules(limits);
  const source = Readable.from([Buffer.from(gz.buffer, gz.byteOffset, gz.byteLength)]);
  // Large inflate chunks: each becomes one file write (a thread-pool round trip) below.
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const extract = tarStream.extract();
  let inflated = 0;
  let failure: Error | null = null;

  const fail = (err: Error): void => {
    if (failure) return;
    failure = err;
    source.destroy();
    gunzip.destroy();
    extract.destroy(err);
  };

  // Manual pump so the inflated count is checked before any byte reaches the tar parser.
  gunzip.on('data', (chunk: Buffer) => {
    inflated += chunk.length;
    if (inflated > limits.maxUncompressedBytes) {
      fail(new UnsafeArchiveError(`archive inflates beyond ${limits.maxUncompressedBytes} bytes`));
      return;
    }
    if (!extract.write(chunk)) gunzip.pause();
  });
  extract.on('drain', () => gunzip.resume());
  gunzip.on('end', () => {
    // streamx's typings insist on an argument; end() without one is the documented call.
    if (!failure) (extract as unknown as { end(): void }).end();
  });
  gunzip.on('error', (err) => fail(new UnsafeArchiveError(`not a valid gzip stream: ${err.message}`)));
  source.on('error', (err) => fail(err));
  const onAbort = (): void => fail(abortError(signal));
  if (signal) {
    if (signal.aborted) throw abortError(signal);
    signal.addEventListener('abort', onAbort, { once: true });
  }
  source.pipe(gunzip);

  const members: ExtractedMember[] = [];
  const made = new Set<string>();
  try {
    for await (const entry of extract) {
      const { name, size } = rules.admit(entry.header);
      const target = join(destDir, ...name.split('/'));
      // Only this extraction creates anything below destDir, so a directory made once stays one.
      const parent = dirname(target);
      if (!made.has(parent)) {
        // 0700/0600 whatever the archive's headers say (they are not consulted): a sender's
        // sources and secrets are private to the build server's user.
        await mkdir(parent, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
          throw memberConflict(err) ? new UnsafeArchiveError(`member ${JSON.stringify(name)} conflicts with another member (${err.code})`) : err;
        });
        made.add(parent);
      }
      const fh = await open(target, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
        throw memberConflict(err) ? new UnsafeArchiveError(`member ${JSON.stringify(name)} cannot be created (${err.code})`) : err;
      });
      let written = 0;
      const hash = createHash('sha256');
      try {
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          written += chunk.length;
          hash.update(chunk);
          await fh.write(chunk);
        }
      } finally {
        await fh.close();
      }
      if (written !== size) throw new UnsafeArchiveError(`member ${JSON.stringify(name)} is truncated`);
      members.push({ name, size, sha256: hash.digest('hex') });
    }
  } catch (err) {
    const reported = failure ?? asArchiveError(err);
    fail(reported);
    throw reported;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  // `failure` is set from the stream's error callback, which flow analysis does not see.
  const late = failure as Error | null;
  if (late) throw late;
  return members;
}

/** Codes by which the archive's own layout (a file where a directory must go, …) stops a create. */
const MEMBER_CONFLICT_CODES: ReadonlySet<string> = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG']);

/**
 * The archive's fault, or the machine's: a full disk (ENOSPC, EDQUOT), too many open files or an
 * I/O error while creating a member is not a refusal of the archive and keeps its own code.
 */
function memberConflict(err: NodeJS.ErrnoException): boolean {
  return err.code === undefined || MEMBER_CONFLICT_CODES.has(err.code);
}

/**
 * The tar parser's own errors (a cut-off or garbled archive: "Stream was destroyed", "Invalid
 * tar header", …) are the archive's fault; file-system errors (they carry a syscall) and aborts
 * stay what they are.
 */
function asArchiveError(err: unknown): Error {
  if (err instanceof UnsafeArchiveError) return err;
  if (!(err instanceof Error)) return new UnsafeArchiveError(`not a valid tar archive: ${String(err)}`);
  if ((err as NodeJS.ErrnoException).syscall || err.name === 'AbortError') return err;
  return new UnsafeArchiveError(`not a valid tar archive: ${err.message}`);
}

function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('aborted');
  err.name = 'AbortError';
  return err;
}

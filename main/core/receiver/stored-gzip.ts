// Gzip with stored (uncompressed) deflate blocks, both ways, without zlib. Artifact tarballs are
// mostly firmware images that do not compress, so the packer stores them (artifact-pack.ts), and
// then a gzip "compress" or "inflate" is a copy plus one CRC-32: done here in a few milliseconds
// on the calling thread, where zlib's thread pool spent more time handing 16 KiB–1 MiB pieces
// back and forth than on the work. Anything that is not a plain stored gzip member is left to
// zlib (`inflateStoredGzip` returns null).
import { crc32 } from 'node:zlib';

export class StoredGzipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoredGzipError';
  }
}

const MAX_BLOCK = 0xffff;
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

/**
 * A gzip member holding `data` in stored (uncompressed) deflate blocks: what zlib writes at
 * level 0, without zlib. The blocks are plain copies and the CRC is one `zlib.crc32` call, so
 * this is a few milliseconds per 5 MB on the event loop, where zlib's thread pool spent more
 * time on hand-offs than on the work.
 */
export function storedGzip(data: Uint8Array): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / MAX_BLOCK));
  const out = Buffer.allocUnsafe(10 + blocks * 5 + data.length + 8);
  // Header: magic, deflate, no flags, mtime 0, no extra flags, OS 3 (Unix) as zlib writes it.
  out.set([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03], 0);
  let at = 10;
  for (let b = 0; b < blocks; b++) {
    const start = b * MAX_BLOCK;
    const len = Math.min(MAX_BLOCK, data.length - start);
    out[at] = b === blocks - 1 ? 0x01 : 0x00; // BFINAL on the last block, BTYPE 00 (stored)
    out.writeUInt16LE(len, at + 1);
    out.writeUInt16LE(~len & 0xffff, at + 3);
    out.set(data.subarray(start, start + len), at + 5);
    at += 5 + len;
  }
  out.writeUInt32LE(crc32(data) >>> 0, at);
  out.writeUInt32LE(data.length % 0x1_0000_0000, at + 4);
  return out;
}

/**
 * The contents of a single gzip member made only of stored deflate blocks; `null` when `gz` is
 * anything else (compressed blocks, several members, an unknown header): the caller inflates
 * those with zlib. Throws `StoredGzipError` when it is a stored member but broken (truncated,
 * LEN/NLEN mismatch, CRC or length mismatch) or would inflate beyond `maxBytes`.
 */
export function inflateStoredGzip(gz: Uint8Array, maxBytes: number): Buffer | null {
  const buf = Buffer.from(gz.buffer, gz.byteOffset, gz.byteLength);
  if (buf.length < 18 || buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 0x08) return null;
  const flags = buf[3];
  if (flags & 0xe0) return null; // reserved bits: let zlib refuse it
  let at = 10;
  if (flags & FEXTRA) {
    if (at + 2 > buf.length) return null;
    at += 2 + buf.readUInt16LE(at);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const end = buf.indexOf(0, at);
    if (end < 0) return null;
    at = end + 1;
  }
  if (flags & FHCRC) at += 2;
  // First pass: the block layout, without copying (anything but stored blocks → zlib).
  const blocks: Array<[number, number]> = [];
  let total = 0;
  for (;;) {
    if (at + 5 > buf.length) return blocks.length === 0 ? null : truncated();
    const head = buf[at];
    if ((head & 0x06) !== 0) return null; // a compressed block: zlib's job
    const len = buf.readUInt16LE(at + 1);
    if ((buf.readUInt16LE(at + 3) ^ 0xffff) !== len) throw new StoredGzipError('stored block length check failed');
    if (at + 5 + len > buf.length) truncated();
    total += len;
    if (total > maxBytes) throw new StoredGzipError(`inflates beyond ${maxBytes} bytes`);
    blocks.push([at + 5, len]);
    at += 5 + len;
    if (head & 0x01) break;
  }
  if (at + 8 > buf.length) truncated();
  if (at + 8 !== buf.length) return null; // another member or trailing bytes: zlib's rules apply
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const [start, len] of blocks) {
    buf.copy(out, o, start, start + len);
    o += len;
  }
  if ((crc32(out) >>> 0) !== buf.readUInt32LE(at)) throw new StoredGzipError('CRC mismatch');
  if (total % 0x1_0000_0000 !== buf.readUInt32LE(at + 4)) throw new StoredGzipError('length mismatch');
  return out;
}

function truncated(): never {
  throw new StoredGzipError('unexpected end of the gzip stream');
}

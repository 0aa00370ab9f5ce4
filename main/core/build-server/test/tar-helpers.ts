// Test helpers: build gzip tars with arbitrary (also hostile) headers.
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';

export interface RawMember {
  name: string;
  data?: string | Buffer;
  type?: 'file' | 'link' | 'symlink' | 'directory' | 'character-device' | 'fifo';
  linkname?: string;
  size?: number;
  /** Header mode (default 0644). */
  mode?: number;
}

/** Uncompressed tar bytes; `finalize=false` leaves out the end-of-archive blocks. */
export async function tarBytes(members: RawMember[], finalize = true): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((res, rej) => {
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  for (const m of members) {
    const type = m.type ?? 'file';
    const data = m.data === undefined ? Buffer.alloc(0) : Buffer.from(m.data);
    await new Promise<void>((res, rej) => {
      const header = { name: m.name, type, linkname: m.linkname, mode: m.mode ?? 0o644, mtime: new Date(0) } as Parameters<typeof pack.entry>[0];
      if (type === 'file') pack.entry({ ...header, size: data.length }, data, (e) => (e ? rej(e) : res()));
      else pack.entry(header, (e) => (e ? rej(e) : res()));
    });
  }
  if (finalize) pack.finalize();
  else pack.push(null);
  await done;
  return Buffer.concat(chunks);
}

export async function tarGz(members: RawMember[]): Promise<Buffer> {
  return gzipSync(await tarBytes(members));
}

export function manifest(configFilename: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ manifest_version: 1, esphome_version: '2025.12.2', config_filename: configFilename, files: [configFilename], has_secrets: false, ...extra }, null, 2);
}

/** A valid bundle for `name` with optional extra members. */
export async function bundleFor(name: string, yaml = 'esphome:\n  name: dev\nesp32:\n  board: esp32dev\n', extra: RawMember[] = []): Promise<Buffer> {
  return tarGz([{ name: 'manifest.json', data: manifest(name) }, { name, data: yaml }, ...extra]);
}

/**
 * A gzip stream that inflates to more than `expandMiB` MiB: a concatenation of gzip members
 * (valid per RFC 1952), so it costs little to build.
 */
export function gzipBomb(prefix: Buffer, expandMiB: number): Buffer {
  const zeros = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const parts = [gzipSync(prefix)];
  for (let i = 0; i < expandMiB; i++) parts.push(zeros);
  return Buffer.concat(parts);
}

/** A raw 512-byte ustar header declaring `size` bytes for `name` (data not included). */
export function ustarHeader(name: string, size: number, typeflag = '0'): Buffer {
  const h = Buffer.alloc(512);
  const put = (off: number, len: number, v: string) => h.write(v.slice(0, len), off, len, 'utf8');
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(0, 100, name);
  put(100, 8, oct(0o644, 8));
  put(108, 8, oct(0, 8));
  put(116, 8, oct(0, 8));
  put(124, 12, oct(size, 12));
  put(136, 12, oct(0, 12));
  h.fill(0x20, 148, 156);
  put(156, 1, typeflag);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

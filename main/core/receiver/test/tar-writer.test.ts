import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tarBytes } from './tar-helpers';
import { fitsUstarName, renderTar, type TarFile } from '../tar-writer';
import { readTarGzSafely } from '../safe-tar';
import { gunzipSync, gzipSync } from 'node:zlib';
import { inflateStoredGzip, StoredGzipError, storedGzip } from '../stored-gzip';

/** What tar-stream writes for the same entries (the writer the in-memory one replaces). */
const tarStreamBytes = (files: TarFile[]): Promise<Buffer> => tarBytes(files.map((f) => ({ name: f.name, data: Buffer.from(f.data) })));

describe('in-memory tar writer', () => {
  it('writes the same bytes as tar-stream for ustar names and any sizes', async () => {
    const sizes = [0, 1, 511, 512, 513, 1024, 4095, 65_537, 1_000_003];
    const names = ['storage.json', '.pioenvs/kitchen/firmware.bin', 'a', 'x'.repeat(100), 'dir/with space/~file-1.bin', `${'d/'.repeat(49)}z`];
    for (let round = 0; round < 6; round++) {
      const files: TarFile[] = names.map((name, i) => ({ name, data: randomBytes(sizes[(i + round) % sizes.length]) }));
      const mine = renderTar(files);
      expect(mine).not.toBeNull();
      expect(mine!.equals(await tarStreamBytes(files))).toBe(true);
    }
    expect(renderTar([])!.equals(await tarStreamBytes([]))).toBe(true);
  });

  it('reads back through the safe reader with the same names and contents', async () => {
    const files: TarFile[] = [
      { name: 'storage.json', data: Buffer.from('{"name":"k"}') },
      { name: '.pioenvs/k/firmware.bin', data: randomBytes(70_001) },
    ];
    const back = await readTarGzSafely(gzipSync(renderTar(files)!), { maxUncompressedBytes: 1 << 20 });
    expect(back.map((m) => m.name)).toEqual(files.map((f) => f.name));
    expect(back.map((m) => m.data.equals(Buffer.from(files[back.indexOf(m)].data)))).toEqual([true, true]);
  });

  it('leaves names that need a PAX header to tar-stream (returns null)', () => {
    expect(fitsUstarName('x'.repeat(101))).toBe(false);
    expect(fitsUstarName('firmwäre.bin')).toBe(false);
    expect(fitsUstarName('')).toBe(false);
    expect(renderTar([{ name: 'ok', data: Buffer.alloc(1) }, { name: `${'long/'.repeat(30)}f`, data: Buffer.alloc(1) }])).toBeNull();
  });
});

describe('stored gzip', () => {
  it('inflates back to the input (zlib checks CRC and length) for block-boundary sizes', () => {
    for (const size of [0, 1, 65_534, 65_535, 65_536, 131_070, 131_071, 200_003]) {
      const data = randomBytes(size);
      const gz = storedGzip(data);
      expect(gunzipSync(gz).equals(data)).toBe(true);
      // Stored: 10-byte header, 5 bytes per 64 KiB block, the data, 8-byte trailer.
      expect(gz.length).toBe(10 + Math.max(1, Math.ceil(size / 65_535)) * 5 + size + 8);
    }
  });

  it('is refused by zlib when a byte is flipped (the CRC is real)', () => {
    const gz = storedGzip(randomBytes(1000));
    gz[500] ^= 0xff;
    expect(() => gunzipSync(gz)).toThrow();
  });
});

describe('stored gzip, read back without zlib', () => {
  it('inflates what storedGzip and zlib level 0 write; leaves compressed or multi-member gzip to zlib', () => {
    for (const size of [0, 1, 65_535, 65_536, 200_003]) {
      const data = randomBytes(size);
      expect(inflateStoredGzip(storedGzip(data), 1 << 20)!.equals(data)).toBe(true);
      expect(inflateStoredGzip(gzipSync(data, { level: 0 }), 1 << 20)!.equals(data)).toBe(true);
    }
    const text = Buffer.from('compressible '.repeat(1000));
    expect(inflateStoredGzip(gzipSync(text, { level: 1 }), 1 << 20)).toBeNull();
    expect(inflateStoredGzip(Buffer.concat([storedGzip(text), storedGzip(text)]), 1 << 20)).toBeNull();
    expect(inflateStoredGzip(Buffer.from('not gzip at all, not at all'), 1 << 20)).toBeNull();
    // FNAME in the header (gzip -N style) is skipped.
    const named = storedGzip(text);
    const withName = Buffer.concat([named.subarray(0, 10), Buffer.from('fw.tar\0'), named.subarray(10)]);
    withName[3] |= 0x08;
    expect(inflateStoredGzip(withName, 1 << 20)!.equals(text)).toBe(true);
  });

  it('refuses a broken stored member: CRC, length, truncation, LEN/NLEN, over the bound', () => {
    const data = randomBytes(100_000);
    const gz = storedGzip(data);
    const flip = (at: number) => {
      const c = Buffer.from(gz);
      c[at] ^= 0x01;
      return c;
    };
    expect(() => inflateStoredGzip(flip(5000), 1 << 20)).toThrow(/CRC/);
    expect(() => inflateStoredGzip(flip(gz.length - 2), 1 << 20)).toThrow(/length mismatch/);
    expect(() => inflateStoredGzip(flip(13), 1 << 20)).toThrow(/length check/);
    expect(() => inflateStoredGzip(gz.subarray(0, 70_000), 1 << 20)).toThrow(StoredGzipError);
    expect(() => inflateStoredGzip(gz, 99_999)).toThrow(/inflates beyond/);
    // zlib agrees each of these is broken.
    for (const bad of [flip(5000), flip(gz.length - 2), flip(13), gz.subarray(0, 70_000)]) expect(() => gunzipSync(bad)).toThrow();
  });
});


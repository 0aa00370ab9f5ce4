import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tarBytes } from './tar-helpers';
import { fitsUstarName, renderTar, type TarFile } from '../tar-writer';
import { inflateChunkBytes, readTarGzSafely } from '../safe-tar';
import { gzipSync } from 'node:zlib';
import { must } from '../../../../test/support/must';

/** What tar-stream writes for the same entries (the writer the in-memory one replaces). */
const tarStreamBytes = (files: TarFile[]): Promise<Buffer> => tarBytes(files.map((f) => ({ name: f.name, data: Buffer.from(f.data) })));

describe('in-memory tar writer', () => {
  it('writes the same bytes as tar-stream for ustar names and any sizes', async () => {
    const sizes = [0, 1, 511, 512, 513, 1024, 4095, 65_537, 1_000_003];
    const names = ['storage.json', '.pioenvs/kitchen/firmware.bin', 'a', 'x'.repeat(100), 'dir/with space/~file-1.bin', `${'d/'.repeat(49)}z`];
    for (let round = 0; round < 6; round++) {
      const files: TarFile[] = names.map((name, i) => ({ name, data: randomBytes(must(sizes[(i + round) % sizes.length])) }));
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
    expect(back.map((m) => m.data.equals(Buffer.from(must(files[back.indexOf(m)]).data)))).toEqual([true, true]);
  });

  it('leaves names that need a PAX header to tar-stream (returns null)', () => {
    expect(fitsUstarName('x'.repeat(101))).toBe(false);
    expect(fitsUstarName('firmwäre.bin')).toBe(false);
    expect(fitsUstarName('')).toBe(false);
    expect(renderTar([{ name: 'ok', data: Buffer.alloc(1) }, { name: `${'long/'.repeat(30)}f`, data: Buffer.alloc(1) }])).toBeNull();
  });
});

describe('gzip of untrusted archives is zlib\'s', () => {
  it('reads what the packer writes (zlib level 0 in 1 MiB pieces) and refuses a flipped byte or a bomb', async () => {
    const files: TarFile[] = [{ name: 'fw.bin', data: randomBytes(200_003) }];
    const gz = gzipSync(renderTar(files)!, { level: 0, chunkSize: 1 << 20 });
    const back = await readTarGzSafely(gz, { maxUncompressedBytes: 1 << 20 });
    expect(Buffer.from(must(back[0]).data).equals(Buffer.from(must(files[0]).data))).toBe(true);
    const bad = Buffer.from(gz);
    bad[5000] = must(bad[5000]) ^ 0xff;
    await expect(readTarGzSafely(bad, { maxUncompressedBytes: 1 << 20 })).rejects.toThrow(/not a valid gzip stream/);
    await expect(readTarGzSafely(gz, { maxUncompressedBytes: 100_000 })).rejects.toThrow(/inflates beyond 100000 bytes/);
    await expect(readTarGzSafely(gz.subarray(0, 70_000), { maxUncompressedBytes: 1 << 20 })).rejects.toThrow(/not a valid gzip stream/);
  });
});

describe('inflating in one chunk sized by the gzip trailer (ISIZE)', () => {
  const files: TarFile[] = [
    { name: 'storage.json', data: Buffer.from('{"name":"k"}') },
    { name: '.pioenvs/k/firmware.bin', data: randomBytes(300_007) },
  ];
  const tar = renderTar(files)!;
  const gz = gzipSync(tar, { level: 0 });
  /** `gz` with its ISIZE trailer replaced (the CRC still covers the real bytes). */
  const withIsize = (isize: number): Buffer => {
    const b = Buffer.from(gz);
    b.writeUInt32LE(isize >>> 0, b.length - 4);
    return b;
  };

  it('the chunk is the announced size + 1, at least 64 KiB, at most the bound + 1', () => {
    expect(inflateChunkBytes(gz, 1 << 30)).toBe(tar.length + 1);
    expect(inflateChunkBytes(withIsize(10), 1 << 30)).toBe(64 * 1024);
    expect(inflateChunkBytes(withIsize(0xffffffff), 1 << 20)).toBe((1 << 20) + 1);
    expect(inflateChunkBytes(Buffer.alloc(5), 1 << 20)).toBe(1024 * 1024);
  });

  it('reads the same members whatever the trailer claims', async () => {
    for (const isize of [tar.length, 0, 100, tar.length - 1, tar.length * 3, 0xffffffff]) {
      const b = withIsize(isize);
      // zlib checks ISIZE itself at the end of the stream: a wrong one is refused, a right one read.
      if (isize === tar.length) {
        const back = await readTarGzSafely(b, { maxUncompressedBytes: 1 << 20 });
        expect(back.map((m) => m.name)).toEqual(files.map((f) => f.name));
        expect(must(back[1]).data.equals(Buffer.from(must(files[1]).data))).toBe(true);
      } else {
        await expect(readTarGzSafely(b, { maxUncompressedBytes: 1 << 20 }), `isize ${isize}`).rejects.toThrow(/not a valid gzip stream/);
      }
    }
  });

  it('the bound still holds when the trailer understates the size (a bomb cannot hide behind ISIZE)', async () => {
    const bomb = gzipSync(Buffer.alloc(4 << 20), { level: 9 });
    const lying = Buffer.from(bomb);
    lying.writeUInt32LE(1000, lying.length - 4);
    await expect(readTarGzSafely(lying, { maxUncompressedBytes: 1 << 20 })).rejects.toThrow(/inflates beyond 1048576 bytes/);
    await expect(readTarGzSafely(bomb, { maxUncompressedBytes: 1 << 20 })).rejects.toThrow(/inflates beyond 1048576 bytes/);
  });
});

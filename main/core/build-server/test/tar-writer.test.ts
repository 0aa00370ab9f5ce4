import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tarBytes } from './tar-helpers';
import { fitsUstarName, renderTar, type TarFile } from '../tar-writer';
import { readTarGzSafely } from '../safe-tar';
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

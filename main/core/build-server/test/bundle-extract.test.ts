import { mkdtemp, mkdir, readFile, readdir, rm, writeFile, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BundleExtractError, extractBundle } from '../bundle-extract';
import { normalizeMemberName, UnsafeArchiveError } from '../safe-tar';
import { bundleFor, gzipBomb, manifest, tarBytes, tarGz, ustarHeader, type RawMember } from './tar-helpers';

let base: string;
let root: string;
let outside: string;
let deviceDir: string;

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const p = join(d, name);
      const st = await lstat(p);
      out.push(relative(base, p) + (st.isDirectory() ? '/' : ''));
      if (st.isDirectory() && !st.isSymbolicLink()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kiln-bundle-'));
  root = join(base, 'data', 'remote_builds');
  outside = join(base, 'outside');
  await mkdir(root, { recursive: true });
  await mkdir(outside);
  deviceDir = join(root, 'sender01', 'kitchen');
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('normalizeMemberName', () => {
  it.each([
    ['a.yaml', 'a.yaml'],
    ['./a.yaml', 'a.yaml'],
    ['dir//sub/./f.h', 'dir/sub/f.h'],
  ])('%j → %j', (raw, norm) => expect(normalizeMemberName(raw)).toBe(norm));
  it.each(['../x', 'a/../../x', 'a/..', '/etc/x', 'C:/x', 'a\\b', 'a\0b', '', '.', './'])('refuses %j', (raw) => {
    expect(() => normalizeMemberName(raw)).toThrow(UnsafeArchiveError);
  });
});

describe('extractBundle', () => {
  it('extracts a valid bundle into the device workspace', async () => {
    const bundle = await bundleFor('kitchen.yaml', 'esphome:\n  name: kitchen\n', [
      { name: 'secrets.yaml', data: 'wifi: x\n' },
      { name: 'includes/a.h', data: '#pragma once\n' },
    ]);
    const res = await extractBundle({ bundle, root, deviceDir, configurationFilename: 'kitchen.yaml' });
    expect(res.yamlPath).toBe(join(deviceDir, 'kitchen.yaml'));
    expect(res.manifest.config_filename).toBe('kitchen.yaml');
    expect(await readFile(join(deviceDir, 'includes/a.h'), 'utf8')).toBe('#pragma once\n');
    expect(await tree(root)).toEqual(
      ['data/remote_builds/.staging/', 'data/remote_builds/sender01/', 'data/remote_builds/sender01/kitchen/', 'data/remote_builds/sender01/kitchen/includes/', 'data/remote_builds/sender01/kitchen/includes/a.h', 'data/remote_builds/sender01/kitchen/kitchen.yaml', 'data/remote_builds/sender01/kitchen/manifest.json', 'data/remote_builds/sender01/kitchen/secrets.yaml'],
    );
  });

  it('re-extraction wipes old sources but keeps .esphome/.pioenvs/.pio (incremental builds)', async () => {
    await mkdir(join(deviceDir, '.esphome', 'build'), { recursive: true });
    await mkdir(join(deviceDir, '.pioenvs'), { recursive: true });
    await writeFile(join(deviceDir, '.esphome', 'build', 'cache.o'), 'obj');
    await writeFile(join(deviceDir, '.pioenvs', 'x'), 'y');
    await writeFile(join(deviceDir, 'stale.yaml'), 'old');
    await extractBundle({ bundle: await bundleFor('kitchen.yaml'), root, deviceDir, configurationFilename: 'kitchen.yaml' });
    const names = (await readdir(deviceDir)).sort();
    expect(names).toEqual(['.esphome', '.pioenvs', 'kitchen.yaml', 'manifest.json']);
    expect(await readFile(join(deviceDir, '.esphome', 'build', 'cache.o'), 'utf8')).toBe('obj');
  });

  const ok = (extra: RawMember[]): RawMember[] => [{ name: 'manifest.json', data: manifest('kitchen.yaml') }, { name: 'kitchen.yaml', data: 'esphome:\n' }, ...extra];

  const hostile: Array<[string, () => Promise<Buffer>, RegExp]> = [
    ['parent traversal ../x', async () => tarGz(ok([{ name: '../x', data: 'pwned' }])), /escapes the root/],
    ['nested traversal a/../../x', async () => tarGz(ok([{ name: 'a/../../../outside/x', data: 'pwned' }])), /escapes the root/],
    ['absolute path', async () => tarGz(ok([{ name: `${outside}/x`, data: 'pwned' }])), /absolute member path/],
    ['absolute /etc/x', async () => tarGz(ok([{ name: '/etc/kiln-test-x', data: 'pwned' }])), /absolute member path/],
    ['symlink out then a file through it', async () => tarGz(ok([{ name: 'link', type: 'symlink', linkname: outside }, { name: 'link/x', data: 'pwned' }])), /is a symlink/],
    ['relative symlink out', async () => tarGz(ok([{ name: 'up', type: 'symlink', linkname: '../../../../outside' }])), /is a symlink/],
    ['hardlink out', async () => tarGz(ok([{ name: 'hard', type: 'link', linkname: `${outside}/target` }])), /is a link/],
    ['hardlink inside', async () => tarGz(ok([{ name: 'hard', type: 'link', linkname: 'kitchen.yaml' }])), /is a link/],
    ['directory entry', async () => tarGz(ok([{ name: 'dir/', type: 'directory' }])), /is a directory/],
    ['character device', async () => tarGz(ok([{ name: 'dev', type: 'character-device' }])), /is a character-device/],
    ['fifo', async () => tarGz(ok([{ name: 'fifo', type: 'fifo' }])), /is a fifo/],
    ['duplicate member', async () => tarGz(ok([{ name: 'kitchen.yaml', data: 'second' }])), /duplicate member/],
    ['file/dir conflict', async () => tarGz(ok([{ name: 'a', data: '1' }, { name: 'a/b', data: '2' }])), /conflicts with another member/],
    ['dir/file conflict', async () => tarGz(ok([{ name: 'd/x', data: '1' }, { name: 'd', data: '2' }])), /cannot be created/],
    ['file below a file of the same directory run', async () => tarGz(ok([{ name: 'e/f', data: '1' }, { name: 'e/g', data: '2' }, { name: 'e/f/h', data: '3' }])), /conflicts with another member/],
    ['reserved .esphome member', async () => tarGz(ok([{ name: '.esphome/storage/kitchen.yaml.json', data: '{}' }])), /reserved build-cache/],
    ['missing manifest.json', async () => tarGz([{ name: 'kitchen.yaml', data: 'x' }]), /missing manifest.json/],
    ['manifest not JSON', async () => tarGz([{ name: 'manifest.json', data: 'nope' }, { name: 'kitchen.yaml', data: 'x' }]), /not valid JSON/],
    ['manifest_version 2', async () => tarGz([{ name: 'manifest.json', data: manifest('kitchen.yaml', { manifest_version: 2 }) }, { name: 'kitchen.yaml', data: 'x' }]), /newer than this receiver/],
    ['manifest_version true', async () => tarGz([{ name: 'manifest.json', data: manifest('kitchen.yaml', { manifest_version: true }) }, { name: 'kitchen.yaml', data: 'x' }]), /not a positive integer/],
    ['manifest config_filename not in archive', async () => tarGz([{ name: 'manifest.json', data: manifest('other.yaml') }, { name: 'kitchen.yaml', data: 'x' }]), /is not in the archive/],
    ['submitted YAML not in archive', async () => tarGz([{ name: 'manifest.json', data: manifest('other.yaml') }, { name: 'other.yaml', data: 'x' }]), /does not contain "kitchen.yaml"/],
    ['manifest over 1 MB', async () => tarGz([{ name: 'manifest.json', data: manifest('kitchen.yaml', { pad: 'x'.repeat(1_000_001) }) }, { name: 'kitchen.yaml', data: 'x' }]), /larger than 1 MB/],
    ['not gzip', async () => Buffer.from('plain bytes, not a gzip stream'), /not a valid gzip/],
    ['truncated gzip', async () => (await tarGz(ok([{ name: 'big', data: Buffer.alloc(100_000, 7) }]))).subarray(0, 200), /gzip|truncated|end/],
  ];

  it.each(hostile)('refuses %s and writes nothing inside or outside the workspace', async (_name, make, why) => {
    const before = await tree(base);
    const result = extractBundle({ bundle: await make(), root, deviceDir, configurationFilename: 'kitchen.yaml' });
    await expect(result).rejects.toBeInstanceOf(BundleExtractError);
    await expect(result).rejects.toThrow(why);
    const after = (await tree(base)).filter((p) => p !== 'data/remote_builds/.staging/');
    expect(after).toEqual(before);
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a 1 GiB-expanding gzip (declared member size) without unpacking it', async () => {
    const prefix = Buffer.concat([await tarBytes(ok([]), false), ustarHeader('huge.bin', 1024 * 1024 * 1024)]);
    const bomb = gzipBomb(prefix, 1024);
    expect(bomb.length).toBeLessThan(4 * 1024 * 1024);
    const before = await tree(base);
    const t0 = Date.now();
    await expect(extractBundle({ bundle: bomb, root, deviceDir, configurationFilename: 'kitchen.yaml' })).rejects.toThrow(/more than 536870912 bytes/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await tree(base)).filter((p) => p !== 'data/remote_builds/.staging/')).toEqual(before);
  });

  it('refuses a 1 GiB-expanding gzip (zero padding after the archive) while streaming, at the 512 MiB bound', async () => {
    const prefix = await tarBytes(ok([]), false);
    const bomb = gzipBomb(prefix, 1024);
    const before = await tree(base);
    await expect(extractBundle({ bundle: bomb, root, deviceDir, configurationFilename: 'kitchen.yaml' })).rejects.toThrow(/inflates beyond 536870912 bytes/);
    expect((await tree(base)).filter((p) => p !== 'data/remote_builds/.staging/')).toEqual(before);
  }, 60_000);

  it('honours a smaller uncompressed bound and the compressed cap', async () => {
    const bundle = await bundleFor('kitchen.yaml', 'x', [{ name: 'big.bin', data: Buffer.alloc(200_000) }]);
    await expect(extractBundle({ bundle, root, deviceDir, configurationFilename: 'kitchen.yaml', maxUncompressedBytes: 100_000 })).rejects.toBeInstanceOf(BundleExtractError);
    await expect(extractBundle({ bundle, root, deviceDir, configurationFilename: 'kitchen.yaml', maxCompressedBytes: 10 })).rejects.toThrow(/cap 10/);
  });

  it('refuses a target outside the root and a symlinked workspace component', async () => {
    const bundle = await bundleFor('kitchen.yaml');
    await expect(extractBundle({ bundle, root, deviceDir: join(outside, 'x'), configurationFilename: 'kitchen.yaml' })).rejects.toThrow(/escapes/);
    const { symlink } = await import('node:fs/promises');
    await symlink(outside, join(root, 'evil'));
    await expect(extractBundle({ bundle, root, deviceDir: join(root, 'evil', 'kitchen'), configurationFilename: 'kitchen.yaml' })).rejects.toThrow(/not a directory/);
    expect(await readdir(outside)).toEqual([]);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('cancelled by test'));
    await expect(extractBundle({ bundle: await bundleFor('kitchen.yaml'), root, deviceDir, configurationFilename: 'kitchen.yaml', signal: ac.signal })).rejects.toThrow(/cancelled by test/);
    expect(await lstat(deviceDir).catch(() => null)).toBeNull();
  });
});

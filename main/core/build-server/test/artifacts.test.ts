import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../peer-link/transfer';
import { ArtifactMaterializeError, materializeArtifacts } from '../artifact-materialize';
import { ArtifactPackError, artifactGzipLevel, firmwareOffsetForPlatform, packArtifacts } from '../artifact-pack';
import { extractTarGzSafely } from '../safe-tar';
import { tarGz } from './tar-helpers';
import { must } from '../../../../test/support/must';

let base: string;
let sender: string;
let dataDir: string;
let buildPath: string;

async function put(path: string, data: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

interface Tree {
  platform: string;
  name?: string;
  files: string[];
  firmware?: string;
  idedata?: boolean;
  ini?: boolean;
}

async function makeBuild(t: Tree): Promise<Record<string, Buffer>> {
  const name = t.name ?? 'kitchen';
  buildPath = join(dataDir, 'build', name);
  const contents: Record<string, Buffer> = {};
  for (const rel of t.files) {
    const data = randomBytes(64 + (rel.length % 7) * 13);
    contents[rel] = data;
    await put(join(buildPath, ...rel.split('/')), data);
  }
  if (t.ini !== false) await put(join(buildPath, 'platformio.ini'), '[env:kitchen]\n');
  if (t.idedata !== false) {
    await put(
      join(dataDir, 'idedata', `${name}.json`),
      JSON.stringify({ prog_path: join(buildPath, '.pioenvs', name, 'firmware.elf'), extra: { flash_images: [{ offset: '0x1000', path: join(buildPath, '.pioenvs', name, 'bootloader.bin') }] }, cc_path: '/opt/toolchain/gcc' }),
    );
  }
  await put(
    join(dataDir, 'storage', 'kitchen.yaml.json'),
    JSON.stringify({
      storage_version: 1,
      name,
      esp_platform: t.platform,
      build_path: buildPath,
      firmware_bin_path: join(buildPath, ...(t.firmware ?? `.pioenvs/${name}/firmware.bin`).split('/')),
      esphome_version: '2025.12.2',
    }),
  );
  return contents;
}

const pack = (maxBytes?: number) =>
  packArtifacts({ storageJsonPath: join(dataDir, 'storage', 'kitchen.yaml.json'), esphomeDataDir: dataDir, allowedRoot: sender, maxBytes });

async function members(tarball: Buffer): Promise<string[]> {
  const out = join(base, `x-${Math.random().toString(16).slice(2)}`);
  await mkdir(out);
  return (await extractTarGzSafely(tarball, out, { maxUncompressedBytes: 1 << 30 })).map((m) => m.name);
}

const ESP32_FILES = ['firmware.bin', 'firmware.elf', 'firmware.factory.bin', 'firmware.ota.bin', 'bootloader.bin', 'partitions.bin', 'ota_data_initial.bin'].map((f) => `.pioenvs/kitchen/${f}`);

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kiln-art-'));
  sender = join(base, 'remote_builds', 'sender01');
  dataDir = join(sender, '.esphome');
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('packArtifacts (§10.1)', () => {
  it('ESP32: metadata first in order, then the build tree in table order; offset 0x10000; sha256', async () => {
    await makeBuild({ platform: 'ESP32S3', files: [...ESP32_FILES, 'build_info.json', 'src/main.cpp'] });
    const p = await pack();
    expect(p.members).toEqual(['storage.json', 'idedata.json', 'platformio.ini', 'build_info.json', ...ESP32_FILES]);
    expect(await members(p.tarball)).toEqual(p.members);
    expect(p.firmwareOffset).toBe('0x10000');
    expect(p.sha256).toBe(sha256Hex(p.tarball));
  });

  it('dedupes by basename (first wins) and adds native-IDF files', async () => {
    await makeBuild({ platform: 'esp32', files: ['.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/firmware.elf', 'build/firmware.elf', 'build/firmware.factory.bin', 'build/kitchen.bin'] });
    const p = await pack();
    expect(p.members).toEqual(['storage.json', 'idedata.json', 'platformio.ini', '.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/firmware.elf', 'build/firmware.factory.bin', 'build/kitchen.bin']);
  });

  it('ESP8266 / RP2040 / LibreTiny / nRF52 sets and offset 0x0', async () => {
    await makeBuild({ platform: 'ESP8266', files: ['.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/firmware.elf', '.pioenvs/kitchen/firmware.factory.bin'] });
    let p = await pack();
    expect(p.members.slice(3)).toEqual(['.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/firmware.elf']);
    expect(p.firmwareOffset).toBe('0x0');

    await rm(sender, { recursive: true });
    await makeBuild({ platform: 'RP2040', files: ['.pioenvs/kitchen/firmware.elf', '.pioenvs/kitchen/firmware.uf2', '.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/firmware.ota.bin'] });
    p = await pack();
    expect(p.members.slice(3)).toEqual(['.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/firmware.uf2', '.pioenvs/kitchen/firmware.ota.bin', '.pioenvs/kitchen/firmware.elf']);

    await rm(sender, { recursive: true });
    const lt = ['firmware.bin', 'firmware.uf2', 'firmware.elf', 'firmware.json', 'image_bk7231n_app.ota.rbl'].map((f) => `.pioenvs/kitchen/${f}`);
    await makeBuild({ platform: 'BK72XX', files: lt, firmware: '.pioenvs/kitchen/firmware.uf2' });
    await writeFile(join(buildPath, '.pioenvs/kitchen/firmware.json'), JSON.stringify({ images: [{ filename: 'image_bk7231n_app.ota.rbl', public: true }, { filename: '../../etc/passwd', public: true }] }));
    p = await pack();
    expect(p.members.slice(3)).toEqual(['.pioenvs/kitchen/firmware.uf2', '.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/firmware.elf', '.pioenvs/kitchen/firmware.json', '.pioenvs/kitchen/image_bk7231n_app.ota.rbl']);

    await rm(sender, { recursive: true });
    await makeBuild({ platform: 'nrf52', files: ['.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/zephyr/zephyr.uf2', '.pioenvs/kitchen/firmware.zip'] });
    p = await pack();
    expect(p.members.slice(3)).toEqual(['.pioenvs/kitchen/firmware.bin', '.pioenvs/kitchen/zephyr/zephyr.uf2', '.pioenvs/kitchen/firmware.zip']);
    expect(firmwareOffsetForPlatform('esp32c3')).toBe('0x10000');
    expect(firmwareOffsetForPlatform('nrf52')).toBe('0x0');
  });

  it('stores incompressible firmware (level 0), deflates compressible members; both unpack to the same bytes', async () => {
    const contents = await makeBuild({ platform: 'esp32', files: ESP32_FILES });
    const big = randomBytes(600_000);
    await writeFile(join(buildPath, '.pioenvs/kitchen/firmware.bin'), big);
    let p = await pack();
    // Stored: the gzip is no smaller than its members (plus tar headers).
    expect(p.tarball.length).toBeGreaterThan(big.length);
    const out1 = join(base, 'u1');
    await mkdir(out1);
    await extractTarGzSafely(p.tarball, out1, { maxUncompressedBytes: 1 << 30 });
    expect((await readFile(join(out1, '.pioenvs/kitchen/firmware.bin'))).equals(big)).toBe(true);

    const elf = Buffer.from('ELF debug info '.repeat(60_000));
    await writeFile(join(buildPath, '.pioenvs/kitchen/firmware.elf'), elf);
    p = await pack();
    expect(p.tarball.length).toBeLessThan(big.length + elf.length / 2);
    const out2 = join(base, 'u2');
    await mkdir(out2);
    await extractTarGzSafely(p.tarball, out2, { maxUncompressedBytes: 1 << 30 });
    expect((await readFile(join(out2, '.pioenvs/kitchen/firmware.elf'))).equals(elf)).toBe(true);
    expect((await readFile(join(out2, '.pioenvs/kitchen/partitions.bin'))).equals(must(contents['.pioenvs/kitchen/partitions.bin']))).toBe(true);
  });

  it('artifactGzipLevel: 0 for random data, 1 when deflating pays, default for nothing', () => {
    expect(artifactGzipLevel([randomBytes(200_000), randomBytes(100)])).toBe(0);
    expect(artifactGzipLevel([randomBytes(200_000), Buffer.alloc(200_000, 7)])).toBe(1);
    expect(artifactGzipLevel([Buffer.from('{"a":1}'.repeat(20_000))])).toBe(1);
    expect(artifactGzipLevel([])).toBe(-1);
  });

  it('validated.yaml only when written ≤ 60 s before storage.json', async () => {
    await makeBuild({ platform: 'esp32', files: ESP32_FILES });
    const validated = join(dataDir, 'storage', 'kitchen.yaml.validated.yaml');
    await writeFile(validated, 'esphome: {}\n');
    expect((await pack()).members).toContain('validated.yaml');
    const old = new Date(Date.now() - 120_000);
    await utimes(validated, old, old);
    expect((await pack()).members).not.toContain('validated.yaml');
  });

  const expectPackError = async (reason: string, re: RegExp, maxBytes?: number) => {
    const err = await pack(maxBytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactPackError);
    expect((err as ArtifactPackError).reason).toBe(reason);
    expect((err as ArtifactPackError).detail).toMatch(re);
  };

  it('build_dir_missing: no storage.json, no idedata, no platformio.ini, no build dir', async () => {
    await expectPackError('build_dir_missing', /StorageJSON sidecar missing/);
    await makeBuild({ platform: 'esp32', files: ESP32_FILES, idedata: false });
    await expectPackError('build_dir_missing', /idedata cache missing/);
    await rm(sender, { recursive: true });
    await makeBuild({ platform: 'esp32', files: ESP32_FILES, ini: false });
    await expectPackError('build_dir_missing', /platformio.ini missing/);
    await rm(buildPath, { recursive: true });
    await expectPackError('build_dir_missing', /build directory missing/);
  });

  it('pack_failed: firmware missing, unknown platform, over the cap, paths outside the workspace, symlinks', async () => {
    await makeBuild({ platform: 'esp32', files: ['.pioenvs/kitchen/firmware.elf'] });
    await expectPackError('pack_failed', /firmware image missing/);
    await rm(sender, { recursive: true });
    await makeBuild({ platform: 'z80', files: ESP32_FILES });
    await expectPackError('pack_failed', /unknown platform/);
    await rm(sender, { recursive: true });
    await makeBuild({ platform: 'esp32', files: ESP32_FILES });
    await expectPackError('pack_failed', /exceed 300 bytes/, 300);
    // a YAML with `build_path: /somewhere/else` must not turn into a file reader
    const outsideBuild = join(base, 'elsewhere', 'build');
    await put(join(outsideBuild, '.pioenvs/kitchen/firmware.bin'), 'secret');
    await put(join(outsideBuild, 'platformio.ini'), 'x');
    await writeFile(join(dataDir, 'storage', 'kitchen.yaml.json'), JSON.stringify({ name: 'kitchen', esp_platform: 'esp32', build_path: outsideBuild, firmware_bin_path: join(outsideBuild, '.pioenvs/kitchen/firmware.bin') }));
    await expectPackError('pack_failed', /outside the sender workspace/);
    // a symlinked firmware pointing out of the workspace is never read
    await rm(sender, { recursive: true });
    await makeBuild({ platform: 'esp32', files: ESP32_FILES.slice(1) });
    await symlink(join(outsideBuild, '.pioenvs/kitchen/firmware.bin'), join(buildPath, '.pioenvs/kitchen/firmware.bin'));
    await expectPackError('pack_failed', /firmware image missing/);
  });
});

describe('materializeArtifacts (§10.1 offloader side)', () => {
  it('stages storage/idedata/build at the local data dir with rewritten paths; idedata newer than platformio.ini', async () => {
    const contents = await makeBuild({ platform: 'esp32', files: [...ESP32_FILES, 'build_info.json'] });
    const p = await pack();
    const configDir = join(base, 'config');
    await mkdir(configDir);
    const m = await materializeArtifacts({ tarball: p.tarball, configDir, configuration: 'kitchen.yaml', deviceName: 'kitchen' });
    const local = join(configDir, '.esphome');
    expect(m.storagePath).toBe(join(local, 'storage', 'kitchen.yaml.json'));
    expect(m.buildPath).toBe(join(local, 'build', 'kitchen'));
    expect(m.firmwareBinPath).toBe(join(local, 'build', 'kitchen', '.pioenvs', 'kitchen', 'firmware.bin'));
    const storage = JSON.parse(await readFile(m.storagePath, 'utf8'));
    expect(storage).toMatchObject({ name: 'kitchen', build_path: m.buildPath, firmware_bin_path: m.firmwareBinPath, esphome_version: '2025.12.2' });
    const idedata = JSON.parse(await readFile(m.idedataPath!, 'utf8'));
    expect(idedata.prog_path).toBe(join(m.buildPath, '.pioenvs', 'kitchen', 'firmware.elf'));
    expect(idedata.extra.flash_images[0].path).toBe(join(m.buildPath, '.pioenvs', 'kitchen', 'bootloader.bin'));
    expect(idedata.cc_path).toBe('/opt/toolchain/gcc');
    for (const rel of ESP32_FILES) expect((await readFile(join(m.buildPath, ...rel.split('/')))).equals(must(contents[rel]))).toBe(true);
    expect((await stat(m.idedataPath!)).mtimeMs).toBeGreaterThan((await stat(join(m.buildPath, 'platformio.ini'))).mtimeMs);
    expect(await readFile(join(m.buildPath, 'build_info.json'))).toEqual(contents['build_info.json']);
    // a second materialisation overwrites in place
    await materializeArtifacts({ tarball: p.tarball, configDir, configuration: 'kitchen.yaml', deviceName: 'kitchen' });
  });

  it('round-trips a device whose member names need a PAX header (the tar-stream path)', async () => {
    const name = `kitchen-${'x'.repeat(90)}`; // `.pioenvs/<name>/firmware.factory.bin` > 100 bytes
    const files = ['firmware.bin', 'firmware.factory.bin'].map((f) => `.pioenvs/${name}/${f}`);
    const contents = await makeBuild({ platform: 'esp32', name, files });
    const p = await pack();
    expect(p.members).toContain(files[1]);
    const configDir = join(base, 'config');
    await mkdir(configDir);
    const m = await materializeArtifacts({ tarball: p.tarball, configDir, configuration: 'kitchen.yaml', deviceName: name });
    for (const rel of files) expect((await readFile(join(m.buildPath, ...rel.split('/')))).equals(must(contents[rel]))).toBe(true);
  });

  it('refuses a local build tree whose directory is a symlink (or a file), for every member path', async () => {
    await makeBuild({ platform: 'esp32', files: ESP32_FILES });
    const p = await pack();
    const configDir = join(base, 'config');
    const elsewhere = join(base, 'elsewhere');
    await mkdir(join(configDir, '.esphome', 'build', 'kitchen'), { recursive: true });
    await mkdir(elsewhere);
    await symlink(elsewhere, join(configDir, '.esphome', 'build', 'kitchen', '.pioenvs'));
    await expect(materializeArtifacts({ tarball: p.tarball, configDir, configuration: 'kitchen.yaml', deviceName: 'kitchen' })).rejects.toThrow(/\.pioenvs is not a directory/);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(elsewhere)).toEqual([]);
    await rm(join(configDir, '.esphome', 'build', 'kitchen', '.pioenvs'));
    await writeFile(join(configDir, '.esphome', 'build', 'kitchen', '.pioenvs'), 'not a dir');
    await expect(materializeArtifacts({ tarball: p.tarball, configDir, configuration: 'kitchen.yaml', deviceName: 'kitchen' })).rejects.toThrow(/is not a directory/);
  });

  it('refuses hostile or malformed tarballs before writing anything', async () => {
    const configDir = join(base, 'config');
    await mkdir(configDir);
    const storage = JSON.stringify({ name: 'kitchen', esp_platform: 'esp32', build_path: '/r/build/kitchen', firmware_bin_path: '/r/build/kitchen/.pioenvs/kitchen/firmware.bin' });
    const cases: Array<[Buffer, RegExp]> = [
      [await tarGz([{ name: 'storage.json', data: storage }, { name: '../../evil', data: 'x' }]), /escapes the root/],
      [await tarGz([{ name: 'storage.json', data: storage }, { name: 'l', type: 'symlink', linkname: '/etc' }]), /symlink/],
      [await tarGz([{ name: 'idedata.json', data: '{}' }]), /storage.json missing/],
      [await tarGz([{ name: 'storage.json', data: storage }]), /firmware image .* missing/],
      [await tarGz([{ name: 'storage.json', data: JSON.stringify({ name: '../x', build_path: '/r', firmware_bin_path: '/r/f' }) }]), /no usable name/],
      [await tarGz([{ name: 'storage.json', data: JSON.stringify({ name: 'k', build_path: '/r/b', firmware_bin_path: '/etc/passwd' }) }]), /not inside build_path/],
      [Buffer.from(gunzipSync(await tarGz([{ name: 'a', data: 'b' }]))), /gzip/],
      [await tarGz([{ name: 'storage.json', data: storage }, { name: 'a', data: '1' }, { name: './a', data: '2' }]), /duplicate member/],
      // A file and a file below it (its "directory"): the firmware is there, but the tree could only be half written.
      [
        await tarGz([
          { name: 'storage.json', data: storage },
          { name: '.pioenvs/kitchen/firmware.bin', data: 'fw' },
          { name: '.pioenvs', data: 'x' },
        ]),
        /conflicts with another member/,
      ],
      // Valid up to the firmware image, then idedata.json is not JSON: refused before the build tree is written.
      [
        await tarGz([
          { name: 'storage.json', data: storage },
          { name: 'idedata.json', data: '{not json' },
          { name: '.pioenvs/kitchen/firmware.bin', data: 'fw' },
        ]),
        /idedata.json is not valid JSON/,
      ],
      // A gzip bomb: 70 MiB of zeros inflate past the 65 MiB bound.
      [gzipSync(Buffer.alloc(70 * 1024 * 1024)), /inflates beyond/],
      // Cut off in the middle of a member.
      [gzipSync(gunzipSync(await tarGz([{ name: 'storage.json', data: storage }, { name: 'big', data: 'x'.repeat(5000) }])).subarray(0, 1536)), /truncated|unexpected end|tar/],
    ];
    for (const [tarball, re] of cases) {
      const err = await materializeArtifacts({ tarball, configDir, configuration: 'kitchen.yaml', deviceName: 'kitchen' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArtifactMaterializeError);
      expect((err as Error).message).toMatch(re);
    }
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(configDir)).toEqual([]);
  });
});

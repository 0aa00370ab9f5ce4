// `esphome bundle` archives and bundles as config input (esphome-cli.md §1.3, §7.2.12).
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { parse as parseYaml } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSim, simEnv, workspace, type Workspace } from './helpers';
import { must } from '../../../test/support/must';

let ws: Workspace;
beforeEach(() => {
  ws = workspace();
});
afterEach(() => ws.cleanup());

interface Member {
  header: tarStream.Header;
  data: Buffer;
}

async function readTarGz(file: string): Promise<Member[]> {
  const extract = tarStream.extract();
  const members: Member[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      members.push({ header: entry.header, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(gunzipSync(readFileSync(file)));
  await done;
  return members;
}

async function makeTarGz(entries: (tarStream.Header & { data?: string })[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((res) => pack.on('end', () => res()));
  for (const { data, ...header } of entries) {
    await new Promise<void>((res, rej) => pack.entry(header, data ?? '', (err) => (err ? rej(err) : res())));
  }
  pack.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

function writeAssetsProject(outsideFile: string): void {
  const files: Record<string, string> = {
    'fonts/Roboto.ttf': 'fake font',
    'images/logo.png': 'fake png',
    'my_includes/helpers.h': '#pragma once\n',
    'includes_dir/a.h': '// a\n',
    'includes_dir/sub/b.h': '// b\n',
    'external/my_comp/__init__.py': '# component\n',
    'external/my_comp/__pycache__/x.pyc': 'bytecode',
    'unrelated/notes.txt': 'not referenced',
    'certs/ca.pem': '-----BEGIN CERTIFICATE-----\n',
  };
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(ws.dir, p, '..'), { recursive: true });
    writeFileSync(ws.path(p), body);
  }
  writeFileSync(
    ws.path('assets.yaml'),
    `substitutions:
  friendly: Assets
esphome:
  name: assets
  includes:
    - my_includes/helpers.h
    - includes_dir
external_components:
  - source:
      type: local
      path: external
esp32:
  board: esp32dev
packages:
  net: !include common/wifi.yaml
api:
  encryption:
    key: !secret api_encryption_key
mqtt:
  broker: 10.0.0.2
  certificate_authority: certs/ca.pem
font:
  - file: fonts/Roboto.ttf
    id: f1
image:
  - file: images/logo.png
    id: logo
  - file: ${outsideFile}
    id: outside
  - file: images/missing.png
    id: missing
`,
  );
}

describe('bundle creation', () => {
  it('real gzip tar: manifest first, filtered secrets, then sorted files; deterministic metadata; no dirs', async () => {
    const outside = join(ws.dir, '..', `outside-${process.pid}.ttf`);
    writeFileSync(outside, 'outside');
    writeAssetsProject(outside);
    try {
      const r = await runSim(['bundle', 'assets.yaml'], { cwd: ws.dir });
      expect(r.code).toBe(0);
      const archive = ws.path('assets.esphomebundle.tar.gz');
      const members = await readTarGz(archive);
      const names = members.map((m) => m.header.name);
      expect(names).toEqual([
        'manifest.json',
        'secrets.yaml',
        'assets.yaml',
        'certs/ca.pem',
        'common/wifi.yaml',
        'external/my_comp/__init__.py',
        'fonts/Roboto.ttf',
        'images/logo.png',
        'includes_dir/a.h',
        'includes_dir/sub/b.h',
        'my_includes/helpers.h',
      ]);
      for (const m of members) {
        expect(m.header.type).toBe('file');
        expect(m.header.mtime?.getTime()).toBe(0);
        expect(m.header.uid).toBe(0);
        expect(m.header.gid).toBe(0);
        expect(m.header.mode & 0o7777).toBe(0o644);
      }
      const byName = (n: string) => members.find((m) => m.header.name === n)!.data.toString('utf8');
      // secrets are filtered, not stripped: referenced keys keep their real values
      const original = parseYaml(ws.read('secrets.yaml')) as Record<string, string>;
      expect(parseYaml(byName('secrets.yaml'))).toEqual({
        wifi_ssid: original.wifi_ssid,
        wifi_password: original.wifi_password,
        fallback_password: original.fallback_password,
        api_encryption_key: original.api_encryption_key,
      });
      expect(byName('assets.yaml')).toBe(ws.read('assets.yaml'));
      const manifest = JSON.parse(byName('manifest.json'));
      expect(byName('manifest.json')).toBe(JSON.stringify(manifest, null, 2));
      expect(manifest.manifest_version).toBe(1);
      expect(manifest.esphome_version).toBe('2025.12.2');
      expect(manifest.config_filename).toBe('assets.yaml');
      expect(manifest.has_secrets).toBe(true);
      expect(manifest.files[0]).toBe('assets.yaml');
      expect([...manifest.files].sort()).toEqual(names.slice(1).sort());
      expect(manifest.files.indexOf('common/wifi.yaml')).toBeLessThan(manifest.files.indexOf('fonts/Roboto.ttf'));

      expect(r.stderr).toContain(`WARNING Bundle: skipping file outside config directory: ${outside}`);
      expect(r.stderr).toContain('WARNING Bundle: non-absolute path in validated config: certs/ca.pem (component validator should return absolute paths)');
      expect(r.stderr).toContain(`WARNING Bundle: skipping missing file ${ws.path('images/missing.png')}`);
      expect(r.stderr).toContain('WARNING Bundle contains secrets (e.g. Wi-Fi passwords). Do not share it with untrusted parties.');
      const kb = (readFileSync(archive).length / 1024).toFixed(1);
      expect(r.stderr).toMatch(new RegExp(`INFO Bundle created: ${archive.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(10 files, ${kb} KB\\)\\n$`));
    } finally {
      writeFileSync(outside, '');
    }
  });

  it('-o writes elsewhere (parents created); no !secret → no secrets member and no warning', async () => {
    writeFileSync(ws.path('plain.yaml'), 'esphome:\n  name: plain\nesp8266:\n  board: d1_mini\nlogger:\n');
    const out = ws.path('out', 'deep', 'plain.tgz');
    const r = await runSim(['bundle', 'plain.yaml', '-o', out], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const members = await readTarGz(out);
    expect(members.map((m) => m.header.name)).toEqual(['manifest.json', 'plain.yaml']);
    expect(JSON.parse(must(members[0]).data.toString()).has_secrets).toBe(false);
    expect(r.stderr).not.toContain('Bundle contains secrets');
    expect(existsSync(ws.path('plain.esphomebundle.tar.gz'))).toBe(false);
  });

  it('--list-only prints sorted paths and a count, writes nothing', async () => {
    const r = await runSim(['bundle', 'living-room.yaml', '--list-only'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('  common/wifi.yaml\n  living-room.yaml\n  secrets.yaml\n');
    expect(r.stderr).toMatch(/INFO Found 3 files\n$/);
    expect(readdirSync(ws.dir).filter((f) => f.includes('esphomebundle'))).toEqual([]);
  });

  it('invalid config → exit 2 and no archive', async () => {
    const r = await runSim(['bundle', 'living-room.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SCENARIO: 'config-error' }) });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^Failed config/);
    expect(existsSync(ws.path('living-room.esphomebundle.tar.gz'))).toBe(false);
  });
});

describe('bundle as config input', () => {
  it('compile extracts next to the bundle and builds inside it; re-extraction keeps .esphome (incremental)', async () => {
    expect((await runSim(['bundle', 'living-room.yaml', '-o', ws.path('in', 'living-room.esphomebundle.tar.gz')], { cwd: ws.dir })).code).toBe(0);
    const bundle = ws.path('in', 'living-room.esphomebundle.tar.gz');
    const dir = ws.path('in', 'living-room.esphomebundle');
    const first = await runSim(['compile', bundle], { cwd: ws.path('in') });
    expect(first.code).toBe(0);
    const err = first.stderr.split('\n');
    expect(err[2]).toBe(`INFO Extracting config bundle ${bundle}...`);
    expect(err[3]).toBe(`INFO Reading configuration ${join(dir, 'living-room.yaml')}...`);
    expect(readFileSync(join(dir, 'living-room.yaml'), 'utf8')).toBe(ws.read('living-room.yaml'));
    expect(existsSync(join(dir, 'common', 'wifi.yaml'))).toBe(true);
    const fw = join(dir, '.esphome', 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.bin');
    expect(existsSync(fw)).toBe(true);
    const storage = JSON.parse(readFileSync(join(dir, '.esphome', 'storage', 'living-room.yaml.json'), 'utf8'));
    expect(storage.firmware_bin_path).toBe(fw);

    writeFileSync(join(dir, 'stale.txt'), 'left over');
    const second = await runSim(['compile', bundle], { cwd: ws.path('in') });
    expect(second.code).toBe(0);
    expect(existsSync(join(dir, 'stale.txt'))).toBe(false);
    const count = (s: string) => s.split('\n').filter((l) => l.startsWith('Compiling ')).length;
    expect(count(second.stdout)).toBeLessThanOrEqual(20);
    expect(count(second.stdout)).toBeLessThan(count(first.stdout));

    const up = await runSim(['upload', bundle, '--device', '10.9.8.7'], { cwd: ws.path('in') });
    expect(up.code).toBe(0);
    expect(up.stderr).toContain(`INFO Uploading ${fw} (`);
  });

  const manifest = (extra: object = {}) => JSON.stringify({ manifest_version: 1, esphome_version: '2025.12.2', config_filename: 'dev.yaml', files: ['dev.yaml'], has_secrets: false, ...extra });
  const devYaml = 'esphome:\n  name: dev\nesp8266:\n  board: d1_mini\n';

  it.each([
    ['missing manifest', [{ name: 'dev.yaml', data: devYaml }], 'ERROR Invalid bundle: missing manifest.json'],
    ['path traversal', [{ name: 'manifest.json', data: manifest() }, { name: 'dev.yaml', data: devYaml }, { name: '../evil.yaml', data: 'x' }], 'ERROR Invalid bundle: path traversal in archive: ../evil.yaml'],
    ['absolute path', [{ name: 'manifest.json', data: manifest() }, { name: 'dev.yaml', data: devYaml }, { name: '/tmp/evil.yaml', data: 'x' }], 'ERROR Invalid bundle: absolute path in archive: /tmp/evil.yaml'],
    ['symlink', [{ name: 'manifest.json', data: manifest() }, { name: 'dev.yaml', data: devYaml }, { name: 'link.yaml', type: 'symlink', linkname: '/etc/passwd' }], 'ERROR Invalid bundle: symlink in archive: link.yaml'],
    ['hard link', [{ name: 'manifest.json', data: manifest() }, { name: 'dev.yaml', data: devYaml }, { name: 'hard.yaml', type: 'link', linkname: 'dev.yaml' }], 'ERROR Invalid bundle: symlink in archive: hard.yaml'],
    ['newer manifest', [{ name: 'manifest.json', data: manifest({ manifest_version: 2 }) }, { name: 'dev.yaml', data: devYaml }], 'ERROR Bundle manifest version 2 is newer than this ESPHome version supports (max 1).'],
    ['config not in archive', [{ name: 'manifest.json', data: manifest({ config_filename: 'other.yaml' }) }, { name: 'dev.yaml', data: devYaml }], "ERROR Bundle manifest references config 'other.yaml' but it was not found in the archive"],
  ] as [string, (tarStream.Header & { data?: string })[], string][])('rejects %s with exit 1 and extracts nothing', async (_label, entries, message) => {
    const file = ws.path('bad.esphomebundle.tar.gz');
    writeFileSync(file, await makeTarGz(entries));
    const r = await runSim(['compile', file], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(existsSync(ws.path('bad.esphomebundle', 'dev.yaml'))).toBe(false);
    expect(existsSync(join(ws.dir, '..', 'evil.yaml'))).toBe(false);
  });

  it('a missing bundle file → ERROR Bundle file not found, exit 1', async () => {
    const r = await runSim(['compile', 'nope.ESPHOMEBUNDLE.TAR.GZ'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ERROR Bundle file not found: ${ws.path('nope.ESPHOMEBUNDLE.TAR.GZ')}`);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../errors';
import { importYaml, listConfigurations, parseDevice } from '../configurations';
import { cleanupDirs, MINIMAL_YAML, tempConfigDir } from './helpers';
import { must } from '../../../../test/support/must';

afterEach(cleanupDirs);

async function rejects(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected a rejection');
}

describe('parseDevice', () => {
  it('reads name, friendly name (with substitutions) and platform, tolerating ESPHome tags', () => {
    const info = parseDevice(
      'substitutions:\n  n: porch\nesphome:\n  name: ${n}-light\n  friendly_name: Porch ${n}\nesp32:\n  board: x\nwifi:\n  password: !secret p\nsensor: !include s.yaml\nx: !lambda return 1;\n',
    );
    expect(info).toEqual({ deviceName: 'porch-light', friendlyName: 'Porch porch', platform: 'esp32' });
  });
  it('refuses YAML syntax errors and files without esphome: name', () => {
    expect(() => parseDevice('esphome: [\n')).toThrow(/not valid YAML/);
    expect(() => parseDevice('esphome:\n  name: a\n  board: "x\n')).toThrow(/^not valid YAML at line 4, column 1: /);
    expect(() => parseDevice('wifi:\n  ssid: x\n')).toThrow(/esphome: name/);
    expect(() => parseDevice('- a\n- b\n')).toThrow(/mapping/);
  });
});

describe('listConfigurations', () => {
  it('lists .yaml/.yml files, skips secrets and hidden files, reports unreadable ones', async () => {
    const dir = tempConfigDir({
      'b.yml': MINIMAL_YAML('bee'),
      'a.yaml': MINIMAL_YAML('ay'),
      'secrets.yaml': 'wifi: x\n',
      '.hidden.yaml': MINIMAL_YAML('h'),
      'notes.txt': 'x',
      'broken.yaml': 'esphome: [\n',
    });
    const list = await listConfigurations(dir);
    expect(list.map((c) => c.name)).toEqual(['a.yaml', 'b.yml', 'broken.yaml']);
    expect(list[0]).toMatchObject({ deviceName: 'ay', platform: 'esp8266', error: '' });
    expect(must(list[2]).error).toMatch(/not valid YAML/);
  });
  it('returns [] for a missing folder', async () => {
    expect(await listConfigurations('/nonexistent/kiln/dir')).toEqual([]);
  });
});

describe('importYaml', () => {
  it('writes a valid file and reports its device name', async () => {
    const dir = tempConfigDir();
    const r = await importYaml(dir, { name: 'porch.yaml', content: MINIMAL_YAML('porch') });
    expect(r).toEqual({ configuration: 'porch.yaml', deviceName: 'porch', overwritten: false });
    expect(readFileSync(join(dir, 'porch.yaml'), 'utf8')).toBe(MINIMAL_YAML('porch'));
  });

  it('refuses a name clash with a typed error and keeps the old file, unless overwrite is asked', async () => {
    const dir = tempConfigDir({ 'porch.yaml': MINIMAL_YAML('old') });
    const e = await rejects(importYaml(dir, { name: 'porch.yaml', content: MINIMAL_YAML('new') }));
    expect(e.code).toBe('precondition_failed');
    expect(e.data).toEqual({ reason: 'exists', configuration: 'porch.yaml' });
    expect(readFileSync(join(dir, 'porch.yaml'), 'utf8')).toBe(MINIMAL_YAML('old'));
    const r = await importYaml(dir, { name: 'porch.yaml', content: MINIMAL_YAML('new'), overwrite: true });
    expect(r.overwritten).toBe(true);
    expect(readFileSync(join(dir, 'porch.yaml'), 'utf8')).toBe(MINIMAL_YAML('new'));
  });

  it.each([
    ['../evil.yaml', /without folders/],
    ['sub/dev.yaml', /without folders/],
    ['dev.txt', /not a .yaml/],
    ['.hidden.yaml', /not a valid configuration file name/],
    ['secrets.yaml', /reserved/],
  ])('refuses the name %s', async (name, msg) => {
    const dir = tempConfigDir();
    const e = await rejects(importYaml(dir, { name, content: MINIMAL_YAML('x') }));
    expect(e.code).toBe('invalid_args');
    expect(e.message).toMatch(msg);
  });

  it('refuses content over 512 KiB, invalid YAML and YAML without a device name, writing nothing', async () => {
    const dir = tempConfigDir();
    const big = MINIMAL_YAML('big') + '#' + 'x'.repeat(512 * 1024) + '\n';
    expect((await rejects(importYaml(dir, { name: 'big.yaml', content: big }))).message).toMatch(/larger than 512 KiB/);
    expect((await rejects(importYaml(dir, { name: 'bad.yaml', content: 'esphome: [' }))).message).toMatch(/not valid YAML/);
    expect((await rejects(importYaml(dir, { name: 'anon.yaml', content: 'wifi: {}\n' }))).message).toMatch(/esphome: name/);
    expect(await listConfigurations(dir)).toEqual([]);
  });
});

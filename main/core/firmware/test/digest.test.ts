// The configuration digest over real files: it changes with every input kind and not with an
// unrelated file, and a warm digest of an unchanged configuration reads nothing it need not.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigDigester } from '../digest';

let dir: string;
const w = (rel: string, text: string): void => {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), text);
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-digest-'));
  w('dev.yaml', [
    'esphome:',
    '  name: dev',
    '  includes:',
    '    - custom/sensor.h',
    'packages:',
    '  base: !include common/base.yaml',
    '  remote: github://esphome/firmware/x.yaml@main',
    'wifi:',
    '  ssid: !secret wifi_ssid',
    'sensor: !include_dir_list sensors',
    'font:',
    '  - file: fonts/a.ttf',
    '    id: f',
    'logger: !include { file: common/logger.yaml, vars: { level: DEBUG } }',
    '',
  ].join('\n'));
  w('custom/sensor.h', '#pragma once\n');
  w('common/base.yaml', 'api:\nota: !include ota.yaml\n');
  w('common/ota.yaml', '- platform: esphome\n');
  w('common/logger.yaml', 'level: ${level}\n');
  w('sensors/one.yaml', 'platform: uptime\n');
  w('fonts/a.ttf', 'FONT');
  w('secrets.yaml', 'wifi_ssid: x\n');
  w('unrelated.yaml', 'esphome:\n  name: other\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ConfigDigester', () => {
  it('lists every input the build depends on, and only those', async () => {
    const d = await new ConfigDigester().digest(join(dir, 'dev.yaml'), '2026.11.1');
    expect(d.files.map((f) => f.path)).toEqual([
      'common/base.yaml',
      'common/logger.yaml',
      'common/ota.yaml',
      'custom/sensor.h',
      'dev.yaml',
      'fonts/a.ttf',
      'secrets.yaml',
      'sensors/one.yaml',
    ]);
    expect(d.missing).toEqual([]);
  });

  const cases: Array<[string, () => void]> = [
    ['main YAML', () => w('dev.yaml', `${'# edit\n'}esphome:\n  name: dev\n`)],
    ['include', () => w('common/ota.yaml', '- platform: esphome\n  password: y\n')],
    ['package', () => w('common/base.yaml', 'api:\n  reboot_timeout: 0s\nota: !include ota.yaml\n')],
    ['secret', () => w('secrets.yaml', 'wifi_ssid: y\n')],
    ['esphome includes', () => w('custom/sensor.h', '#pragma once\n// v2\n')],
    ['include_dir', () => w('sensors/two.yaml', 'platform: uptime\n')],
    ['file option', () => w('fonts/a.ttf', 'FONT2')],
    ['include with vars', () => w('common/logger.yaml', 'level: INFO\n')],
  ];
  for (const [kind, change] of cases) {
    it(`changes when the ${kind} changes`, async () => {
      const dg = new ConfigDigester();
      const before = await dg.digest(join(dir, 'dev.yaml'), '2026.11.1');
      change();
      const after = await dg.digest(join(dir, 'dev.yaml'), '2026.11.1');
      expect(after.digest).not.toBe(before.digest);
    });
  }

  it('changes with the ESPHome version, not with an unrelated file or a touch', async () => {
    const dg = new ConfigDigester();
    const a = await dg.digest(join(dir, 'dev.yaml'), '2026.11.1');
    expect((await dg.digest(join(dir, 'dev.yaml'), '2026.12.0')).digest).not.toBe(a.digest);
    w('unrelated.yaml', 'esphome:\n  name: other2\n');
    w('notes.txt', 'hello');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'dev.yaml'), later, later);
    expect((await dg.digest(join(dir, 'dev.yaml'), '2026.11.1')).digest).toBe(a.digest);
    // A fresh digester (cold cache) agrees.
    expect((await new ConfigDigester().digest(join(dir, 'dev.yaml'), '2026.11.1')).digest).toBe(a.digest);
  });

  it('a secret file counts only when the configuration uses !secret', async () => {
    w('plain.yaml', 'esphome:\n  name: plain\n');
    const dg = new ConfigDigester();
    const a = await dg.digest(join(dir, 'plain.yaml'), 'v');
    w('secrets.yaml', 'wifi_ssid: changed\n');
    expect((await dg.digest(join(dir, 'plain.yaml'), 'v')).digest).toBe(a.digest);
  });

  it('a missing include is part of the digest (creating it is a change); unparsable YAML still hashes', async () => {
    w('gap.yaml', 'esphome:\n  name: gap\nlogger: !include nothere.yaml\n');
    const dg = new ConfigDigester();
    const a = await dg.digest(join(dir, 'gap.yaml'), 'v');
    expect(a.missing).toEqual(['nothere.yaml']);
    w('nothere.yaml', 'level: DEBUG\n');
    expect((await dg.digest(join(dir, 'gap.yaml'), 'v')).digest).not.toBe(a.digest);
    w('bad.yaml', 'esphome: [unclosed\n');
    await expect(dg.digest(join(dir, 'bad.yaml'), 'v')).resolves.toMatchObject({ files: [{ path: 'bad.yaml' }] });
    await expect(dg.digest(join(dir, 'absent.yaml'), 'v')).rejects.toThrow(/configuration not found/);
  });

  it('an include cycle terminates', async () => {
    w('cyc.yaml', 'a: !include cyc2.yaml\n');
    w('cyc2.yaml', 'b: !include cyc.yaml\n');
    const d = await new ConfigDigester().digest(join(dir, 'cyc.yaml'), 'v');
    expect(d.files.map((f) => f.path)).toEqual(['cyc.yaml', 'cyc2.yaml']);
  });
});

// Path branch of YAML drop (and second-launch YAML paths): real temp files, the real importer of
// the API (main/core/api/configurations.ts) and the clash dialog.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importYaml } from '../../core/api/configurations';
import { MAX_YAML_BYTES, confirmReplaceDialog, importYamlFromPath, readDroppedYaml, type PathImportDeps } from '../drop-import';
import { BrowserWindow, fake, resetFakeElectron } from './fake-electron';

const KITCHEN = 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\nwifi:\n  password: !secret wifi_pw\n';
let dir: string;
let src: string;
let configDir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-drop-'));
  src = join(dir, 'downloads');
  mkdirSync(src);
  writeFileSync(join(src, 'kitchen.yaml'), KITCHEN);
  writeFileSync(join(src, 'garage.YML'), 'esphome:\n  name: garage\n');
  writeFileSync(join(src, 'notes.txt'), 'hello');
  writeFileSync(join(src, 'big.yaml'), `esphome:\n  name: big\n# ${'x'.repeat(MAX_YAML_BYTES)}\n`);
  writeFileSync(join(src, 'binary.yaml'), Buffer.from([0xff, 0xfe, 0x00, 0x01]));
  writeFileSync(join(src, 'broken.yaml'), 'esphome: [unclosed\n');
  writeFileSync(join(src, 'not-esphome.yaml'), 'foo: bar\n');
  mkdirSync(join(src, 'folder.yaml'));
  symlinkSync(join(src, 'notes.txt'), join(src, 'sneaky.yaml'));
  symlinkSync(join(src, 'kitchen.yaml'), join(src, 'link-to-kitchen.yaml'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  resetFakeElectron();
  configDir = mkdtempSync(join(dir, 'config-'));
});

function deps(answer = false): PathImportDeps & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    importYaml: (req) => importYaml(configDir, req),
    confirmReplace: async (name) => {
      asked.push(name);
      return answer;
    },
  };
}

describe('importYamlFromPath', () => {
  it('imports a YAML file into the config dir', async () => {
    const res = await importYamlFromPath(join(src, 'kitchen.yaml'), deps());
    expect(res).toEqual({ status: 'imported', configuration: 'kitchen.yaml', deviceName: 'kitchen', overwritten: false });
    expect(readFileSync(join(configDir, 'kitchen.yaml'), 'utf8')).toBe(KITCHEN);
    expect((await importYamlFromPath(join(src, 'garage.YML'), deps())).status).toBe('imported');
  });

  it('follows a symlink to a YAML file, keeping the dropped name', async () => {
    const res = await importYamlFromPath(join(src, 'link-to-kitchen.yaml'), deps());
    expect(res).toMatchObject({ status: 'imported', configuration: 'link-to-kitchen.yaml' });
  });

  it.each([
    ['relative path', 'downloads/kitchen.yaml', /not absolute/],
    ['not a string', 42, /not a file path/],
    ['NUL byte', '/tmp/a\0.yaml', /not a file path/],
    ['other extension', 'notes.txt', /not a \.yaml or \.yml file/],
    ['missing file', 'missing.yaml', /cannot be read/],
    ['directory', 'folder.yaml', /not a regular file/],
    ['symlink to a non-YAML file', 'sneaky.yaml', /does not point to a \.yaml/],
    ['over 1 MiB', 'big.yaml', /larger than 1 MiB/],
    ['not UTF-8', 'binary.yaml', /not a UTF-8 text file/],
    ['YAML syntax error', 'broken.yaml', /not valid YAML/],
    ['not an ESPHome config', 'not-esphome.yaml', /no "esphome: name:"/],
  ])('refuses: %s', async (_what, input, message) => {
    const path = typeof input === 'string' && !input.startsWith('/') && !input.startsWith('downloads') ? join(src, input) : input;
    const res = await importYamlFromPath(path, deps());
    expect(res).toMatchObject({ status: 'refused', code: 'invalid_args' });
    expect((res as { message: string }).message).toMatch(message);
    expect(existsSync(join(configDir, typeof input === 'string' ? input.split('/').pop()! : 'x'))).toBe(false);
  });

  it('a name clash asks, and keeps the existing file unless the user says Replace', async () => {
    writeFileSync(join(configDir, 'kitchen.yaml'), 'esphome:\n  name: old\n');
    const no = deps(false);
    expect(await importYamlFromPath(join(src, 'kitchen.yaml'), no)).toEqual({ status: 'kept', configuration: 'kitchen.yaml' });
    expect(no.asked).toEqual(['kitchen.yaml']);
    expect(readFileSync(join(configDir, 'kitchen.yaml'), 'utf8')).toContain('name: old');
    const yes = deps(true);
    expect(await importYamlFromPath(join(src, 'kitchen.yaml'), yes)).toEqual({
      status: 'imported',
      configuration: 'kitchen.yaml',
      deviceName: 'kitchen',
      overwritten: true,
    });
    expect(readFileSync(join(configDir, 'kitchen.yaml'), 'utf8')).toBe(KITCHEN);
  });

  it('readDroppedYaml returns name, content and the real path', async () => {
    const r = await readDroppedYaml(join(src, 'link-to-kitchen.yaml'));
    expect(r).toEqual({ name: 'link-to-kitchen.yaml', content: KITCHEN, realPath: join(src, 'kitchen.yaml') });
  });
});

describe('clash dialog', () => {
  it('asks with Keep existing / Replace, Keep being the default and the cancel answer', async () => {
    fake.messageBoxResponses.push(1, 0);
    const win = new BrowserWindow();
    expect(await confirmReplaceDialog(win as never, 'kitchen.yaml')).toBe(true);
    expect(await confirmReplaceDialog(null, 'kitchen.yaml')).toBe(false);
    expect(fake.messageBoxes[0]).toEqual({ message: 'A configuration named "kitchen.yaml" already exists.', buttons: ['Keep existing', 'Replace'] });
  });
});

import { describe, expect, it } from 'vitest';
import { deviceDirName, isSafeConfigurationFilename, senderDirName } from '../filename';

describe('configuration_filename leaf rule (§8 step 5)', () => {
  const table: Array<[unknown, boolean]> = [
    ['kitchen.yaml', true],
    ['kitchen.yml', true],
    ['Kitchen.YAML', true],
    ['living room.Yml', true],
    ['a.b.yaml', true],
    ['.hidden.yaml', true],
    ['-x.yaml', true],
    ['', false],
    ['.yaml', false], // stem ""
    ['..yaml', false], // stem "."
    ['...yaml', false], // stem ".."
    ['kitchen', false],
    ['kitchen.json', false],
    ['kitchen.yaml.txt', false],
    ['kitchen.yaml ', false],
    ['dir/kitchen.yaml', false],
    ['../kitchen.yaml', false],
    ['/etc/kitchen.yaml', false],
    ['dir\\kitchen.yaml', false],
    ['kit\0chen.yaml', false],
    ['kitchen.yaml\0', false],
    [42, false],
    [null, false],
  ];
  it.each(table)('%j → %s', (name, ok) => {
    expect(isSafeConfigurationFilename(name)).toBe(ok);
  });
});

describe('workspace directory names', () => {
  it('device dir is the sanitized stem and never hidden', () => {
    expect(deviceDirName('kitchen.yaml')).toBe('kitchen');
    expect(deviceDirName('living room.YML')).toBe('living_room');
    expect(deviceDirName('.hidden.yaml')).toBe('_hidden');
    expect(deviceDirName('ünï.yaml')).toBe('_n_');
  });
  it('sender dir is the first 8 chars of the dashboard_id', () => {
    expect(senderDirName('AbCdEfGh_ijklmnop')).toBe('AbCdEfGh');
    expect(senderDirName('-_ab')).toBe('-_ab');
  });
});

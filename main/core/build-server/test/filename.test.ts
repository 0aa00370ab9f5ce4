import { describe, expect, it } from 'vitest';
import { deviceDirName, isSafeConfigurationFilename, senderKey } from '../filename';

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
  it('sender key covers the full dashboard_id and the pin, never a prefix', () => {
    const pin = 'a'.repeat(64);
    expect(senderKey('AbCdEfGh_ijklmnop', pin)).toMatch(/^[0-9a-f]{32}$/);
    expect(senderKey('AbCdEfGh_ijklmnop', pin)).toBe(senderKey('AbCdEfGh_ijklmnop', pin));
    expect(senderKey('AbCdEfGh_ijklmnop', pin)).not.toBe(senderKey('AbCdEfGh_ijklmnoq', pin));
    expect(senderKey('AbCdEfGh_ijklmnop', pin)).not.toBe(senderKey('AbCdEfGh_ijklmnop', 'b'.repeat(64)));
  });
});

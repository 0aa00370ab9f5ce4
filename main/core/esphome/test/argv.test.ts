import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { esphomeArgs, esphomeArgv, esphomeEnv, FORCED_ENV, resolveConfigPath, validatePort, isSerialPort } from '../argv';
import { parseEsphomeCommand, resolveEsphomeCommand, findExecutable, esphomeNotFoundMessage } from '../command';

describe('esphomeArgs / esphomeArgv (esphome-cli.md §6.2)', () => {
  const y = '/cfg/kitchen.yaml';
  it('puts --dashboard and cache args before the subcommand and the absolute YAML right after it', () => {
    expect(esphomeArgs({ command: 'compile', yamlPath: y })).toEqual(['--dashboard', 'compile', y]);
    expect(esphomeArgs({ command: 'upload', yamlPath: y, port: 'OTA' }, { cacheArgs: ['--mdns-address-cache', 'k.local=1.2.3.4'] })).toEqual([
      '--dashboard',
      '--mdns-address-cache',
      'k.local=1.2.3.4',
      'upload',
      y,
      '--device',
      'OTA',
    ]);
    expect(esphomeArgs({ command: 'upload', yamlPath: y, port: '192.168.1.5', bootloader: true })).toEqual([
      '--dashboard', 'upload', y, '--device', '192.168.1.5', '--bootloader',
    ]);
    expect(esphomeArgs({ command: 'upload', yamlPath: y })).toEqual(['--dashboard', 'upload', y]);
    expect(esphomeArgs({ command: 'run', yamlPath: y, port: '/dev/ttyUSB0' })).toEqual(['--dashboard', 'run', y, '--no-logs', '--device', '/dev/ttyUSB0']);
    expect(esphomeArgs({ command: 'clean', yamlPath: y })).toEqual(['--dashboard', 'clean', y]);
    expect(esphomeArgs({ command: 'clean-all', configDir: '/cfg' })).toEqual(['--dashboard', 'clean-all', '/cfg']);
    expect(esphomeArgs({ command: 'rename', yamlPath: y, newName: 'pantry' })).toEqual(['--dashboard', 'rename', y, 'pantry']);
    expect(esphomeArgs({ command: 'bundle', yamlPath: y, outPath: '/tmp/b.tar.gz' })).toEqual(['--dashboard', 'bundle', y, '-o', '/tmp/b.tar.gz']);
    expect(esphomeArgv(['python3', '-m', 'esphome'], { command: 'compile', yamlPath: y })).toEqual(['python3', '-m', 'esphome', '--dashboard', 'compile', y]);
  });

  it('refuses a port that would be parsed as a flag', () => {
    expect(() => esphomeArgs({ command: 'upload', yamlPath: y, port: '--help' })).toThrow(/invalid port/);
  });
});

describe('esphomeEnv', () => {
  it('inherits, forces the six variables, applies extras and removes undefined ones', () => {
    const env = esphomeEnv({ PATH: '/bin', FORCE_COLOR: '0', ESPHOME_IS_HA_ADDON: 'true' }, { ESPHOME_DATA_DIR: '/d', ESPHOME_IS_HA_ADDON: undefined });
    expect(env).toEqual({ PATH: '/bin', ...FORCED_ENV, ESPHOME_DATA_DIR: '/d' });
    expect(FORCED_ENV).toEqual({
      PLATFORMIO_FORCE_ANSI: 'true',
      FORCE_COLOR: '1',
      CLICOLOR_FORCE: '1',
      PYTHONUNBUFFERED: '1',
      PYTHONUTF8: '1',
      PYTHONIOENCODING: 'utf-8',
    });
  });
});

describe('resolveConfigPath', () => {
  const dir = '/home/u/esphome';
  it('resolves names inside the config dir', () => {
    expect(resolveConfigPath(dir, 'kitchen.yaml')).toBe(join(dir, 'kitchen.yaml'));
    expect(resolveConfigPath(dir, 'sub/a.yaml')).toBe(join(dir, 'sub/a.yaml'));
    expect(resolveConfigPath(dir, 'sub/../b.yaml')).toBe(join(dir, 'b.yaml'));
  });
  it.each(['../x.yaml', 'a/../../x.yaml', '/etc/passwd', '', '.', 'a\0b.yaml', '..', 'C:\\x.yaml'])('rejects %j', (name) => {
    expect(() => resolveConfigPath(dir, name)).toThrow();
  });
  it('rejects a sibling directory sharing the prefix', () => {
    expect(() => resolveConfigPath(dir, '../esphome-other/x.yaml')).toThrow(/outside/);
  });
});

describe('ports', () => {
  it.each(['OTA', '/dev/ttyUSB0', 'COM3', '192.168.1.20', 'kitchen.local', 'fe80::1%eth0', '[fe80::1]'])('accepts %s', (p) => {
    expect(validatePort(p)).toBe(p);
  });
  it.each(['', '-x', 'a b', 'x;rm', 'a\nb'])('rejects %j', (p) => expect(() => validatePort(p)).toThrow());
  it('knows serial ports', () => {
    expect(isSerialPort('/dev/ttyACM0')).toBe(true);
    expect(isSerialPort('COM4')).toBe(true);
    expect(isSerialPort('OTA')).toBe(false);
    expect(isSerialPort('10.0.0.2')).toBe(false);
  });
});

describe('esphome command', () => {
  it('splits a command string, honouring quotes', () => {
    expect(parseEsphomeCommand('python3 -m esphome')).toEqual(['python3', '-m', 'esphome']);
    expect(parseEsphomeCommand('  "/opt/my tools/esphome"  --x ')).toEqual(['/opt/my tools/esphome', '--x']);
    expect(parseEsphomeCommand('')).toEqual([]);
  });
  it('takes an existing file path whole even with spaces', () => {
    expect(parseEsphomeCommand(process.execPath)).toEqual([process.execPath]);
  });
  it('prefers flag over env over setting over the default', () => {
    expect(resolveEsphomeCommand({ flag: 'a b', env: 'c', setting: 'd' })).toEqual(['a', 'b']);
    expect(resolveEsphomeCommand({ flag: ' ', env: 'c', setting: 'd' })).toEqual(['c']);
    expect(resolveEsphomeCommand({ setting: ['x', '-m', 'esphome'] })).toEqual(['x', '-m', 'esphome']);
    expect(resolveEsphomeCommand({})).toEqual(['esphome']);
  });
  it('finds executables on PATH and reports missing ones', () => {
    expect(findExecutable('node', { PATH: `/nonexistent:${join(process.execPath, '..')}` })).toBe(process.execPath);
    expect(findExecutable('definitely-not-a-command-kiln', { PATH: '/usr/bin:/bin' })).toBeNull();
    expect(findExecutable('/etc/hostname-not-there', {})).toBeNull();
    const msg = esphomeNotFoundMessage(['esphome-missing']);
    expect(msg).toContain("'esphome-missing'");
    expect(msg).toContain('--esphome');
    expect(msg).toContain('KILN_ESPHOME');
  });
});

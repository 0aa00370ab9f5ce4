// clean, clean-all, config and idedata (esphome-cli.md §1.2, §7.2.10–13), plus several configs.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSim, workspace, type Workspace } from './helpers';

let ws: Workspace;
beforeEach(() => {
  ws = workspace();
});
afterEach(() => ws.cleanup());

describe('clean and clean-all', () => {
  it('clean deletes .pioenvs and .piolibdeps with INFO Deleting lines, then INFO Done!', async () => {
    expect((await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir })).code).toBe(0);
    const build = ws.path('.esphome', 'build', 'kitchen-plug');
    const r = await runSim(['clean', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`INFO Deleting ${join(build, '.pioenvs')}\nINFO Deleting ${join(build, '.piolibdeps')}\nINFO Done!\n`);
    expect(existsSync(join(build, '.pioenvs'))).toBe(false);
    expect(existsSync(join(build, '.piolibdeps'))).toBe(false);
    expect(existsSync(join(build, 'platformio.ini'))).toBe(true);
    // after a clean the next build is a first build again
    const again = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(again.stdout.split('\n').filter((l) => l.startsWith('Compiling ')).length).toBeGreaterThanOrEqual(150);
  });

  it('clean-all <config_dir> wipes build state but keeps storage/ and top-level json files', async () => {
    expect((await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir })).code).toBe(0);
    writeFileSync(ws.path('.esphome', 'keep.json'), '{}');
    writeFileSync(ws.path('.esphome', 'drop.txt'), 'x');
    const r = await runSim(['clean-all', ws.dir], { cwd: '/' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`INFO Cleaning ${ws.path('.esphome')}\nINFO Done!\n`);
    expect(existsSync(ws.path('.esphome', 'build'))).toBe(false);
    expect(existsSync(ws.path('.esphome', 'idedata'))).toBe(false);
    expect(existsSync(ws.path('.esphome', 'drop.txt'))).toBe(false);
    expect(existsSync(ws.path('.esphome', 'keep.json'))).toBe(true);
    expect(existsSync(ws.path('.esphome', 'storage', 'kitchen-plug.yaml.json'))).toBe(true);
  });
});

describe('config', () => {
  it('prints the resolved YAML with secrets masked, then INFO Configuration is valid!', async () => {
    const r = await runSim(['config', 'living-room.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('name: living-room');
    expect(r.stdout).toContain("password: \\033[5m!secret 'wifi_password'\\033[6m");
    expect(r.stdout).not.toContain('not-a-real-password');
    expect(r.stdout).not.toMatch(/^substitutions:/m);
    expect(r.stdout).not.toMatch(/^packages:/m);
    expect(r.stdout).toContain('ssid: \\033[5mLiving Room Fallback\\033[6m'); // substitution inside a package
    expect(r.stderr).toMatch(/INFO Configuration is valid!\n$/);
  });

  it('--show-secrets prints the real values', async () => {
    const r = await runSim(['config', 'living-room.yaml', '--show-secrets'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('password: not-a-real-password');
    expect(r.stdout).not.toContain('!secret');
  });

  it('secrets next to an included file win; the main config dir is the fallback', async () => {
    mkdirSync(ws.path('sub'));
    writeFileSync(ws.path('sub', 'secrets.yaml'), 'wifi_ssid: sub-ssid\n');
    writeFileSync(ws.path('sub', 'net.yaml'), 'wifi:\n  ssid: !secret wifi_ssid\n  password: !secret wifi_password\n');
    writeFileSync(ws.path('nested.yaml'), 'esphome:\n  name: nested\nesp8266:\n  board: d1_mini\npackages:\n  n: !include sub/net.yaml\n');
    const r = await runSim(['config', 'nested.yaml', '--show-secrets'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ssid: sub-ssid');
    expect(r.stdout).toContain('password: not-a-real-password');
  });
});

describe('idedata and several configurations', () => {
  it('idedata prints the JSON it caches; before any build it fails with exit 1', async () => {
    const before = await runSim(['idedata', 'living-room.yaml'], { cwd: ws.dir });
    expect(before.code).toBe(1);
    expect((await runSim(['compile', '--only-generate', 'living-room.yaml'], { cwd: ws.dir })).code).toBe(0);
    const r = await runSim(['idedata', 'living-room.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout);
    expect(data).toEqual(JSON.parse(readFileSync(ws.path('.esphome', 'idedata', 'living-room.json'), 'utf8')));
    expect(data.prog_path).toBe(ws.path('.esphome', 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.elf'));
    expect(data.extra.flash_images.map((i: { offset: string }) => i.offset)).toEqual(['0x1000', '0x8000', '0xe000']);
  });

  it('several configs run in order, secrets.yaml is skipped, the first failure ends the run', async () => {
    const ok = await runSim(['config', 'kitchen-plug.yaml', 'secrets.yaml', 'pico-sensor.yaml'], { cwd: ws.dir });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('WARNING Skipping secrets file secrets.yaml');
    expect(ok.stderr.match(/INFO Configuration is valid!/g)).toHaveLength(2);
    const bad = await runSim(['compile', 'broken-lambda.yaml', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).not.toContain('kitchen-plug.yaml...');
  });
});

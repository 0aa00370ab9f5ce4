// Arguments, exit codes, streams, labelling, colour and the invocation log (esphome-cli.md §7.1, §7.2.1–2).
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSimLog, runSim, simEnv, workspace, type Workspace } from './helpers';

let ws: Workspace;
beforeEach(() => {
  ws = workspace();
});
afterEach(() => ws.cleanup());

describe('version and labelling', () => {
  it.each([[['--version']], [['--dashboard', '--version']], [['version']]])('%j prints Version: first, then the simulator label', async (args) => {
    const r = await runSim(args, { cwd: ws.dir });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Version: 2025.12.2');
    expect(lines[1]).toMatch(/Kiln's esphome simulator/);
    expect(r.stderr).toBe('');
  });

  it('ESPHOME_SIM_VERSION changes the reported version', async () => {
    const r = await runSim(['--version'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_VERSION: '2026.3.1' }) });
    expect(r.stdout.split('\n')[0]).toBe('Version: 2026.3.1');
  });

  it('config-taking commands log the simulated-outputs INFO line right after INFO ESPHome', async () => {
    const r = await runSim(['config', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe('INFO ESPHome 2025.12.2');
    expect(lines[1]).toMatch(/^INFO Kiln's esphome simulator: .*simulated/);
    expect(lines[2]).toBe('INFO Reading configuration kitchen-plug.yaml...'); // the path as given, like esphome
  });
});

describe('usage errors exit 2 with usage: and an error line on stderr', () => {
  it.each([
    [[], /^esphome: error: the following arguments are required: command$/m],
    [['frobnicate', 'x.yaml'], /^esphome: error: argument command: invalid choice: 'frobnicate'/m],
    [['--bogus', 'compile', 'x.yaml'], /^esphome: error: unrecognized arguments: --bogus$/m],
    [['compile', 'x.yaml', '--dashboard'], /^esphome: error: unrecognized arguments: --dashboard$/m],
    [['upload', 'x.yaml', '--nope'], /^esphome: error: unrecognized arguments: --nope$/m],
    [['-l', 'LOUD', 'compile', 'x.yaml'], /^esphome: error: argument -l\/--log-level: invalid choice: 'LOUD'/m],
    [['compile'], /^esphome compile: error: the following arguments are required: configuration$/m],
    [['upload', 'x.yaml', '--device'], /^esphome upload: error: argument --device: expected one argument$/m],
  ])('%j', async (args, pattern) => {
    const r = await runSim(args, { cwd: ws.dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^usage: esphome/);
    expect(r.stderr).toMatch(pattern);
  });

  it('-h prints usage on stdout and exits 0', async () => {
    const r = await runSim(['-h'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: esphome/);
  });

  it('clean/config as first argument only warn about unknown extras (parse_known_args)', async () => {
    const r = await runSim(['config', 'kitchen-plug.yaml', '--weird'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("WARNING Ignored unrecognized arguments: ['--weird']");
  });

  it('global options are accepted before the subcommand, including -s KEY VALUE and abbreviations', async () => {
    const r = await runSim(['-v', '--dash', '-s', 'device', 'den', 'config', 'living-room.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('name: den');
  });
});

describe('streams, colour and --dashboard', () => {
  it('log lines go to stderr, PlatformIO lines to stdout; no colour without FORCE_COLOR', async () => {
    const r = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    for (const l of r.stderr.trim().split('\n')) expect(l).toMatch(/^(INFO|WARNING|ERROR) /);
    expect(r.stdout).toMatch(/^Processing kitchen-plug \(board: esp01_1m; framework: arduino; /m);
    expect(r.stdout).not.toMatch(/^INFO /m);
    expect(r.stdout + r.stderr).not.toContain('\x1b');
  });

  it('FORCE_COLOR emits real SGR codes around whole log lines', async () => {
    const r = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ FORCE_COLOR: '1' }) });
    expect(r.stderr).toContain('\x1b[32mINFO Successfully compiled program.\x1b[0m\n');
    expect(r.stdout).toMatch(/\x1b\[1;32mSUCCESS\x1b\[0m/);
  });

  it('--dashboard turns ESC into the literal text \\033 everywhere', async () => {
    const r = await runSim(['--dashboard', 'compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ FORCE_COLOR: '1' }) });
    expect(r.code).toBe(0);
    const all = r.stdout + r.stderr;
    expect(all).not.toContain('\x1b');
    expect(r.stderr).toContain('\\033[32mINFO Successfully compiled program.\\033[0m');
    expect(r.stdout).toContain('Processing \\033[1;36mkitchen-plug\\033[0m (board: esp01_1m;');
  });

  it('-q hides ESPHome log lines but keeps PlatformIO output', async () => {
    const r = await runSim(['-q', 'compile', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/\[SUCCESS\] Took [\d.]+ seconds/);
  });
});

describe('ESPHOME_SIM_LOG', () => {
  it('appends argv, cwd, the §6.2 env variables, stdin kind and process group per invocation', async () => {
    const log = ws.path('sim.jsonl');
    const env = simEnv({ ESPHOME_SIM_LOG: log, PYTHONUNBUFFERED: '1', FORCE_COLOR: '1', ESPHOME_DATA_DIR: ws.path('data') });
    await runSim(['--dashboard', 'version'], { cwd: ws.dir, env });
    await runSim(['--dashboard', 'compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env });
    const entries = readSimLog(log);
    expect(entries.map((e) => e.argv)).toEqual([
      ['--dashboard', 'version'],
      ['--dashboard', 'compile', 'kitchen-plug.yaml'],
    ]);
    for (const e of entries) {
      expect(e.role).toBe('main');
      expect(e.cwd).toBe(ws.dir);
      expect(e.stdin).toBe('devnull');
      expect(e.env.PYTHONUNBUFFERED).toBe('1');
      expect(e.env.FORCE_COLOR).toBe('1');
      expect(e.env.ESPHOME_IS_HA_ADDON).toBeNull();
      expect(e.env.ESPHOME_DATA_DIR).toBe(ws.path('data'));
    }
    expect(existsSync(ws.path('data', 'storage', 'kitchen-plug.yaml.json'))).toBe(true);
  });
});

// Failure summaries against real transcripts: the esphome simulator run as a subprocess for each
// failure scenario, and the real esphome CLI shapes recorded in esphome-cli.md §2.3 / §5.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FailureScanner, isServerLost, summarizeFailure } from '../failure-summary';

const REPO = resolve(import.meta.dirname, '../../../..');
const SIM = join(REPO, 'tools/esphome-sim/esphome');
const EXAMPLES = join(REPO, 'tools/esphome-sim/examples');
const dir = mkdtempSync(join(tmpdir(), 'kiln-failure-summary-'));
copyFileSync(join(EXAMPLES, 'secrets.yaml'), join(dir, 'secrets.yaml'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sim(scenario: string, args: (yaml: string) => string[], base = 'broken-lambda.yaml'): { lines: string[]; code: number | null; yaml: string } {
  const yaml = join(dir, `${scenario}.yaml`);
  writeFileSync(yaml, readFileSync(join(EXAMPLES, base), 'utf8').replace(/^# sim: .*$/m, '').replace(/^/, `# sim: ${scenario}\n`));
  const r = spawnSync(SIM, args(yaml), { cwd: dir, encoding: 'utf8', env: { ...process.env, ESPHOME_SIM_SPEED: '0.01', FORCE_COLOR: '1' } });
  return { lines: `${r.stdout}${r.stderr}`.split(/(?<=\n)/), code: r.status, yaml };
}

describe('failure summary — simulator transcripts (real subprocess)', () => {
  it('compile error: the gcc error line, with file and line', () => {
    const t = sim('compile-error', (y) => ['compile', y]);
    expect(t.code).toBe(1);
    const s = summarizeFailure(t.lines, { error: 'Process exited with code 1', job_type: 'compile' });
    expect(s).toMatchObject({ kind: 'compile', file: 'src/main.cpp', lineNo: 412, column: 7 });
    expect(s.line).toContain("error: 'foo' was not declared in this scope");
  });

  it('link error: the undefined reference, not the generic *** Error 1', () => {
    const t = sim('link-error', (y) => ['compile', y]);
    const s = summarizeFailure(t.lines, { error: 'Process exited with code 1', job_type: 'compile' });
    expect(s.kind).toBe('compile');
    expect(s.line).toMatch(/^undefined reference to `esphome::sim::missing_symbol\(\)'/);
  });

  it('config error: the Failed config message with the file and line esphome gives', () => {
    const t = sim('config-error', (y) => ['compile', y]);
    expect(t.code).toBe(2);
    const s = summarizeFailure(t.lines, { error: 'Process exited with code 2', job_type: 'install' });
    expect(s.kind).toBe('config');
    expect(s.line).toContain("esp32: Simulated validation error (scenario config-error): board 'esp32dev' was rejected.");
    expect(s.file).toBe(t.yaml);
    expect(s.lineNo).toBe(7); // the esp32: key, one line down for the marker this test added
  });

  it('invalid YAML: message with the problem line and column', () => {
    const t = sim('yaml-error', (y) => ['compile', y]);
    const s = summarizeFailure(t.lines, { error: 'Process exited with code 2', job_type: 'compile' });
    expect(s).toMatchObject({ kind: 'config', file: t.yaml, lineNo: 12, column: 3 });
    expect(s.line).toContain('Invalid YAML syntax');
    expect(s.line).toContain("expected <block end>, but found '<block mapping start>'");
  });

  it('OTA upload refused: the first ERROR line, kind upload', () => {
    sim('ota-fail', (y) => ['compile', y], 'kitchen-plug.yaml');
    const t = sim('ota-fail', (y) => ['upload', '--device', '10.0.0.5', y], 'kitchen-plug.yaml');
    expect(t.code).toBe(1);
    const s = summarizeFailure(t.lines, { error: 'Process exited with code 1', job_type: 'upload' });
    expect(s).toEqual({ kind: 'upload', line: 'Connecting to 10.0.0.5 port 8266 failed: [Errno 111] Connection refused' });
  });

  it('serial port missing: kind upload', () => {
    sim('serial-fail', (y) => ['compile', y], 'kitchen-plug.yaml');
    const t = sim('serial-fail', (y) => ['upload', '--device', '/dev/ttyUSB9', y], 'kitchen-plug.yaml');
    const s = summarizeFailure(t.lines, { error: 'Process exited with code 1', job_type: 'upload' });
    expect(s.kind).toBe('upload');
    expect(s.line).toMatch(/^The selected serial port does not exist\./);
  });
});

describe('failure summary — real esphome shapes (esphome-cli.md)', () => {
  it('Failed config with an invalid name (real esphome block, coloured)', () => {
    const log = [
      'INFO ESPHome 2026.4.2\n',
      'INFO Reading configuration /config/my-device.yaml...\n',
      'Failed config\n',
      '\n',
      'esphome: [source /config/my-device.yaml:2]\n',
      '  \x1b[1;31mInvalid name \'My Device!\': valid characters for name are a-z, 0-9 and -.\x1b[0m\n',
      '  name: My Device!\n',
      '\n',
    ];
    const s = summarizeFailure(log, { error: 'Process exited with code 2', job_type: 'compile' });
    expect(s).toEqual({ kind: 'config', line: "esphome: Invalid name 'My Device!': valid characters for name are a-z, 0-9 and -.", file: '/config/my-device.yaml', lineNo: 2 });
  });

  it('compile error split across chunks, in the middle of a PlatformIO build', () => {
    const sc = new FailureScanner();
    for (const c of ['Compiling .pioenvs/living-room/src/main.cpp.o\nsrc/main.cpp: In lambda function:\nsrc/main.cpp:41', "2:7: error: 'foo' was not declared in this scope\n", '*** [.pioenvs/living-room/src/main.cpp.o] Error 1\n', '========================== [FAILED] Took 41.87 seconds ==========================\n']) sc.feed(c);
    expect(sc.summary({ error: 'Process exited with code 1', job_type: 'compile' })).toEqual({
      kind: 'compile',
      line: "src/main.cpp:412:7: error: 'foo' was not declared in this scope",
      file: 'src/main.cpp',
      lineNo: 412,
      column: 7,
    });
  });

  it('gcc out of memory names the cause', () => {
    const s = summarizeFailure(['xtensa-esp32-elf-g++: fatal error: Killed signal terminated program cc1plus\n', '*** [x.o] Error 1\n'], { error: 'Process exited with code 1', job_type: 'compile' });
    expect(s.kind).toBe('compile');
  });

  it('OTA without ota: in the config (command-level ERROR)', () => {
    const s = summarizeFailure(['ERROR Cannot upload Over the Air as the ota configuration is not present or does not include platform: esphome or platform: web_server\n'], { error: 'Process exited with code 1', job_type: 'upload' });
    expect(s.kind).toBe('upload');
    expect(s.line).toMatch(/^Cannot upload Over the Air/);
  });

  it('build server lost beats whatever the log says; the remote runner prefix goes', () => {
    const s = summarizeFailure(['Compiling a.o\n'], { error: 'remote build: peer-link session lost (connection closed by the peer (code 1006))', job_type: 'compile' });
    expect(s).toEqual({ kind: 'server_lost', line: 'peer-link session lost (connection closed by the peer (code 1006))' });
    expect(isServerLost('remote build: server lost mid-build 2x (peer_hung_up)')).toBe(true);
    expect(isServerLost('Process exited with code 1')).toBe(false);
  });

  it('records the failover notices for the row history', () => {
    const sc = new FailureScanner();
    sc.feed('Compiling x\n\n*** Lost fast-box mid-build (connection closed by the peer (code 1006)) — rebuilding on another worker ***\n');
    expect(sc.moves).toEqual(['Lost fast-box mid-build (connection closed by the peer (code 1006)) — rebuilding on another worker']);
  });

  it('nothing decisive: empty line, kind by job type', () => {
    expect(summarizeFailure(['INFO hi\n'], { error: 'Process exited with code 1', job_type: 'compile' })).toEqual({ kind: 'other', line: '' });
  });
});

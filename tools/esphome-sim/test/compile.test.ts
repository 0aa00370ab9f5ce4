// `compile`: transcript, artifacts per platform, StorageJSON, failure shapes, scenarios,
// incremental builds, ninja counters (esphome-cli.md §2, §4, §7.2.3–5, §7.3).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSim, simEnv, workspace, type Workspace } from './helpers';

let ws: Workspace;
beforeEach(() => {
  ws = workspace();
});
afterEach(() => ws.cleanup());

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const compileLines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('Compiling '));
const storage = (name: string, dataDir = ws.path('.esphome')) => JSON.parse(readFileSync(join(dataDir, 'storage', `${name}.yaml.json`), 'utf8'));

function withMarker(example: string, name: string, scenario: string): string {
  writeFileSync(ws.path(name), `# sim: ${scenario}\n${ws.read(example)}`);
  return name;
}

/** Every `%` in a compile transcript must come from a download bar or the RAM/Flash lines (§7.3). */
function expectNoStrayPercent(stdout: string, stderr: string) {
  const lines = `${stdout}\n${stderr}`.split(/\r\n|\r|\n/);
  for (const l of lines.filter((x) => x.includes('%'))) {
    expect(l).toMatch(/^(Downloading|Unpacking)\s+\[#* *\]\s+\d+%$|^(RAM|Flash):\s+\[[= ]*\]\s+[\d.]+% \(used \d+ bytes from \d+ bytes\)$/);
  }
}

describe('successful compiles', () => {
  it('ESP32 Arduino: §2.2 transcript in order, artifacts and sidecars at the real paths', async () => {
    const r = await runSim(['compile', 'living-room.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const build = ws.path('.esphome', 'build', 'living-room');
    const env = join(build, '.pioenvs', 'living-room');
    const err = r.stderr.split('\n');
    expect(err.slice(0, 6)).toEqual([
      'INFO ESPHome 2025.12.2',
      expect.stringMatching(/^INFO Kiln's esphome simulator/),
      'INFO Reading configuration living-room.yaml...', // the path as given, like esphome
      'INFO Generating C++ source...',
      `INFO Compiling app... Build path: ${build}`,
      expect.stringMatching(/^INFO Build Info: config_hash=0x[0-9a-f]{8} build_time_str=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/),
    ]);
    expect(err[6]).toBe('INFO Successfully compiled program.');
    const out = r.stdout;
    expect(out).toMatch(/^Processing living-room \(board: esp32dev; framework: arduino, espidf; platform: \S+\)\n-{80}\nHARDWARE: ESP32 240MHz/);
    expect(out).toMatch(/^Library Manager: Installing esphome\/noise-c @ 0\.1\.10\nDownloading\s+\[#+\]\s+100%$/m);
    expect(compileLines(out).length).toBeGreaterThanOrEqual(300);
    expect(compileLines(out).length).toBeLessThanOrEqual(1000);
    expect(out).toContain('Compiling .pioenvs/living-room/src/main.cpp.o\n');
    expect(out).toMatch(/^Linking \.pioenvs\/living-room\/firmware\.elf\nRAM: {3}\[=* *\] +[\d.]+% \(used \d+ bytes from 327680 bytes\)\nFlash: \[=* *\] +[\d.]+% \(used \d+ bytes from 1835008 bytes\)\nBuilding \.pioenvs\/living-room\/firmware\.bin\nCreating esp32 image\.\.\.\nSuccessfully created esp32 image\.\nWrote 0x([0-9a-f]+) bytes to file /m);
    const lastOut = out.trimEnd().split('\n').at(-1)!;
    expect(lastOut).toMatch(/^=+ \[SUCCESS\] Took \d+\.\d\d seconds =+$/);
    expect(lastOut.length).toBeGreaterThanOrEqual(79);
    expectNoStrayPercent(out, r.stderr);

    const app = statSync(join(env, 'firmware.bin')).size;
    expect(app).toBeGreaterThan(800_000);
    expect(app).toBeLessThan(1_200_000);
    expect(sha(join(env, 'firmware.ota.bin'))).toBe(sha(join(env, 'firmware.bin')));
    const factory = readFileSync(join(env, 'firmware.factory.bin'));
    expect(factory.length).toBe(app + 0x10000);
    expect(factory.subarray(0x10000).equals(readFileSync(join(env, 'firmware.bin')))).toBe(true);
    expect(out).toContain(`Wrote 0x${factory.length.toString(16)} bytes to file ${join(env, 'firmware.factory.bin')}, ready to flash to offset 0x0`);
    for (const f of ['firmware.elf', 'bootloader.bin', 'partitions.bin', 'ota_data_initial.bin']) expect(existsSync(join(env, f))).toBe(true);
    expect(readFileSync(join(env, 'firmware.elf')).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(readFileSync(join(env, 'firmware.bin'))[0]).toBe(0xe9);
    expect(readdirSync(env).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(join(build, 'platformio.ini'))).toBe(true);
    expect(existsSync(join(build, 'src', 'main.cpp'))).toBe(true);

    const s = storage('living-room');
    expect(s).toMatchObject({
      storage_version: 1,
      name: 'living-room',
      friendly_name: 'Living Room',
      comment: 'Simulator demo - climate sensor by the sofa',
      esphome_version: '2025.12.2',
      src_version: 1,
      address: 'living-room.local',
      web_port: null,
      esp_platform: 'ESP32',
      build_path: build,
      firmware_bin_path: join(env, 'firmware.bin'),
      no_mdns: false,
      framework: 'arduino',
      core_platform: 'esp32',
    });
    expect(s.loaded_integrations).toEqual([...s.loaded_integrations].sort());
    expect(s.loaded_integrations).toEqual(expect.arrayContaining(['api', 'esp32', 'esphome', 'logger', 'ota', 'sensor', 'wifi', 'dht']));

    const ide = JSON.parse(readFileSync(ws.path('.esphome', 'idedata', 'living-room.json'), 'utf8'));
    expect(ide.prog_path).toBe(join(env, 'firmware.elf'));
    expect(ide.extra.flash_images).toEqual([
      { offset: '0x1000', path: join(env, 'bootloader.bin') },
      { offset: '0x8000', path: join(env, 'partitions.bin') },
      { offset: '0xe000', path: join(env, 'ota_data_initial.bin') },
    ]);
    expect(statSync(ws.path('.esphome', 'idedata', 'living-room.json')).mtimeMs).toBeGreaterThanOrEqual(statSync(join(build, 'platformio.ini')).mtimeMs);
    const info = JSON.parse(readFileSync(join(build, 'build_info.json'), 'utf8'));
    expect(r.stderr).toContain(`config_hash=0x${info.config_hash.toString(16).padStart(8, '0')}`);
    expect(info.esphome_version).toBe('2025.12.2');
  });

  it('ESP8266: firmware.bin (~450 KB) + elf, static IP address, no factory image', async () => {
    const r = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const env = ws.path('.esphome', 'build', 'kitchen-plug', '.pioenvs', 'kitchen-plug');
    expect(readdirSync(env).filter((f) => !f.startsWith('.')).sort()).toEqual(['firmware.bin', 'firmware.elf']);
    const size = statSync(join(env, 'firmware.bin')).size;
    expect(size).toBeGreaterThan(350_000);
    expect(size).toBeLessThan(550_000);
    expect(compileLines(r.stdout).length).toBeGreaterThanOrEqual(150);
    expect(compileLines(r.stdout).length).toBeLessThanOrEqual(400);
    const s = storage('kitchen-plug');
    expect(s).toMatchObject({ esp_platform: 'ESP8266', core_platform: 'esp8266', address: '192.168.1.61', firmware_bin_path: join(env, 'firmware.bin') });
    expect(JSON.parse(readFileSync(ws.path('.esphome', 'idedata', 'kitchen-plug.json'), 'utf8')).extra.flash_images).toEqual([]);
  });

  it('# sim-firmware-bytes: N makes the image N bytes (ELF grows with it), capped at 16 MiB; without it the realistic size', async () => {
    writeFileSync(ws.path('big.yaml'), `# sim-firmware-bytes: 6000008\n${ws.read('kitchen-plug.yaml')}`);
    const r = await runSim(['compile', 'big.yaml'], { cwd: ws.dir });
    expect(r.code, r.stderr).toBe(0);
    const env = ws.path('.esphome', 'build', 'kitchen-plug', '.pioenvs', 'kitchen-plug');
    expect(statSync(join(env, 'firmware.bin')).size).toBe(6_000_000);
    expect(statSync(join(env, 'firmware.elf')).size).toBeGreaterThan(12_000_000);
    expect(r.stdout).not.toMatch(/Flash: .*\b1\d\d\.\d+%/);
    writeFileSync(ws.path('huge.yaml'), `# sim-firmware-bytes: 999999999\n${ws.read('pico-sensor.yaml')}`);
    const huge = await runSim(['compile', 'huge.yaml'], { cwd: ws.dir });
    expect(huge.code, huge.stderr).toBe(0);
    expect(statSync(storage('huge').firmware_bin_path).size).toBe(16 * 1024 * 1024);
    const plain = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(plain.code).toBe(0);
    expect(statSync(join(env, 'firmware.bin')).size).toBeLessThan(550_000);
  });

  it('RP2040: firmware.bin, firmware.uf2 (valid UF2 blocks), firmware.ota.bin, elf', async () => {
    const r = await runSim(['compile', 'pico-sensor.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const env = ws.path('.esphome', 'build', 'pico-sensor', '.pioenvs', 'pico-sensor');
    expect(readdirSync(env).sort()).toEqual(['firmware.bin', 'firmware.elf', 'firmware.ota.bin', 'firmware.uf2']);
    const uf2 = readFileSync(join(env, 'firmware.uf2'));
    expect(uf2.length % 512).toBe(0);
    expect(uf2.readUInt32LE(0)).toBe(0x0a324655);
    expect(uf2.readUInt32LE(508)).toBe(0x0ab16f30);
    expect(uf2.readUInt32LE(28)).toBe(0xe48bff56);
    expect(sha(join(env, 'firmware.ota.bin'))).toBe(sha(join(env, 'firmware.bin')));
    expect(storage('pico-sensor')).toMatchObject({ esp_platform: 'RP2040', core_platform: 'rp2040', firmware_bin_path: join(env, 'firmware.bin') });
  });

  it('LibreTiny (bk72xx): UF2 is the OTA image; firmware.json lists chip images that exist', async () => {
    const r = await runSim(['compile', 'tuya-bulb.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const env = ws.path('.esphome', 'build', 'tuya-bulb', '.pioenvs', 'tuya-bulb');
    for (const f of ['firmware.uf2', 'firmware.bin', 'firmware.elf', 'firmware.json']) expect(existsSync(join(env, f))).toBe(true);
    const outputs = JSON.parse(readFileSync(join(env, 'firmware.json'), 'utf8')) as { title: string; description: string; filename: string; public: boolean }[];
    expect(outputs.some((o) => o.public)).toBe(true);
    for (const o of outputs) {
      expect(typeof o.title).toBe('string');
      expect(typeof o.description).toBe('string');
      expect(existsSync(join(env, o.filename))).toBe(true);
    }
    expect(storage('tuya-bulb')).toMatchObject({ esp_platform: 'BK72XX', core_platform: 'bk72xx', firmware_bin_path: join(env, 'firmware.uf2') });
  });

  it('.gitignore in the config dir unless ESPHOME_NOGITIGNORE; ESPHOME_DATA_DIR and ESPHOME_BUILD_PATH move the tree', async () => {
    const a = workspace();
    const b = workspace();
    try {
      // the examples ship a .gitignore (for in-tree demo runs); start without one
      for (const w of [a, b]) rmSync(w.path('.gitignore'));
      expect((await runSim(['compile', 'kitchen-plug.yaml'], { cwd: a.dir })).code).toBe(0);
      expect(a.read('.gitignore')).toContain('/.esphome/\n/secrets.yaml\n');
      const data = b.path('elsewhere');
      const r = await runSim(['compile', 'kitchen-plug.yaml'], {
        cwd: b.dir,
        env: simEnv({ ESPHOME_NOGITIGNORE: '1', ESPHOME_DATA_DIR: data, ESPHOME_BUILD_PATH: 'builds' }),
      });
      expect(r.code).toBe(0);
      expect(existsSync(b.path('.gitignore'))).toBe(false);
      expect(existsSync(b.path('.esphome'))).toBe(false);
      const s = storage('kitchen-plug', data);
      expect(s.build_path).toBe(join(data, 'builds', 'kitchen-plug'));
      expect(existsSync(join(data, 'builds', 'kitchen-plug', '.pioenvs', 'kitchen-plug', 'firmware.bin'))).toBe(true);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('a repeated compile of an unchanged YAML is incremental: fewer Compiling lines, no downloads', async () => {
    const first = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir });
    const second = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(second.code).toBe(0);
    const n1 = compileLines(first.stdout).length;
    const n2 = compileLines(second.stdout).length;
    expect(n2).toBeGreaterThanOrEqual(1);
    expect(n2).toBeLessThanOrEqual(20);
    expect(n2).toBeLessThan(n1);
    expect(second.stdout).toContain('Compiling .pioenvs/kitchen-plug/src/main.cpp.o');
    expect(second.stdout).not.toMatch(/^Downloading/m);
    expect(second.stderr).toContain('INFO Successfully compiled program.');
  });

  it('ESPHOME_SIM_SEED makes firmware bytes deterministic; another seed changes them', async () => {
    const env = ws.path('.esphome', 'build', 'kitchen-plug', '.pioenvs', 'kitchen-plug', 'firmware.bin');
    await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SEED: '42' }) });
    const h1 = sha(env);
    await runSim(['clean', 'kitchen-plug.yaml'], { cwd: ws.dir });
    await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SEED: '42' }) });
    expect(sha(env)).toBe(h1);
    await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SEED: '43' }) });
    expect(sha(env)).not.toBe(h1);
  });

  it('--only-generate writes codegen files and StorageJSON, no firmware', async () => {
    const r = await runSim(['compile', '--only-generate', 'kitchen-plug.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('INFO Successfully generated source code.');
    expect(r.stdout).toBe('');
    expect(existsSync(ws.path('.esphome', 'storage', 'kitchen-plug.yaml.json'))).toBe(true);
    expect(existsSync(ws.path('.esphome', 'build', 'kitchen-plug', 'platformio.ini'))).toBe(true);
    expect(existsSync(ws.path('.esphome', 'build', 'kitchen-plug', '.pioenvs'))).toBe(false);
  });

  it('a compile with ESPHOME_SIM_SPEED=0 finishes well under a second of simulated time', async () => {
    const t0 = Date.now();
    const r = await runSim(['compile', 'living-room.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const took = Number(/Took ([\d.]+) seconds/.exec(r.stdout)![1]);
    expect(took).toBeLessThan(1);
    expect(Date.now() - t0).toBeLessThan(8000); // wall clock incl. Node start on a loaded machine
  });
});

describe('ESP-IDF ninja counters', () => {
  it('prints [i/M] lines terminated by \\r, a ~123-step bootloader counter inside the main one, totals 1200–1500', async () => {
    const r = await runSim(['compile', 'garage-idf.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    const chunks = r.stdout.split(/(?<=\r\n|\r(?!\n)|\n)/);
    const ninja = chunks.filter((c) => /^\[\d+\/\d+\] /.test(c));
    expect(ninja.length).toBeGreaterThan(1300);
    const totals = [...new Set(ninja.map((c) => Number(/^\[\d+\/(\d+)\]/.exec(c)![1])))];
    expect(totals.length).toBe(2);
    const [boot, main] = [Math.min(...totals), Math.max(...totals)];
    expect(boot).toBeGreaterThanOrEqual(121);
    expect(boot).toBeLessThanOrEqual(125);
    expect(main).toBeGreaterThanOrEqual(1200);
    expect(main).toBeLessThanOrEqual(1500);
    // all but the last step of each counter end with a bare CR; the last with CR LF
    for (const c of ninja) expect(c.endsWith('\r') || c.endsWith('\r\n')).toBe(true);
    expect(ninja.filter((c) => c.endsWith('\r\n')).map((c) => /^\[(\d+)\/(\d+)\]/.exec(c)!.slice(1, 3))).toEqual([
      [String(boot), String(boot)],
      [String(main), String(main)],
    ]);
    // the bootloader sub-build runs inside the main counter, after its first steps
    const firstBoot = ninja.findIndex((c) => c.startsWith(`[1/${boot}]`));
    expect(firstBoot).toBeGreaterThan(0);
    expect(ninja[firstBoot - 1]).toMatch(new RegExp(`^\\[\\d+/${main}\\] Performing build step for 'bootloader'`));
    const mainSteps = ninja.filter((c) => c.includes(`/${main}]`)).map((c) => Number(/^\[(\d+)/.exec(c)![1]));
    expect(mainSteps).toEqual(Array.from({ length: main }, (_, i) => i + 1));
    expect(r.stdout).toContain('Reading CMake configuration...');
    expect(r.stdout).toMatch(/\[SUCCESS\] Took/);
    expectNoStrayPercent(r.stdout, r.stderr);
    expect(storage('garage-idf')).toMatchObject({ esp_platform: 'ESP32S3', framework: 'esp-idf' });
    const ide = JSON.parse(readFileSync(ws.path('.esphome', 'idedata', 'garage-idf.json'), 'utf8'));
    expect(ide.extra.flash_images[0].offset).toBe('0x0'); // S3 bootloader at 0x0
  });

  it('--native-idf: no PlatformIO framing, images under build/, failure ends with ninja: build stopped', async () => {
    const ok = await runSim(['compile', '--native-idf', 'garage-idf.yaml'], { cwd: ws.dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toMatch(/^Processing /m);
    expect(ok.stdout).not.toContain('[SUCCESS]');
    const build = ws.path('.esphome', 'build', 'garage-idf', 'build');
    for (const f of ['garage-idf.bin', 'firmware.factory.bin', 'firmware.elf']) expect(existsSync(join(build, f))).toBe(true);
    expect(storage('garage-idf').firmware_bin_path).toBe(join(build, 'garage-idf.bin'));
    const bad = await runSim(['compile', '--native-idf', withMarker('garage-idf.yaml', 'bad-idf.yaml', 'compile-error')], { cwd: ws.dir });
    expect(bad.code).toBe(1);
    expect(bad.stdout.trimEnd().split('\n').at(-1)).toBe('ninja: build stopped: subcommand failed.');
    expect(bad.stderr).not.toContain('Successfully compiled');
  });
});

describe('failures', () => {
  it('compile-error (marker): gcc diagnostics, *** Error 1, [FAILED] last, exit 1, StorageJSON still written', async () => {
    const r = await runSim(['compile', 'broken-lambda.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    const out = r.stdout.trimEnd().split('\n');
    expect(out.at(-1)).toMatch(/^=+ \[FAILED\] Took \d+\.\d\d seconds =+$/);
    expect(out.at(-2)).toBe('*** [.pioenvs/broken-lambda/src/main.cpp.o] Error 1');
    expect(r.stdout).toMatch(/^src\/main\.cpp:\d+:\d+: error: /m);
    expect(r.stderr).not.toContain('Successfully compiled');
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`INFO Compiling app... Build path: ${ws.path('.esphome', 'build', 'broken-lambda')}`);
    expect(storage('broken-lambda').firmware_bin_path).toBe(ws.path('.esphome', 'build', 'broken-lambda', '.pioenvs', 'broken-lambda', 'firmware.bin'));
    expect(existsSync(ws.path('.esphome', 'build', 'broken-lambda', '.pioenvs', 'broken-lambda', 'firmware.bin'))).toBe(false);
    expect(existsSync(ws.path('.esphome', 'idedata', 'broken-lambda.json'))).toBe(false);
  });

  it('link-error: fails at firmware.elf', async () => {
    const r = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SCENARIO: 'link-error' }) });
    expect(r.code).toBe(1);
    const out = r.stdout.trimEnd().split('\n');
    expect(out.at(-2)).toBe('*** [.pioenvs/kitchen-plug/firmware.elf] Error 1');
    expect(out.at(-1)).toMatch(/\[FAILED\]/);
    expect(r.stdout).toContain('collect2: error: ld returned 1 exit status');
    expect(existsSync(ws.path('.esphome', 'build', 'kitchen-plug', '.pioenvs', 'kitchen-plug', 'firmware.elf'))).toBe(false);
  });

  it('config-error: Failed config block on stdout, exit 2, no build files', async () => {
    const r = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SCENARIO: 'config-error' }) });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^Failed config\n\nesp8266: \[source .*kitchen-plug\.yaml:\d+\]\n/);
    expect(r.stderr).not.toContain('Generating C++ source');
    expect(existsSync(ws.path('.esphome'))).toBe(false);
  });

  it('yaml-error: the invalid-YAML ERROR line, exit 2', async () => {
    const r = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SCENARIO: 'yaml-error' }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ERROR Error while reading config: Invalid YAML syntax:$/m);
    expect(existsSync(ws.path('.esphome'))).toBe(false);
  });

  it('real problems are reported like esphome: missing file, YAML syntax, missing platform, missing secret', async () => {
    const missing = await runSim(['compile', 'nope.yaml'], { cwd: ws.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`ERROR Error while reading config: Invalid YAML syntax:\n\nError reading file ${ws.path('nope.yaml')}: [Errno 2] No such file or directory`);
    writeFileSync(ws.path('syntax.yaml'), 'esphome:\n  name: x\n bad: [\n');
    const syntax = await runSim(['compile', 'syntax.yaml'], { cwd: ws.dir });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain(`in "${ws.path('syntax.yaml')}", line`);
    writeFileSync(ws.path('noplat.yaml'), 'esphome:\n  name: noplat\n');
    const noplat = await runSim(['compile', 'noplat.yaml'], { cwd: ws.dir });
    expect(noplat.code).toBe(2);
    expect(noplat.stdout).toMatch(/^Failed config$/m);
    expect(noplat.stdout).toContain('Platform missing.');
    writeFileSync(ws.path('nosecret.yaml'), 'esphome:\n  name: nosecret\nesp8266:\n  board: d1_mini\nwifi:\n  password: !secret does_not_exist\n');
    const nosecret = await runSim(['compile', 'nosecret.yaml'], { cwd: ws.dir });
    expect(nosecret.code).toBe(2);
    expect(nosecret.stderr).toContain("Secret 'does_not_exist' not defined");
  });

  it('the YAML marker wins over ESPHOME_SIM_SCENARIO (and env applies without a marker)', async () => {
    const env = simEnv({ ESPHOME_SIM_SCENARIO: 'compile-error' });
    const marked = await runSim(['compile', withMarker('kitchen-plug.yaml', 'marked.yaml', 'success')], { cwd: ws.dir, env });
    expect(marked.code).toBe(0);
    const unmarked = await runSim(['compile', 'kitchen-plug.yaml'], { cwd: ws.dir, env });
    expect(unmarked.code).toBe(1);
    const marked2 = await runSim(['compile', 'broken-lambda.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SCENARIO: 'success' }) });
    expect(marked2.code).toBe(1);
  });

  it('substitutions: -s overrides substitutions: for the device name and paths', async () => {
    const r = await runSim(['-s', 'device', 'den', 'compile', 'living-room.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(existsSync(ws.path('.esphome', 'build', 'den', '.pioenvs', 'den', 'firmware.bin'))).toBe(true);
    expect(storage('living-room').name).toBe('den');
  });
});

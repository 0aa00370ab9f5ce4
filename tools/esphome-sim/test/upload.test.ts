// upload / run / logs (esphome-cli.md §1.5, §5, §7.2.7–9).
import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killGroup, runSim, simEnv, startSim, workspace, type Running, type Workspace } from './helpers';
import { waitUntil } from '../../../test/support/wait-until';

// One compiled workspace shared by the read-only upload cases.
let ws: Workspace;
const started: Running[] = [];

beforeAll(async () => {
  ws = workspace();
  for (const y of ['living-room.yaml', 'kitchen-plug.yaml']) {
    const r = await runSim(['compile', y], { cwd: ws.dir });
    expect(r.code).toBe(0);
  }
}, 60_000);
afterAll(() => ws.cleanup());
afterEach(async () => {
  for (const r of started.splice(0)) {
    killGroup(r.child.pid, 'SIGKILL');
    await Promise.race([r.exited, new Promise((res) => setTimeout(res, 2000))]);
  }
});

const fw = (name: string) => ws.path('.esphome', 'build', name, '.pioenvs', name, 'firmware.bin');

describe('OTA upload', () => {
  it('§5.1 transcript: \\r bar on stderr once per percent 0→100, Done, then success', async () => {
    const r = await runSim(['--dashboard', 'upload', 'living-room.yaml', '--device', 'OTA'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const err = r.stderr;
    expect(err).toContain('INFO Connecting to ');
    expect(err).toMatch(/INFO Connecting to (\d+\.\d+\.\d+\.\d+) port 3232\.\.\.\nINFO Connected to \1\n/);
    expect(err).toContain(`INFO Uploading ${fw('living-room')} (`);
    const bars = err.split('\r').filter((c) => c.startsWith('Uploading: ['));
    expect(bars).toHaveLength(101);
    const pct = bars.map((b) => Number(/\] (\d+)% /.exec(b)![1]));
    expect(pct).toEqual(Array.from({ length: 101 }, (_, i) => i));
    for (const b of bars) expect(b).toMatch(/^Uploading: \[[= ]{60}\] \d+% /);
    expect(err).toContain(`\rUploading: [${'='.repeat(60)}] 100% Done...\r\n\n`);
    expect(err).toMatch(/INFO Upload took [\d.]+ seconds, waiting for result\.\.\.\nINFO OTA successful\nINFO Successfully uploaded program\.\n$/);
  });

  it('an IP device and the ESP8266 port; --mdns-address-cache resolves hostnames', async () => {
    const ip = await runSim(['upload', 'kitchen-plug.yaml', '--device', '10.0.0.7'], { cwd: ws.dir });
    expect(ip.code).toBe(0);
    expect(ip.stderr).toContain('INFO Connecting to 10.0.0.7 port 8266...');
    expect(ip.stderr).toMatch(/INFO Compressed to \d+ bytes/);
    const cached = await runSim(['--mdns-address-cache', 'living-room.local=10.1.2.3', 'upload', 'living-room.yaml', '--device', 'OTA'], { cwd: ws.dir });
    expect(cached.stderr).toContain('INFO Connecting to 10.1.2.3 port 3232...');
  });

  it('upload without a prior build → ERROR, exit 1; --file works without one', async () => {
    const r = await runSim(['upload', 'pico-sensor.yaml', '--device', '10.0.0.9'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR Firmware file .*pico-sensor.*firmware\.bin not found/m);
    writeFileSync(ws.path('custom.bin'), Buffer.alloc(4096, 1));
    const f = await runSim(['upload', 'pico-sensor.yaml', '--device', '10.0.0.9', '--file', 'custom.bin'], { cwd: ws.dir });
    expect(f.code).toBe(0);
    expect(f.stderr).toContain(`INFO Uploading ${ws.path('custom.bin')} (4096 bytes)`);
  });

  it('no --device → exit 1 without reading stdin', async () => {
    const r = await runSim(['upload', 'living-room.yaml'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR No --device given/m);
  });

  it('no ota: section: network target → OTA-not-configured ERROR; OTA target → unresolvable', async () => {
    writeFileSync(ws.path('no-ota.yaml'), ws.read('kitchen-plug.yaml').replace('name: kitchen-plug', 'name: no-ota').replace(/^ota:\n {2}- platform: esphome\n/m, ''));
    expect((await runSim(['compile', 'no-ota.yaml'], { cwd: ws.dir })).code).toBe(0);
    const ip = await runSim(['upload', 'no-ota.yaml', '--device', '10.0.0.8'], { cwd: ws.dir });
    expect(ip.code).toBe(1);
    expect(ip.stderr).toContain('ERROR Cannot upload Over the Air as the ota configuration is not present or does not include platform: esphome or platform: web_server');
    const ota = await runSim(['upload', 'no-ota.yaml', '--device', 'OTA'], { cwd: ws.dir });
    expect(ota.code).toBe(1);
    expect(ota.stderr).toContain("ERROR All specified devices: ['OTA'] could not be resolved.");
  });

  it('ota-fail: connection refused, exit 1', async () => {
    const r = await runSim(['upload', 'living-room.yaml', '--device', '10.0.0.5'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_SCENARIO: 'ota-fail' }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERROR Connecting to 10.0.0.5 port 3232 failed: [Errno 111] Connection refused');
    expect(r.stderr).not.toContain('Uploading: [');
    expect(r.stderr).not.toContain('Successfully uploaded');
  });
});

describe('serial upload', () => {
  it('ESP32: esptool v5 lines, one 0→100 bar per image (app at 0x10000 + 3 extra images)', async () => {
    const r = await runSim(['upload', 'living-room.yaml', '--device', '/dev/ttyUSB0'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^esptool v5\.\d+\.\d+\n/m);
    expect(r.stdout).toContain('Connected to ESP32 on /dev/ttyUSB0:');
    expect(r.stdout).toContain('Changing baud rate to 460800...');
    const writes = r.stdout.split('\n').filter((l) => l.startsWith('Writing at 0x'));
    for (const w of writes) expect(w).toMatch(/^Writing at 0x[0-9a-f]{8} \[[=> ]{30}\] +\d+\.\d% \d+\/\d+ bytes\.\.\.$/);
    expect(writes.filter((w) => / 0\.0% /.test(w))).toHaveLength(4);
    expect(writes.filter((w) => /100\.0% /.test(w))).toHaveLength(4);
    const wrote = r.stdout.split('\n').filter((l) => l.startsWith('Wrote '));
    expect(wrote.map((l) => /at (0x[0-9a-f]+)/.exec(l)![1])).toEqual(['0x00010000', '0x00001000', '0x00008000', '0x0000e000']);
    expect(r.stdout.split('\n').filter((l) => l === 'Hash of data verified.')).toHaveLength(4);
    expect(r.stdout).toContain('Hard resetting via RTS pin...');
    expect(r.stderr).toMatch(/INFO Successfully uploaded program\.\n$/);
  });

  it('--upload_speed and ESP8266 single image at 0x0', async () => {
    const r = await runSim(['upload', 'kitchen-plug.yaml', '--device', '/dev/ttyUSB1', '--upload_speed', '921600'], { cwd: ws.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Changing baud rate to 921600...');
    expect(r.stdout.split('\n').filter((l) => l.startsWith('Wrote '))).toHaveLength(1);
    expect(r.stdout).toMatch(/^Wrote \d+ bytes \(\d+ compressed\) at 0x00000000 in/m);
  });

  it('serial-fail: missing port → pre-flight ERROR exit 1; existing port → esptool fatal after the 115200 retry, exit 2', async () => {
    const env = simEnv({ ESPHOME_SIM_SCENARIO: 'serial-fail' });
    const missing = await runSim(['upload', 'living-room.yaml', '--device', '/dev/ttyDOESNOTEXIST'], { cwd: ws.dir, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ERROR The selected serial port does not exist.');
    const fatal = await runSim(['upload', 'living-room.yaml', '--device', '/dev/null'], { cwd: ws.dir, env });
    expect(fatal.code).toBe(2);
    expect(fatal.stderr).toContain('INFO Upload with baud rate 460800 failed. Trying again with baud rate 115200.');
    expect(fatal.stdout.split('\n').filter((l) => l.startsWith('A fatal error occurred:'))).toHaveLength(2);
  });
});

describe('run and logs', () => {
  it('run --no-logs: compile then upload, exit 0', async () => {
    const w = workspace();
    try {
      const r = await runSim(['run', 'kitchen-plug.yaml', '--no-logs', '--device', 'OTA'], { cwd: w.dir });
      expect(r.code).toBe(0);
      const err = r.stderr;
      expect(err.indexOf('INFO Successfully compiled program.')).toBeGreaterThan(0);
      expect(err.indexOf('INFO Connecting to 192.168.1.61 port 8266...')).toBeGreaterThan(err.indexOf('INFO Successfully compiled program.'));
      expect(err).toMatch(/INFO Successfully uploaded program\.\n$/);
      expect(existsSync(w.path('.esphome', 'build', 'kitchen-plug', '.pioenvs', 'kitchen-plug', 'firmware.bin'))).toBe(true);
    } finally {
      w.cleanup();
    }
  });

  it('run without --no-logs tails timestamped log lines until killed', async () => {
    const r = startSim(['run', 'kitchen-plug.yaml', '--device', '192.168.1.61'], { cwd: ws.dir, detached: true });
    started.push(r);
    await waitUntil(() => (r.stdout().match(/^\[\d\d:\d\d:\d\d\]\[D\]\[sensor:093\]: /gm) ?? []).length >= 3, { timeoutMs: 15_000, what: 'log lines' });
    expect(r.stderr()).toContain('INFO Starting log output from 192.168.1.61 using esphome API');
    r.child.kill('SIGTERM');
    expect((await r.exit).signal).toBe('SIGTERM');
  });

  it('logs over serial names the baud rate; logs without api to a host fails', async () => {
    const r = startSim(['logs', 'kitchen-plug.yaml', '--device', '/dev/ttyUSB0'], { cwd: ws.dir, detached: true });
    started.push(r);
    await waitUntil(() => r.stderr().includes('INFO Starting log output from /dev/ttyUSB0 with baud rate 115200'), { timeoutMs: 10_000, what: 'serial log start' });
    writeFileSync(ws.path('no-api.yaml'), ws.read('kitchen-plug.yaml').replace('name: kitchen-plug', 'name: no-api').replace(/^api:\n/m, ''));
    const noApi = await runSim(['logs', 'no-api.yaml', '--device', '10.0.0.3'], { cwd: ws.dir });
    expect(noApi.code).toBe(1);
    expect(noApi.stderr).toContain('ERROR No remote or local logging method configured (api/mqtt/logger)');
  });
});

// Chip verify helpers (firmware-jobs.md §9.5) and the StorageJSON location (esphome-cli.md §4.1):
// parsing esptool output, which ports apply, and verifyChip against a real fake-esptool process.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chipMismatchMessage, chipVerifyApplies, normalizeChip, parseDetectedChip, verifyChip } from '../chip-verify';
import { envTruthy, esphomeDataDir, readEspPlatform, storageJsonPath } from '../storage-json';

const FAKE_ESPTOOL = resolve(__dirname, '../../jobs/test/fixtures/fake-esptool.mjs');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-chip-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({ ...(process.env as Record<string, string>), ...extra });

describe('parseDetectedChip / normalizeChip / chipVerifyApplies', () => {
  it('takes the text after the last "..." of the Detecting chip type line, lowercased without "-"', () => {
    expect(parseDetectedChip('esptool v5.1.0\nConnecting....\nDetecting chip type... ESP32-C3\nChip is ESP32-C3\n')).toBe('esp32c3');
    expect(parseDetectedChip('Detecting chip type... ESP8266\r\n')).toBe('esp8266');
    expect(parseDetectedChip('Detecting chip type... ESP32-S3')).toBe('esp32s3'); // no terminator
    // esptool v4 retries with another protocol: the first line has nothing after its last "...".
    expect(parseDetectedChip('Detecting chip type... Unsupported detection protocol, switching and trying again...\nDetecting chip type... ESP32\n')).toBe('esp32');
    expect(parseDetectedChip('A fatal error occurred: Failed to connect\n')).toBeNull();
    expect(parseDetectedChip('')).toBeNull();
  });

  it('normalises both sides the same way', () => {
    expect(normalizeChip('ESP32-C3')).toBe('esp32c3');
    expect(normalizeChip('ESP32_S3')).toBe('esp32s3');
    expect(normalizeChip('ESP32S3')).toBe(normalizeChip('esp32-s3'));
    expect(normalizeChip('ESP32')).not.toBe(normalizeChip('ESP32S3'));
  });

  it('applies to /dev… ports only', () => {
    expect(chipVerifyApplies('/dev/ttyUSB0')).toBe(true);
    expect(chipVerifyApplies('/dev/cu.usbserial-1410')).toBe(true);
    for (const p of ['', 'OTA', 'ota', '192.168.1.50', 'kitchen.local', 'COM3', '/tmp/not-a-device']) expect(chipVerifyApplies(p)).toBe(false);
  });

  it('mismatch message (spec wording)', () => {
    expect(chipMismatchMessage('ESP32S3', '/dev/ttyUSB0', 'esp32c3')).toBe(
      'Chip mismatch: config expects esp32s3 but /dev/ttyUSB0 has esp32c3. Wrong board selected?',
    );
  });
});

describe('verifyChip (real esptool double)', () => {
  const base = { esptool: [FAKE_ESPTOOL], port: '/dev/ttyACM0', terminateGraceMs: 300, drainMs: 200 };

  it('match, mismatch, undetected', async () => {
    expect(await verifyChip({ ...base, expectedPlatform: 'ESP32C3', env: env({ FAKE_ESPTOOL_CHIP: 'ESP32-C3' }) })).toEqual({ kind: 'match', detected: 'esp32c3' });
    expect(await verifyChip({ ...base, expectedPlatform: 'ESP32C3', env: env({ FAKE_ESPTOOL_CHIP: 'ESP32-S2' }) })).toEqual({
      kind: 'mismatch',
      detected: 'esp32s2',
      message: 'Chip mismatch: config expects esp32c3 but /dev/ttyACM0 has esp32s2. Wrong board selected?',
    });
    expect(await verifyChip({ ...base, expectedPlatform: 'ESP32C3', env: env({ FAKE_ESPTOOL_CHIP: 'none' }) })).toEqual({
      kind: 'undetected',
      reason: 'esptool chip-id reported no chip type (exit code 2)',
    });
  });

  it('passes --port P chip-id after the configured prefix', async () => {
    const log = join(dir, 'argv.jsonl');
    await verifyChip({ ...base, esptool: [process.execPath, FAKE_ESPTOOL], expectedPlatform: 'ESP32', env: env({ FAKE_ESPTOOL_CHIP: 'ESP32', FAKE_ESPTOOL_LOG: log }) });
    expect(JSON.parse(readFileSync(log, 'utf8')).argv).toEqual(['--port', '/dev/ttyACM0', 'chip-id']);
  });

  it('missing esptool → unavailable (no throw)', async () => {
    const res = await verifyChip({ ...base, esptool: [join(dir, 'nope')], expectedPlatform: 'ESP32', env: env({}) });
    expect(res).toEqual({ kind: 'unavailable', reason: `esptool not found: '${join(dir, 'nope')}'` });
  });

  it('abort while esptool hangs → interrupted, promptly; timeout → undetected', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = verifyChip({ ...base, expectedPlatform: 'ESP32', env: env({ FAKE_ESPTOOL_HANG: '1' }), signal: ac.signal });
    setTimeout(() => ac.abort(), 150);
    expect(await p).toEqual({ kind: 'interrupted' });
    expect(Date.now() - t0).toBeLessThan(2000);
    const timed = await verifyChip({ ...base, expectedPlatform: 'ESP32', env: env({ FAKE_ESPTOOL_HANG: '1' }), timeoutMs: 200 });
    expect(timed).toEqual({ kind: 'undetected', reason: 'esptool chip-id timed out after 200 ms' });
  });

  it('an already-aborted signal never spawns esptool', async () => {
    const log = join(dir, 'argv.jsonl');
    const ac = new AbortController();
    ac.abort();
    expect(await verifyChip({ ...base, expectedPlatform: 'ESP32', env: env({ FAKE_ESPTOOL_LOG: log }), signal: ac.signal })).toEqual({ kind: 'interrupted' });
    expect(existsSync(log)).toBe(false);
  });
});

describe('StorageJSON location and esp_platform', () => {
  it('data dir: add-on mode > ESPHOME_DATA_DIR > <yaml dir>/.esphome; sidecar named after the YAML file', () => {
    const yaml = join(dir, 'sub', 'kitchen.yaml');
    expect(esphomeDataDir(yaml, {})).toBe(join(dir, 'sub', '.esphome'));
    expect(esphomeDataDir(yaml, { ESPHOME_DATA_DIR: join(dir, 'd') })).toBe(join(dir, 'd'));
    expect(esphomeDataDir(yaml, { ESPHOME_DATA_DIR: join(dir, 'd'), ESPHOME_IS_HA_ADDON: 'true' })).toBe('/data');
    expect(esphomeDataDir(yaml, { ESPHOME_IS_HA_ADDON: 'false' })).toBe(join(dir, 'sub', '.esphome'));
    expect(storageJsonPath(yaml, {})).toBe(join(dir, 'sub', '.esphome', 'storage', 'kitchen.yaml.json'));
    expect([envTruthy('1'), envTruthy('yes'), envTruthy('0'), envTruthy(''), envTruthy('off'), envTruthy(undefined)]).toEqual([true, true, false, false, false, false]);
  });

  it('reads esp_platform; missing file, bad JSON or no platform → null', async () => {
    const f = join(dir, 'storage', 'a.yaml.json');
    mkdirSync(join(dir, 'storage'), { recursive: true });
    expect(await readEspPlatform(f)).toBeNull();
    writeFileSync(f, JSON.stringify({ storage_version: 1, esp_platform: 'ESP32S3' }));
    expect(await readEspPlatform(f)).toBe('ESP32S3');
    writeFileSync(f, '{not json');
    expect(await readEspPlatform(f)).toBeNull();
    writeFileSync(f, JSON.stringify({ esp_platform: '' }));
    expect(await readEspPlatform(f)).toBeNull();
    writeFileSync(f, JSON.stringify({ esp_platform: 42 }));
    expect(await readEspPlatform(f)).toBeNull();
  });
});

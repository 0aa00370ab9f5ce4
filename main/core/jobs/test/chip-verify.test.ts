// Chip verify before serial flashes (firmware-jobs.md §9.5) in the engine: the esphome simulator
// compiles (so StorageJSON records the real esp_platform), then the upload half of the install
// runs the fake esptool (`--port P chip-id`) as the job's tracked process before flashing.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import type { JobEngine } from '../engine';
import type { CancelledBy, FirmwareJob } from '../model';
import { processDead, SIM_ESPHOME, type Harness } from './helpers';
import { newSimHarness, useSimEnv } from './sim-fixture';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const FAKE_ESPTOOL = resolve(__dirname, 'fixtures/fake-esptool.mjs');
const PORT = '/dev/ttyUSB0';
let h: Harness;
let simLog: string;
let esptoolLog: string;

useSimEnv();
beforeEach(() => {
  ({ h, simLog } = newSimHarness());
  esptoolLog = join(h.root, 'esptool.jsonl');
});
afterEach(async () => {
  await h.cleanup();
});

const lines = (file: string): Array<{ argv: string[]; pid: number }> =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const simUploads = () => lines(simLog).filter((e) => e.argv.includes('upload'));
const esptoolRuns = () => lines(esptoolLog);

/** Engine on the simulator + fake esptool; `esptoolEnv` reaches esptool through the job env. */
async function engine(esptoolEnv: Record<string, string>, opts: { esptool?: string[]; bus?: EventBus } = {}): Promise<JobEngine> {
  // The env is read per job, so a test may change `esptoolEnv` between jobs.
  return h.engine({ esphome: [SIM_ESPHOME], esptool: opts.esptool ?? [FAKE_ESPTOOL], bus: opts.bus, jobEnv: () => ({ FAKE_ESPTOOL_LOG: esptoolLog, ...esptoolEnv }) });
}

/** install → [compile, upload]; resolves when the upload is terminal. */
async function install(e: JobEngine, configuration: string, port = PORT): Promise<{ compile: FirmwareJob; upload: FirmwareJob }> {
  const compile = e.install({ configuration, port });
  const upload = e.getJobs({ configuration }).find((j) => j.job_type === 'upload' && j.depends_on === compile.job_id)!;
  await e.whenDone(upload.job_id);
  return { compile, upload };
}

describe('chip verify (esptool chip-id before a serial flash)', () => {
  it('match: esptool runs with --port P chip-id after the compile, then the flash goes ahead', async () => {
    const e = await engine({ FAKE_ESPTOOL_CHIP: 'ESP32-S3' });
    const { compile, upload } = await install(e, 'garage-idf.yaml'); // esp32-s3-devkitc-1 → ESP32S3
    expect(compile.status).toBe('completed');
    expect(upload.status).toBe('completed');
    expect(esptoolRuns().map((r) => r.argv)).toEqual([['--port', PORT, 'chip-id']]);
    const log = upload.output.length > 0 ? upload.output : await e.readLog(upload.job_id);
    const text = log.join('');
    expect(text).toContain(`INFO Chip verified: esp32s3 on ${PORT}\n`);
    expect(text.indexOf('Chip verified')).toBeLessThan(text.indexOf('Successfully uploaded program'));
    expect(simUploads()).toHaveLength(1);
  });

  it('mismatch: the upload fails with the chip message and esphome upload never runs', async () => {
    const e = await engine({ FAKE_ESPTOOL_CHIP: 'ESP32-C3' });
    const { compile, upload } = await install(e, 'garage-idf.yaml');
    expect(compile.status).toBe('completed');
    expect(upload.status).toBe('failed');
    expect(upload.error).toBe(`Chip mismatch: config expects esp32s3 but ${PORT} has esp32c3. Wrong board selected?`);
    expect(upload.cancelled_by).toBe('');
    expect((await e.readLog(upload.job_id)).join('')).toContain(`ERROR ${upload.error}\n`);
    expect(simUploads()).toHaveLength(0);
  });

  it('plain ESP32 config vs an ESP32 chip matches; vs an ESP8266 it does not', async () => {
    const chip = { FAKE_ESPTOOL_CHIP: 'ESP32' };
    const e = await engine(chip);
    expect((await install(e, 'living-room.yaml')).upload.status).toBe('completed');
    chip.FAKE_ESPTOOL_CHIP = 'ESP8266';
    const { upload } = await install(e, 'living-room.yaml');
    expect(upload.error).toBe(`Chip mismatch: config expects esp32 but ${PORT} has esp8266. Wrong board selected?`);
  });

  it('no chip detected (no device answers): a WARNING line, then the flash goes ahead', async () => {
    const e = await engine({ FAKE_ESPTOOL_CHIP: 'none' });
    const { upload } = await install(e, 'garage-idf.yaml');
    expect(upload.status).toBe('completed');
    const text = (await e.readLog(upload.job_id)).join('');
    expect(text).toMatch(/WARNING Chip verification skipped: esptool chip-id reported no chip type \(exit code 2\); flashing without it\n/);
    expect(esptoolRuns()).toHaveLength(1);
    expect(simUploads()).toHaveLength(1);
  });

  it('esptool missing: a WARNING line naming the command, then the flash goes ahead', async () => {
    const missing = join(h.root, 'no-such-esptool');
    const e = await engine({ FAKE_ESPTOOL_CHIP: 'ESP32-C3' }, { esptool: [missing] });
    const { upload } = await install(e, 'garage-idf.yaml');
    expect(upload.status).toBe('completed');
    expect((await e.readLog(upload.job_id)).join('')).toContain(`WARNING Chip verification skipped: esptool not found: '${missing}'; flashing without it\n`);
    expect(simUploads()).toHaveLength(1);
  });

  it('cancel during verify: esptool (own process group) is terminated, the job ends cancelled, no flash', async () => {
    const bus = new EventBus();
    const by: Array<CancelledBy | undefined> = [];
    bus.on('job_cancelled', (ev) => by.push(ev.by));
    const e = await engine({ FAKE_ESPTOOL_HANG: '1' }, { bus });
    const compile = e.install({ configuration: 'garage-idf.yaml', port: PORT });
    const upload = e.getJobs({ configuration: 'garage-idf.yaml' }).find((j) => j.depends_on === compile.job_id)!;
    await waitUntil(() => esptoolRuns().length === 1 && upload.output.join('').includes('INFO Verifying the chip on'), 10_000);
    const pid = must(esptoolRuns()[0]).pid;
    expect(processDead(pid)).toBe(false);
    await e.cancel(upload.job_id);
    const done = await e.whenDone(upload.job_id);
    expect(done.status).toBe('cancelled');
    expect(done.cancelled_by).toBe('user');
    expect(by).toEqual(['user']);
    await waitUntil(() => processDead(pid), 3000);
    expect(simUploads()).toHaveLength(0);
  });

  it('a mismatch answered while the cancel lands still ends cancelled (user intent wins)', async () => {
    const e = await engine({ FAKE_ESPTOOL_HANG: 'answer-on-term', FAKE_ESPTOOL_CHIP: 'ESP32-C3' });
    const compile = e.install({ configuration: 'garage-idf.yaml', port: PORT });
    const upload = e.getJobs({ configuration: 'garage-idf.yaml' }).find((j) => j.depends_on === compile.job_id)!;
    await waitUntil(() => esptoolRuns().length === 1 && upload.output.join('').includes('INFO Verifying the chip on'), 10_000);
    // esptool has installed its SIGTERM handler once it says so in its ready file.
    await waitUntil(() => lines(`${esptoolLog}.term-ready`).length === 1, 10_000);
    await e.cancel(upload.job_id);
    const done = await e.whenDone(upload.job_id);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBeNull();
    expect((await e.readLog(upload.job_id)).join('')).not.toContain('Chip mismatch');
    expect(simUploads()).toHaveLength(0);
  });

  it('skipped for OTA targets and for configurations never compiled (no StorageJSON)', async () => {
    const e = await engine({ FAKE_ESPTOOL_CHIP: 'ESP32-C3' });
    const ota = await install(e, 'garage-idf.yaml', 'OTA');
    expect(ota.upload.status).toBe('completed');
    expect(esptoolRuns()).toHaveLength(0);
    // living-room was never compiled: a standalone serial upload has nothing to verify against.
    const up = e.upload({ configuration: 'living-room.yaml', port: PORT });
    await e.whenDone(up.job_id);
    expect(esptoolRuns()).toHaveLength(0);
    expect(simUploads().length).toBe(2);
  });

  it('uses StorageJSON from ESPHOME_DATA_DIR when the job env sets it', async () => {
    const dataDir = join(h.root, 'esphome-data');
    const e = await engine({ FAKE_ESPTOOL_CHIP: 'ESP32-S3', ESPHOME_DATA_DIR: dataDir });
    const { upload } = await install(e, 'garage-idf.yaml');
    expect(upload.status).toBe('completed');
    expect(existsSync(join(dataDir, 'storage', 'garage-idf.yaml.json'))).toBe(true);
    expect(existsSync(join(h.configDir, '.esphome', 'storage', 'garage-idf.yaml.json'))).toBe(false);
    expect(esptoolRuns()).toHaveLength(1);
  });
});

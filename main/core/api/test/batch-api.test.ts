// "Build all" / "Update all" through the API (issue 15) on a real app with the esphome simulator
// (`# sim-build-ms:` makes each compile last a known time, `# sim: compile-error` fails one):
// up-to-date devices are skipped, the summary counts, the ETA appears once a device finished, a
// second batch is refused while one runs, Stop cancels only the batch's jobs, bad input is refused.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchSummary, Job } from '../../../../preload/contract';
import { createApp, type KilnApp } from '../../app';
import type { ApiConnection } from '../api-service';
import { ApiError } from '../../errors';
import { waitUntil } from '../../../../test/support/wait-until';
import { cleanupDirs, EXAMPLES, Recorder, SIM, tempConfigDir } from './helpers';

let app: KilnApp;
let conn: ApiConnection;
let configDir: string;
const rec = new Recorder();
const call = <T>(method: string, params: unknown): Promise<T> => conn.call(method, params) as Promise<T>;
const refusal = (p: Promise<unknown>): Promise<ApiError> => p.then(() => { throw new Error('expected a refusal'); }, (e: unknown) => e as ApiError);

function device(name: string, extra = ''): string {
  const base = readFileSync(join(EXAMPLES, 'kitchen-plug.yaml'), 'utf8').replace('name: kitchen-plug', `name: ${name}`).replace('friendly_name: Kitchen Plug', `friendly_name: ${name}`);
  return `${extra}${base}`;
}

beforeAll(async () => {
  process.env.ESPHOME_SIM_SPEED = '0';
  configDir = tempConfigDir(
    {
      'alpha.yaml': device('alpha', '# sim-build-ms: 1200\n'),
      'bravo.yaml': device('bravo', '# sim-build-ms: 1200\n'),
      'charlie.yaml': device('charlie', '# sim: compile-error\n'),
      'delta.yaml': device('delta'),
    },
    ['secrets.yaml'],
  );
  process.env.ESPHOME_SIM_LOG = join(configDir, 'sim.jsonl');
  app = await createApp({ configDir, esphome: [SIM], peerLink: false, report: () => undefined });
  await app.esphomeStatus;
  conn = app.service.connect(rec.sink);
  // delta is built before the batch: up to date, so no batch touches it.
  const d = app.engine.compile({ configuration: 'delta.yaml' });
  expect((await app.engine.whenDone(d.job_id)).status).toBe('completed');
  await app.firmware.recorder.idle();
}, 60_000);

afterAll(async () => {
  conn?.close();
  await app?.stop();
  cleanupDirs();
});

describe('fleet batch API', () => {
  it('Build all: skips up-to-date devices, counts, ETA after the first finished device, refuses a second batch', async () => {
    expect(await call('getBatch', {})).toBeNull();
    const started = await call<BatchSummary>('startBatch', { kind: 'build' });
    expect(started.total).toBe(3);
    expect(started.items.map((i) => i.configuration).sort()).toEqual(['alpha.yaml', 'bravo.yaml', 'charlie.yaml']);
    expect(started.state).toBe('running');
    // Nothing finished and no earlier build of these devices: no basis for an ETA yet.
    expect(started.etaSeconds).toBeNull();

    const second = await refusal(call('startBatch', { kind: 'update' }));
    expect(second.code).toBe('precondition_failed');
    expect(second.message).toMatch(/Build all is still running \(\d of 3 done\)/);

    // Once one device finished, the summary carries an ETA while others remain.
    const withEta = await waitUntil(() => rec.of('batchChanged').map((e) => e.batch).find((b) => b.id === started.id && b.done >= 1 && b.done < 3 && b.etaSeconds !== null), { timeoutMs: 30_000, what: 'a batch summary with an ETA' });
    expect(withEta.etaSeconds).toBeGreaterThanOrEqual(0);

    const end = await app.batch.whenDone();
    expect(end).toMatchObject({ id: started.id, state: 'done', total: 3, done: 3, failed: 1, cancelled: 0, running: 0, etaSeconds: 0 });
    const charlie = end.items.find((i) => i.configuration === 'charlie.yaml')!;
    expect(charlie.state).toBe('failed');
    expect(app.engine.getJob(charlie.jobId)?.configuration).toBe('charlie.yaml');
    // The last event says the same as getBatch.
    expect(await call<BatchSummary>('getBatch', {})).toEqual(rec.of('batchChanged').at(-1)!.batch);
    // Every job of the batch is a normal engine job (persisted, in the history).
    expect(end.items.every((i) => app.engine.getJob(i.jobId))).toBe(true);
    await app.firmware.recorder.idle();
    // Now only the failing device is left.
    const statuses = await call<Array<{ configuration: string; status: string }>>('getFirmwareStatus', {});
    expect(statuses.filter((s) => s.status !== 'up-to-date').map((s) => s.configuration)).toEqual(['charlie.yaml']);
  }, 90_000);

  it('Update all: flashes built but never flashed devices from the library (upload only), then they count as done', async () => {
    const before = await call<{ configurations: string[] }>('previewBatch', { kind: 'update' });
    expect(before.configurations.sort()).toEqual(['alpha.yaml', 'bravo.yaml', 'charlie.yaml', 'delta.yaml']);
    expect((await call<{ configurations: string[] }>('previewBatch', { kind: 'build' })).configurations).toEqual(['charlie.yaml']);
    const b = await call<BatchSummary>('startBatch', { kind: 'update', configurations: ['alpha.yaml', 'bravo.yaml'] });
    expect(b.kind).toBe('update');
    const end = await app.batch.whenDone();
    expect(end).toMatchObject({ state: 'done', total: 2, done: 2, failed: 0 });
    // A kept build of the current inputs: the install is an upload, no compile.
    for (const i of end.items) expect(app.engine.getJob(i.jobId)?.job_type).toBe('upload');
    expect((await call<{ configurations: string[] }>('previewBatch', { kind: 'update' })).configurations.sort()).toEqual(['charlie.yaml', 'delta.yaml']);
  }, 60_000);

  it('Stop cancels the batch\'s queued and running jobs and nothing else', async () => {
    for (const n of ['alpha', 'bravo']) appendFileSync(join(configDir, `${n}.yaml`), '# changed\n');
    const b = await call<BatchSummary>('startBatch', { kind: 'build', configurations: ['alpha.yaml', 'bravo.yaml'] });
    expect(b.total).toBe(2);
    // One compile runs (the local compile lane is serial), the other waits.
    await waitUntil(() => app.batch.summary()!.running === 1, { timeoutMs: 30_000, what: 'a batch compile running' });
    // The user's own job, queued behind the batch: Stop must leave it alone.
    writeFileSync(join(configDir, 'delta.yaml'), device('delta', '# changed\n'));
    const own = app.engine.compile({ configuration: 'delta.yaml' });
    expect((await refusal(call('stopBatch', { batchId: 'b00000000' }))).code).toBe('not_found');
    const stopped = await call<BatchSummary>('stopBatch', { batchId: b.id });
    expect(['stopping', 'stopped']).toContain(stopped.state);
    const end = await app.batch.whenDone();
    expect(end).toMatchObject({ state: 'stopped', total: 2, done: 2, cancelled: 2, failed: 0, running: 0 });
    expect((await app.engine.whenDone(own.job_id)).status).toBe('completed');
    // A stopped batch no longer blocks the next one.
    expect(rec.of('batchChanged').at(-1)!.batch.state).toBe('stopped');
  }, 60_000);

  it('refuses bad input and changes nothing', async () => {
    for (const p of [{ kind: 'all' }, { kind: 'build', configurations: ['../x.yaml'] }, { kind: 'build', configurations: [] }, { kind: 'build', extra: 1 }, { kind: 'build', esphomeVersion: 'a b' }]) {
      expect((await refusal(call('startBatch', p))).code).toBe('invalid_args');
    }
    expect((await refusal(call('startBatch', { kind: 'build', configurations: ['nope.yaml'] }))).code).toBe('not_found');
    expect((await refusal(call('startBatch', { kind: 'build', esphomeVersion: '1999.1.0' }))).message).toMatch(/ESPHome is now .*not 1999\.1\.0/);
    expect((await refusal(call('stopBatch', { batchId: 'nope' }))).code).toBe('invalid_args');
    await app.firmware.recorder.idle(); // delta's last compile (previous test) is in the library
    const jobsBefore = app.engine.getJobs().length;
    expect((await refusal(call('startBatch', { kind: 'build', configurations: ['delta.yaml'] }))).message).toMatch(/up to date|nothing/);
    expect(app.engine.getJobs().length).toBe(jobsBefore);
  }, 30_000);

  it('after a restart there is no batch; with another ESPHome the devices are esphome-changed and "Build all with ESPHome X" rebuilds them', async () => {
    await app.firmware.recorder.idle();
    conn.close();
    await app.stop();
    process.env.ESPHOME_SIM_VERSION = '2026.1.0';
    try {
      app = await createApp({ configDir, esphome: [SIM], peerLink: false, report: () => undefined });
      expect((await app.esphomeStatus).version).toBe('2026.1.0');
      conn = app.service.connect(rec.sink);
      // The batches of the last run are gone with it (their jobs stay in the history).
      expect(await call('getBatch', {})).toBeNull();
      const statuses = await call<Array<{ configuration: string; status: string }>>('getFirmwareStatus', {});
      // delta was built with the old version; alpha and bravo changed since (their batch was stopped).
      expect(statuses.filter((x) => x.status === 'esphome-changed').map((x) => x.configuration)).toEqual(['delta.yaml']);
      expect((await refusal(call('startBatch', { kind: 'build', esphomeVersion: '2025.12.2' }))).code).toBe('precondition_failed');
      const b = await call<BatchSummary>('startBatch', { kind: 'build', esphomeVersion: '2026.1.0' });
      expect(b.esphomeVersion).toBe('2026.1.0');
      const end = await app.batch.whenDone();
      expect(end.items.map((i) => i.configuration).sort()).toEqual(['alpha.yaml', 'bravo.yaml', 'charlie.yaml', 'delta.yaml']);
      expect(end.failed).toBe(1);
      await app.firmware.recorder.idle();
      const after = await call<Array<{ configuration: string; status: string }>>('getFirmwareStatus', {});
      expect(after.filter((x) => x.status === 'up-to-date').map((x) => x.configuration).sort()).toEqual(['alpha.yaml', 'bravo.yaml', 'delta.yaml']);
    } finally {
      delete process.env.ESPHOME_SIM_VERSION;
    }
  }, 60_000);
});

export type { Job };

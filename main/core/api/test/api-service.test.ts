// The API service over a real job engine running Kiln's esphome simulator.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogBuffer } from '../../../../renderer/src/log/log-buffer';
import { createApp, type AppOptions, type KilnApp } from '../../app';
import type { ApiConnection } from '../api-service';
import { cleanupDirs, MINIMAL_YAML, Recorder, SIM, tempConfigDir } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { readPersistedState } from '../../jobs/journal';

let app: KilnApp;
let rec: Recorder;
let conn: ApiConnection;
let configDir: string;

async function boot(speed = '0', engine: AppOptions['engine'] = {}): Promise<void> {
  process.env.ESPHOME_SIM_SPEED = speed;
  configDir = tempConfigDir(
    // `!secret wifi_password`: secrets.yaml has no `wifi`, which made this config fail validation at once.
    { 'hang.yaml': '# sim: hang\n' + MINIMAL_YAML('hanger').replace('!secret wifi', '!secret wifi_password') },
    ['kitchen-plug.yaml', 'broken-lambda.yaml', 'secrets.yaml'],
  );
  app = await createApp({ configDir, esphome: [SIM], peerLink: false, report: () => undefined, engine: { terminateGraceMs: 500, drainMs: 200, ...engine } });
  rec = new Recorder();
  conn = app.service.connect(rec.sink);
}

async function call<T = unknown>(method: string, params: unknown = {}): Promise<T> {
  return (await conn.call(method, params)) as T;
}

async function callError(method: string, params: unknown = {}): Promise<{ code: string; message: string; data?: unknown }> {
  try {
    await conn.call(method, params);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error(`${method} did not fail`);
}

const terminal = (jobId: string) => () => rec.of('jobLifecycle').find((e) => e.job.job_id === jobId && ['completed', 'failed', 'cancelled'].includes(e.kind));

afterEach(async () => {
  conn?.close();
  await app?.stop();
  cleanupDirs();
  delete process.env.ESPHOME_SIM_VERSION;
});

describe('API service', () => {
  it('validates every request: a bad one gets invalid_args and changes nothing', async () => {
    await boot();
    const bad: Array<[string, unknown]> = [
      ['compile', { configuration: '../etc/passwd.yaml' }],
      ['compile', { configuration: 'kitchen-plug.yaml', force: true }],
      ['compile', {}],
      ['install', { configuration: 'kitchen-plug.yaml', port: '--help' }],
      ['cancel', { jobId: 'nothex' }],
      ['clearJobs', { status: 'running' }],
      ['updateSettings', { versionPolicy: 'newest' }],
      ['importYaml', { name: 'x.yaml' }],
      ['getJobs', 'not-an-object'],
      ['noSuchMethod', {}],
      ['hello', { protocol: 1 }],
    ];
    for (const [method, params] of bad) {
      const e = await callError(method, params);
      expect(e.code, `${method} ${JSON.stringify(params)}`).toBe('invalid_args');
      expect(e.message.length).toBeGreaterThan(0);
    }
    expect(await call('getJobs')).toEqual([]);
    expect(rec.events).toEqual([]);
    // Nothing was written either (the settings file only appears on a valid update).
    expect(existsSync(join(app.dataDir, 'settings.json'))).toBe(false);
  });

  it('runs a compile: lifecycle events and a followed log without gap or duplicate', async () => {
    await boot('0.02');
    const job = await call<{ job_id: string; status: string; output: string[] }>('compile', { configuration: 'kitchen-plug.yaml' });
    expect(job.status).toBe('queued');
    expect(job.output).toEqual([]);
    // Follow mid-build: wait until output is flowing.
    await waitUntil(() => (app.engine.getJob(job.job_id)?.output.length ?? 0) > 20, { timeoutMs: 20_000, what: 'output' });
    const follow = await call<{ lines: string[]; job: { status: string } }>('followLog', { jobId: job.job_id });
    expect(follow.job.status).toBe('running');
    const buf = new LogBuffer();
    buf.reset(follow.lines);
    await waitUntil(terminal(job.job_id), { timeoutMs: 30_000, what: 'compile end' });
    for (const b of rec.of('logBatch')) buf.applyBatch(b.firstSeq, b.lines);
    const end = terminal(job.job_id)()!;
    expect(end.kind).toBe('completed');
    const stored = await app.engine.readLog(job.job_id);
    expect(stored.length).toBeLessThan(2000);
    expect(buf.skipped).toBe(0);
    expect(buf.text()).toBe(stored.join(''));
    // Batched: far fewer messages than lines.
    const live = rec.of('logBatch').reduce((n, b) => n + b.lines.length, 0);
    expect(live).toBeGreaterThan(50);
    expect(rec.of('logBatch').length).toBeLessThan(live / 5);
    // Lifecycle order and job views without output.
    const kinds = rec.of('jobLifecycle').filter((e) => e.job.job_id === job.job_id).map((e) => e.kind);
    expect(kinds).toEqual(['queued', 'started', 'completed']);
    expect(rec.of('jobLifecycle').every((e) => e.job.output.length === 0)).toBe(true);
    // The last log batch of the job arrives before its terminal event.
    const lastBatch = rec.events.map((e) => e.event === 'logBatch').lastIndexOf(true);
    const endIdx = rec.events.findIndex((e) => e.event === 'jobLifecycle' && e.data.kind === 'completed');
    expect(lastBatch).toBeLessThan(endIdx);
  });

  it('a terminal job replays its stored log; unknown jobs are not_found', async () => {
    await boot('0');
    const job = await call<{ job_id: string }>('compile', { configuration: 'kitchen-plug.yaml' });
    await waitUntil(terminal(job.job_id), 20_000);
    const f = await call<{ lines: string[] }>('followLog', { jobId: job.job_id });
    expect(f.lines.join('')).toContain('Successfully compiled program');
    expect((await callError('followLog', { jobId: '0123456789ab' })).code).toBe('not_found');
    expect((await callError('cancel', { jobId: '0123456789ab' })).code).toBe('not_found');
    expect((await callError('cancel', { jobId: job.job_id })).code).toBe('invalid_args');
  });

  it('a failing compile ends failed with its error; retry re-submits; clearJobs by status', async () => {
    await boot('0');
    const ok = await call<{ job_id: string }>('compile', { configuration: 'kitchen-plug.yaml' });
    await waitUntil(terminal(ok.job_id), 20_000);
    const bad = await call<{ job_id: string }>('compile', { configuration: 'broken-lambda.yaml' });
    await waitUntil(terminal(bad.job_id), 20_000);
    const end = terminal(bad.job_id)()!;
    expect(end.kind).toBe('failed');
    expect(end.job.error).toBeTruthy();
    // The first decisive error line travels with the job (lifecycle event and getJob).
    expect(end.job.failure).toMatchObject({ kind: 'compile', file: 'src/main.cpp', lineNo: 412 });
    expect((await call<{ failure: { line: string } }>('getJob', { jobId: end.job.job_id })).failure.line).toContain("'foo' was not declared in this scope");
    expect(end.job.exit_code).toBe(1);
    const retried = await call<{ job_id: string; configuration: string }>('retry', { jobId: bad.job_id });
    expect(retried.job_id).not.toBe(bad.job_id);
    expect(retried.configuration).toBe('broken-lambda.yaml');
    await waitUntil(terminal(retried.job_id), 20_000);
    expect((await callError('retry', { jobId: ok.job_id })).code).toBe('invalid_args');
    const { removed } = await call<{ removed: number }>('clearJobs', { status: 'failed' });
    expect(removed).toBeGreaterThanOrEqual(1);
    const left = await call<Array<{ status: string }>>('getJobs');
    expect(left.map((j) => j.status)).toEqual(['completed']);
    expect(rec.of('jobsChanged').some((e) => e.reason === 'cleared')).toBe(true);
  });

  it('install returns the compile; the held upload follows it over OTA', async () => {
    await boot('0');
    const compile = await call<{ job_id: string; job_type: string }>('install', { configuration: 'kitchen-plug.yaml' });
    expect(compile.job_type).toBe('compile');
    const jobs = await call<Array<{ job_id: string; job_type: string; depends_on: string; port: string }>>('getJobs');
    const upload = jobs.find((j) => j.depends_on === compile.job_id)!;
    expect(upload).toMatchObject({ job_type: 'upload', port: 'OTA' });
    await waitUntil(terminal(upload.job_id), { timeoutMs: 30_000, what: 'upload' });
    expect(terminal(upload.job_id)()!.kind).toBe('completed');
    // The OTA bar's ~100 updates arrive within milliseconds at sim speed 0: coalesced to a few
    // events (≤ 10/s), monotonic, ending at 100.
    const prog = rec.of('jobProgress').filter((p) => p.jobId === upload.job_id).map((p) => p.progress);
    expect(prog.length).toBeGreaterThan(0);
    expect(prog.length).toBeLessThan(10);
    expect(prog.at(-1)).toBe(100);
    expect([...prog].sort((a, b) => a - b)).toEqual(prog);

  });

  it('buildLocally switches a remote install to a local one with the same target (the one shared implementation)', async () => {
    // A dispatch pool that never binds: compiles not forced local wait as remote_pending.
    await boot('0', { dispatchPool: { wake: () => undefined }, buildPathPicker: () => 'remote_pending' });
    const remote = await call<{ job_id: string; source: string }>('install', { configuration: 'kitchen-plug.yaml', port: '192.168.1.50', bootloader: true });
    expect(remote.source).toBe('remote_pending');
    const local = await call<{ job_id: string; source: string; job_type: string; output: string[] }>('buildLocally', { jobId: remote.job_id });
    expect(local).toMatchObject({ source: 'local', job_type: 'compile', output: [] });
    expect(app.engine.getJob(remote.job_id)!.status).toBe('cancelled');
    const jobs = await call<Array<{ job_id: string; depends_on: string; port: string; flash_bootloader: boolean; status: string }>>('getJobs');
    expect(jobs.find((j) => j.depends_on === remote.job_id)!.status).toBe('cancelled');
    expect(jobs.find((j) => j.depends_on === local.job_id)).toMatchObject({ port: '192.168.1.50', flash_bootloader: true });
    expect(await callError('buildLocally', { jobId: local.job_id })).toMatchObject({ code: 'invalid_args', message: 'This job already builds locally' });
    expect((await callError('buildLocally', { jobId: 'abcdefabcdef' })).code).toBe('not_found');
  });

  it('cancel stops a running job; the follow ends with its last lines', async () => {
    await boot('0');
    const job = await call<{ job_id: string }>('compile', { configuration: 'hang.yaml' });
    await waitUntil(() => app.engine.getJob(job.job_id)?.status === 'running' && app.engine.getJob(job.job_id)!.output.length > 0, 20_000);
    await call('followLog', { jobId: job.job_id });
    expect(await call('cancel', { jobId: job.job_id })).toEqual({ ok: true });
    await waitUntil(terminal(job.job_id), 20_000);
    expect(terminal(job.job_id)()!.kind).toBe('cancelled');
  });

  it('imports a YAML (configurationsChanged) and lists configurations', async () => {
    await boot('0');
    const r = await call<{ configuration: string }>('importYaml', { name: 'porch.yaml', content: MINIMAL_YAML('porch') });
    expect(r.configuration).toBe('porch.yaml');
    expect(rec.of('configurationsChanged')).toHaveLength(1);
    const list = await call<Array<{ name: string }>>('listConfigurations');
    expect(list.map((c) => c.name)).toEqual(['broken-lambda.yaml', 'hang.yaml', 'kitchen-plug.yaml', 'porch.yaml']);
    const clash = await callError('importYaml', { name: 'porch.yaml', content: MINIMAL_YAML('other') });
    expect(clash).toMatchObject({ code: 'precondition_failed', data: { reason: 'exists' } });
  });

  it('settings persist, broadcast, and say when a restart is needed; environment reports the simulator', async () => {
    await boot('0');
    const env = await call<{ esphome: { found: boolean; simulator: boolean; version: string } }>('getEnvironment');
    expect(env.esphome).toMatchObject({ found: true, simulator: true, version: '2025.12.2' });
    const r1 = await call<{ settings: { notifications: boolean }; restartRequired: boolean }>('updateSettings', { notifications: false, versionPolicy: 'release' });
    expect(r1.restartRequired).toBe(false);
    expect(r1.settings).toMatchObject({ notifications: false, versionPolicy: 'release' });
    expect(JSON.parse(readFileSync(join(app.dataDir, 'settings.json'), 'utf8'))).toMatchObject({ notifications: false, version_match_policy: 'release' });
    // A command that does not run `version` is refused and nothing is saved.
    const bad = await callError('updateSettings', { esphomeCommand: ['/nonexistent/esphome'] });
    expect(bad).toMatchObject({ code: 'invalid_args', data: { field: 'esphomeCommand' } });
    expect(bad.message).toMatch(/^"\/nonexistent\/esphome" did not work as an esphome command \(.*not found\)\. Nothing was saved\.$/);
    expect(JSON.parse(readFileSync(join(app.dataDir, 'settings.json'), 'utf8')).esphome_command ?? []).toEqual([]);
    // A working one is saved; the engine keeps the old one until a restart, and says so.
    const r2 = await call<{ restartRequired: boolean }>('updateSettings', { esphomeCommand: [process.execPath, SIM] });
    expect(r2.restartRequired).toBe(true);
    const env2 = await call<{ esphome: { command: string[] } }>('getEnvironment');
    expect(env2.esphome.command).toEqual([SIM]);
    // Config folder: a file is refused; a missing folder is created.
    writeFileSync(join(configDir, 'a-file'), 'x');
    expect(await callError('updateSettings', { configDir: join(configDir, 'a-file') })).toMatchObject({ code: 'invalid_args', message: expect.stringContaining('this is a file, not a folder') });
    expect(await callError('updateSettings', { configDir: 'relative/dir' })).toMatchObject({ code: 'invalid_args', message: expect.stringContaining('full path') });
    const fresh = join(configDir, 'new', 'folder');
    const r3 = await call<{ restartRequired: boolean }>('updateSettings', { configDir: fresh });
    expect(r3.restartRequired).toBe(true);
    expect(existsSync(fresh)).toBe(true);
    expect(rec.of('settingsChanged')).toHaveLength(3);
  });

  it('pauseQueue holds queued jobs (persisted, queuePaused to every window); resumeQueue runs them', async () => {
    await boot('0');
    const other = new Recorder();
    const conn2 = app.service.connect(other.sink);
    expect(await call('getQueuePause')).toEqual({ paused: false });
    expect(await call('pauseQueue')).toEqual({ paused: true });
    expect(rec.of('queuePaused')).toEqual([{ paused: true }]);
    expect(other.of('queuePaused')).toEqual([{ paused: true }]);
    const job = await call<{ job_id: string }>('compile', { configuration: 'kitchen-plug.yaml' });
    await new Promise((r) => setTimeout(r, 300));
    expect(app.engine.getJob(job.job_id)?.status).toBe('queued');
    expect(await call('getQueuePause')).toEqual({ paused: true });
    await waitUntil(() => readPersistedState(app.dataDir).paused === true, { timeoutMs: 5000, what: 'paused persisted' });
    // Pausing twice changes nothing and says so once.
    expect(await call('pauseQueue')).toEqual({ paused: true });
    expect(rec.of('queuePaused')).toHaveLength(1);
    expect(await call('resumeQueue')).toEqual({ paused: false });
    expect(other.of('queuePaused')).toEqual([{ paused: true }, { paused: false }]);
    await waitUntil(terminal(job.job_id), 20_000);
    expect(terminal(job.job_id)()!.kind).toBe('completed');
    expect((await callError('pauseQueue', { now: true })).code).toBe('invalid_args');
    conn2.close();
  });

  it('the esphome version probe sets the upload slots: 9 from 2026.8, 4 before', async () => {
    process.env.ESPHOME_SIM_VERSION = '2026.8.1';
    await boot('0');
    expect((await app.esphomeStatus).version).toBe('2026.8.1');
    expect(app.engine.esphomeVersion).toBe('2026.8.1');
    expect(app.engine.uploadSlots()).toBe(9);
    conn.close();
    await app.stop();
    process.env.ESPHOME_SIM_VERSION = '2026.7.0';
    await boot('0');
    await app.esphomeStatus;
    expect(app.engine.esphomeVersion).toBe('2026.7.0');
    expect(app.engine.uploadSlots()).toBe(4);
  });

  it('selectJob reaches every window, only for a job in the history', async () => {
    await boot('0');
    const other = new Recorder();
    const conn2 = app.service.connect(other.sink);
    const job = await call<{ job_id: string }>('compile', { configuration: 'kitchen-plug.yaml' });
    expect(app.service.selectJob(job.job_id)).toBe(true);
    expect(rec.of('selectJob')).toEqual([{ jobId: job.job_id }]);
    expect(other.of('selectJob')).toEqual([{ jobId: job.job_id }]);
    expect(app.service.selectJob('0123456789ab')).toBe(false);
    expect(rec.of('selectJob')).toHaveLength(1);
    await waitUntil(terminal(job.job_id), 20_000);
    conn2.close();
  });

  it('followLog tail cuts a finished log; getLogRange pages the earlier lines; a running log is never cut', async () => {
    await boot('0');
    const job = await call<{ job_id: string }>('compile', { configuration: 'kitchen-plug.yaml' });
    await waitUntil(terminal(job.job_id), 20_000);
    const full = await call<{ lines: string[]; firstIndex: number }>('followLog', { jobId: job.job_id });
    expect(full.firstIndex).toBe(0);
    expect(full.lines.length).toBeGreaterThan(30);
    expect(full.lines).toEqual(await app.engine.readLog(job.job_id));
    const n = full.lines.length;
    const tail = await call<{ lines: string[]; firstIndex: number }>('followLog', { jobId: job.job_id, tail: 10 });
    expect(tail).toMatchObject({ firstIndex: n - 10, lines: full.lines.slice(-10) });
    // Page backwards from the first line the window has.
    const page = await call<{ start: number; lines: string[]; total: number }>('getLogRange', { jobId: job.job_id, before: n - 10, max: 15 });
    expect(page).toEqual({ start: n - 25, lines: full.lines.slice(n - 25, n - 10), total: n });
    const head = await call<{ start: number; lines: string[] }>('getLogRange', { jobId: job.job_id, before: 3, max: 100 });
    expect(head).toMatchObject({ start: 0, lines: full.lines.slice(0, 3) });
    expect(await call('getLogRange', { jobId: job.job_id, before: n + 50, max: 2 })).toEqual({ start: n - 2, lines: full.lines.slice(-2), total: n });
    expect(await call<{ lines: string[] }>('followLog', { jobId: job.job_id, tail: n + 1 })).toMatchObject({ firstIndex: 0, lines: full.lines });
    expect((await callError('getLogRange', { jobId: job.job_id, before: 10, max: 0 })).code).toBe('invalid_args');
    expect((await callError('getLogRange', { jobId: job.job_id, before: -1, max: 5 })).code).toBe('invalid_args');
    expect((await callError('followLog', { jobId: job.job_id, tail: 0 })).code).toBe('invalid_args');
    expect((await callError('getLogRange', { jobId: '0123456789ab', before: 1, max: 1 })).code).toBe('not_found');
    // Running: the retained history comes whole (live sequence numbers continue from it). A
    // valid config that stalls mid-compile (the shared hang.yaml fails validation at once).
    writeFileSync(join(configDir, 'stall.yaml'), '# sim: hang\n' + readFileSync(join(configDir, 'kitchen-plug.yaml'), 'utf8'));
    const hang = await call<{ job_id: string }>('compile', { configuration: 'stall.yaml' });
    await waitUntil(() => app.engine.getJob(hang.job_id)?.status === 'running' && app.engine.getJob(hang.job_id)!.output.length > 3, { timeoutMs: 20_000, what: 'stalled compile output' });
    const live = await call<{ lines: string[]; firstIndex: number }>('followLog', { jobId: hang.job_id, tail: 1 });
    expect(app.engine.getJob(hang.job_id)?.status).toBe('running');
    expect(live.firstIndex).toBe(0);
    expect(live.lines.length).toBeGreaterThan(3);
    const range = await call<{ lines: string[]; total: number }>('getLogRange', { jobId: hang.job_id, before: 2, max: 2 });
    expect(range.lines).toEqual(live.lines.slice(0, 2));
    await call('cancel', { jobId: hang.job_id });
    await waitUntil(terminal(hang.job_id), 20_000);
  });

  it('without the peer-link, pairing calls are unavailable and the list is empty', async () => {
    await boot('0');
    expect(await call('listBuildServers')).toEqual([]);
    expect((await callError('previewBuildServer', { host: '127.0.0.1', port: 6055 })).code).toBe('unavailable');
    expect((await callError('getBuildServerRole')).code).toBe('unavailable');
  });
});

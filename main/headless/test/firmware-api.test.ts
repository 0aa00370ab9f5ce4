// The firmware library through the API and `kiln serve` (issue 15): a real app with the esphome
// simulator; install records a build; device status follows config/esphome changes; the HTTP
// download needs the session token and serves the exact stored bytes under the documented name;
// "Flash this build" is an upload only.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceFirmwareStatus, FirmwareBuild, Job } from '../../../preload/contract';
import { createApp, type KilnApp } from '../../core/app';
import type { ApiConnection } from '../../core/api/api-service';
import { cleanupDirs, SIM, tempConfigDir } from '../../core/api/test/helpers';
import { startKilnServer, type KilnServer } from '../server';
import { waitUntil } from '../../../test/support/wait-until';
import { must } from '../../../test/support/must';

let app: KilnApp;
let server: KilnServer;
let conn: ApiConnection;
let configDir: string;
let simLog: string;
const reports: string[] = [];
const TOKEN = 'fw-token-0123456789abcdef';

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers: { Host: `127.0.0.1:${server.port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const call = <T>(method: string, params: unknown): Promise<T> => conn.call(method, params) as Promise<T>;
const simCommands = (): string[] =>
  existsSync(simLog) ? readFileSync(simLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { role: string; argv: string[] }).filter((x) => x.role === 'main').map((x) => x.argv[1]).filter((c) => c === 'compile' || c === 'upload') : [];

async function settle(first: Job): Promise<Job[]> {
  const chain = [first, ...app.engine.getJobs().filter((j) => j.depends_on === first.job_id)];
  return Promise.all(chain.map((j) => app.engine.whenDone(j.job_id))) as unknown as Promise<Job[]>;
}

async function status(): Promise<DeviceFirmwareStatus> {
  const all = await call<DeviceFirmwareStatus[]>('getFirmwareStatus', {});
  return all.find((s) => s.configuration === 'kitchen-plug.yaml')!;
}

beforeAll(async () => {
  process.env.ESPHOME_SIM_SPEED = '0';
  configDir = tempConfigDir({}, ['kitchen-plug.yaml', 'secrets.yaml']);
  simLog = join(configDir, 'sim.jsonl');
  process.env.ESPHOME_SIM_LOG = simLog;
  app = await createApp({ configDir, esphome: [SIM], peerLink: false, report: (m) => reports.push(m) });
  await app.esphomeStatus;
  server = await startKilnServer({ service: app.service, firmware: app.firmware.library, port: 0, token: TOKEN, staticDir: join(configDir, 'www') });
  conn = app.service.connect(() => undefined);
});

afterAll(async () => {
  conn?.close();
  await server?.close();
  await app?.stop();
  delete process.env.ESPHOME_SIM_LOG;
  cleanupDirs();
});

describe('firmware library through the API and kiln serve', () => {
  let build: FirmwareBuild;

  it('never-built → install compiles and records → up-to-date; the next install is an upload only', async () => {
    expect((await status()).status).toBe('never-built');
    const first = await settle(await call<Job>('install', { configuration: 'kitchen-plug.yaml' }));
    expect(first.map((j) => [j.job_type, j.status])).toEqual([['compile', 'completed'], ['upload', 'completed']]);
    await app.firmware.recorder.idle();
    const s = await status();
    expect(s.status).toBe('up-to-date');
    expect(s.build?.builtOnLabel).toBe('this computer');
    build = s.build!;
    const again = await call<Job>('install', { configuration: 'kitchen-plug.yaml' });
    expect(again.job_type).toBe('upload');
    await settle(again);
    expect(simCommands()).toEqual(['compile', 'upload', 'upload']);
    const rebuild = await call<Job>('install', { configuration: 'kitchen-plug.yaml', rebuild: true });
    expect(rebuild.job_type).toBe('compile');
    await settle(rebuild);
    await app.firmware.recorder.idle();
    expect(reports.filter((r) => r.includes('firmware library'))).toEqual([]);
    expect((await call<FirmwareBuild[]>('listFirmwareBuilds', { configuration: 'kitchen-plug.yaml' })).length).toBe(2);
  });

  it('the download refuses without the session token and serves the stored image with it', async () => {
    const path = `/firmware/${build.id}/ota`;
    expect((await get(path)).status).toBe(401);
    expect((await get(path, { Authorization: 'Bearer wrong-token-0123456789abc' })).status).toBe(401);
    expect((await get(`${path}?token=${TOKEN}`)).status).toBe(401);
    const ok = await get(path, { Authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    const ota = build.images.find((i) => i.kind === 'ota')!;
    expect(createHash('sha256').update(ok.body).digest('hex')).toBe(ota.sha256);
    expect(ok.headers['content-disposition']).toBe(`attachment; filename="kitchen-plug-${build.esphomeVersion}-${build.digest.slice(0, 8)}.ota.bin"`);
    expect(ota.fileName).toBe(`kitchen-plug-${build.esphomeVersion}-${build.digest.slice(0, 8)}.ota.bin`);
    expect((await get(`/firmware/${build.id}/factory`, { Authorization: `Bearer ${TOKEN}` })).status).toBe(404); // esp8266: no factory image
    expect((await get('/firmware/../../etc/passwd', { Authorization: `Bearer ${TOKEN}` })).status).toBe(404);
  });

  it('a config change shows config-changed; "Flash this build" uploads the kept build without compiling', async () => {
    appendFileSync(join(configDir, 'kitchen-plug.yaml'), '\n# changed\n');
    await waitUntil(async () => (await status()).status === 'config-changed', { what: 'config-changed' });
    const builds = await call<FirmwareBuild[]>('listFirmwareBuilds', { configuration: 'kitchen-plug.yaml' });
    expect(builds.length).toBe(2);
    const before = simCommands().length;
    const up = await call<Job>('flashFirmwareBuild', { configuration: 'kitchen-plug.yaml', buildId: must(builds[1]).id });
    expect(up.job_type).toBe('upload');
    const done = must((await settle(up))[0]);
    expect(done.status).toBe('completed');
    expect(simCommands().slice(before)).toEqual(['upload']);
    await expect(call('flashFirmwareBuild', { configuration: 'kitchen-plug.yaml', buildId: 'zzzzzz-00000000' })).rejects.toThrow(/no firmware build/);
    await expect(call('flashFirmwareBuild', { configuration: 'kitchen-plug.yaml', buildId: '../x' })).rejects.toThrow(/firmware build id/);
  });
});

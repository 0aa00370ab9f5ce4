// The firmware library against the esphome simulator (real subprocesses, real artifacts): a
// compile is recorded; an unchanged install is an upload only (no compile invocation in the
// simulator's log); a changed configuration, "Rebuild anyway" and a damaged entry compile again;
// flashing an older build uploads that build's image.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { probeVersion } from '../../esphome/version';
import { SIM_ESPHOME, type Harness } from '../../jobs/test/helpers';
import { newSimHarness, useSimEnv } from '../../jobs/test/sim-fixture';
import type { JobEngine } from '../../jobs/engine';
import type { FirmwareJob } from '../../jobs/model';
import { FirmwareService } from '../firmware-service';
import { must } from '../../../../test/support/must';

let h: Harness;
let simLog: string;
let version: string;
let reports: string[];

useSimEnv({ ESPHOME_SIM_VERSION: undefined });
beforeAll(async () => {
  version = await probeVersion([SIM_ESPHOME]);
});
beforeEach(() => {
  ({ h, simLog } = newSimHarness());
  reports = [];
});
afterEach(async () => {
  await h.cleanup();
});

const commands = (): string[] =>
  existsSync(simLog)
    ? readFileSync(simLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { role: string; argv: string[] }).filter((x) => x.role === 'main').map((x) => must(x.argv[1]))
    : [];

async function setup(): Promise<{ e: JobEngine; fw: FirmwareService }> {
  const e = await h.engine({ esphome: [SIM_ESPHOME] });
  const fw = new FirmwareService({ dataDir: e.dataDir, configDir: h.configDir, bus: e.bus, esphomeVersion: () => version, report: (m) => reports.push(m) });
  fw.start();
  return { e, fw };
}

async function chainDone(e: JobEngine, head: FirmwareJob): Promise<FirmwareJob[]> {
  const jobs = [head, ...e.getJobs().filter((j) => j.depends_on === head.job_id)];
  return Promise.all(jobs.map((j) => e.whenDone(j.job_id)));
}

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const firmwareBin = (): string => JSON.parse(readFileSync(join(h.configDir, '.esphome/storage/living-room.yaml.json'), 'utf8')).firmware_bin_path as string;

describe('firmware library with the esphome simulator', () => {
  it('records a compile, then installs the unchanged device without compiling', async () => {
    const { e, fw } = await setup();
    const first = await chainDone(e, await fw.install(e, { configuration: 'living-room.yaml' }));
    expect(first.map((j) => [j.job_type, j.status])).toEqual([['compile', 'completed'], ['upload', 'completed']]);
    await fw.recorder.idle();
    expect(reports).toEqual([]);
    const entries = await fw.library.list('living-room.yaml');
    expect(entries.length).toBe(1);
    const roles = must(entries[0]).images.map((i) => i.role);
    expect(roles).toContain('ota');
    expect(roles).toContain('storage');
    expect(must(entries[0]).esphome_version).toBe(version);
    expect(must(entries[0]).built_on_label).toBe('this computer');
    expect(must(entries[0]).images.find((i) => i.role === 'ota')!.sha256).toBe(sha(firmwareBin()));
    expect(commands()).toEqual(['compile', 'upload']);

    const head = await fw.install(e, { configuration: 'living-room.yaml' });
    expect(head.job_type).toBe('upload');
    const up = must((await chainDone(e, head))[0]);
    expect(up.status).toBe('completed');
    expect(h.output(up.job_id)[0]).toMatch(new RegExp(`^Firmware library: installing build ${must(entries[0]).id} \\(built just now on this computer, ESPHome ${version.replace(/\./g, '\\.')}\\) without compiling`));
    expect(commands()).toEqual(['compile', 'upload', 'upload']);
  });

  it('a changed configuration, Rebuild anyway and a damaged entry all compile again', async () => {
    const { e, fw } = await setup();
    await chainDone(e, await fw.install(e, { configuration: 'living-room.yaml' }));
    await fw.recorder.idle();

    const rebuilt = await chainDone(e, await fw.install(e, { configuration: 'living-room.yaml', rebuild: true }));
    expect(rebuilt.map((j) => j.job_type)).toEqual(['compile', 'upload']);
    await fw.recorder.idle();
    expect(commands()).toEqual(['compile', 'upload', 'compile', 'upload']);

    const yaml = join(h.configDir, 'living-room.yaml');
    writeFileSync(yaml, `${readFileSync(yaml, 'utf8')}\n# a change\n`);
    const changed = await chainDone(e, await fw.install(e, { configuration: 'living-room.yaml' }));
    expect(changed.map((j) => j.job_type)).toEqual(['compile', 'upload']);
    await fw.recorder.idle();

    // Damage the newest entry's OTA image: the install compiles with a notice.
    const newest = must((await fw.library.list('living-room.yaml'))[0]);
    const ota = newest.images.find((i) => i.role === 'ota')!;
    writeFileSync(join(newest.dir, ota.file), 'garbage');
    const damaged = await chainDone(e, await fw.install(e, { configuration: 'living-room.yaml' }));
    expect(damaged.map((j) => [j.job_type, j.status])).toEqual([['compile', 'completed'], ['upload', 'completed']]);
    expect(h.output(must(damaged[0]).job_id)[0]).toMatch(/^Firmware library: library build .* does not match its SHA-256; rebuilding\./);
    expect(commands().filter((c) => c === 'compile').length).toBe(4);
  });

  it('flashing an older build stages and uploads that build\'s image', async () => {
    const { e, fw } = await setup();
    await chainDone(e, await fw.install(e, { configuration: 'living-room.yaml' }));
    await fw.recorder.idle();
    process.env.ESPHOME_SIM_VERSION = '2026.12.0'; // another esphome version builds another image
    try {
      await chainDone(e, await fw.install(e, { configuration: 'living-room.yaml', rebuild: true }));
      await fw.recorder.idle();
    } finally {
      delete process.env.ESPHOME_SIM_VERSION;
    }
    const [newer, older] = await fw.library.list('living-room.yaml');
    if (newer === undefined || older === undefined) throw new Error('expected two builds of living-room.yaml');
    expect(newer.esphome_version).toBe('2026.12.0');
    const olderOta = older.images.find((i) => i.role === 'ota')!.sha256;
    expect(newer.images.find((i) => i.role === 'ota')!.sha256).not.toBe(olderOta);
    expect(sha(firmwareBin())).not.toBe(olderOta);
    const up = await e.whenDone((await fw.installer.flash(e, { configuration: 'living-room.yaml', id: older.id })).job_id);
    expect(up.status).toBe('completed');
    expect(h.output(up.job_id)[0]).toContain(`flashing build ${older.id}`);
    expect(sha(firmwareBin())).toBe(olderOta);
    expect(commands().slice(-1)).toEqual(['upload']);
  });
});

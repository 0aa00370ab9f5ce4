// `kiln devices` (each configuration with its firmware status) and `kiln firmware list|export|
// flash` (the firmware library of a config dir, issue 15). Read-only except `flash`, which runs
// the upload of a kept build through the job engine (no compile).
import { copyFile, chmod } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { buildView } from '../../core/api/firmware-api';
import { listConfigurations } from '../../core/api/configurations';
import { resolveEsphomeCommand } from '../../core/esphome/command';
import { probeVersion } from '../../core/esphome/version';
import { EventBus } from '../../core/events';
import { deviceStatus } from '../../core/firmware/device-status';
import { FirmwareService } from '../../core/firmware/firmware-service';
import { JobEngine } from '../../core/jobs/engine';
import { onePositional, parseStrictArgs } from './args';
import type { CliCommand } from './command';
import { plainText, sanitizeBuildOutput } from './terminal-text';

const DEVICES_USAGE = `usage: kiln devices [--config-dir DIR] [--data-dir DIR] [--esphome CMD] [--json]

Lists every configuration in the config dir (default: the current directory) with its firmware
status from the firmware library: up-to-date, config-changed, esphome-changed or never-built.`;

const FIRMWARE_USAGE = `usage: kiln firmware list <yaml> [--json]
       kiln firmware export <yaml> --out FILE [--build ID] [--image ota|factory]
       kiln firmware flash <yaml> --build ID --device PORT|OTA [--esphome CMD]
  common: [--config-dir DIR] [--data-dir DIR]

The firmware library keeps the last builds of every configuration (<data dir>/firmware; the
data dir defaults to <config-dir>/.kiln). export copies an image (default: the newest build's
OTA image); flash uploads a kept build without compiling.`;

class UsageError extends Error {}
const usage = (m: string): UsageError => new UsageError(m);

const OPTIONS = {
  'config-dir': { type: 'string' },
  'data-dir': { type: 'string' },
  esphome: { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  build: { type: 'string' },
  image: { type: 'string' },
  device: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function esphomeOf(flag: string | undefined): string[] {
  try {
    return resolveEsphomeCommand({ flag, env: process.env.KILN_ESPHOME });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function locate(yamlArg: string, configDirFlag: string | undefined): { configDir: string; configuration: string } {
  const cwd = process.cwd();
  const configDir = configDirFlag !== undefined ? resolve(cwd, configDirFlag) : undefined;
  let yaml = resolve(cwd, yamlArg);
  if (!existsSync(yaml) && configDir && existsSync(resolve(configDir, yamlArg))) yaml = resolve(configDir, yamlArg);
  if (!existsSync(yaml) || !statSync(yaml).isFile()) throw new UsageError(`no such YAML file: ${yamlArg}`);
  const dir = configDir ?? dirname(yaml);
  if (!yaml.startsWith(dir + sep)) throw new UsageError(`${yaml} is outside the config directory ${dir}`);
  return { configDir: dir, configuration: relative(dir, yaml).split(sep).join('/') };
}

function service(configDir: string, dataDirFlag: string | undefined, version: string, bus?: JobEngine['bus']): FirmwareService {
  const dataDir = dataDirFlag !== undefined ? resolve(dataDirFlag) : join(configDir, '.kiln');
  return new FirmwareService({ dataDir, configDir, bus: bus ?? new EventBus(), esphomeVersion: () => version, report: (m) => process.stderr.write(`kiln: warning: ${m}\n`) });
}

const when = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

async function runDevices(args: string[]): Promise<number> {
  const { values, positionals } = parseStrictArgs(args, OPTIONS, usage);
  if (values.help) throw new UsageError('');
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const configDir = resolve(values['config-dir'] ?? '.');
  const version = await probeVersion(esphomeOf(values.esphome)).catch(() => '');
  const fw = service(configDir, values['data-dir'], version);
  const entries = await fw.library.list();
  const rows = await Promise.all(
    (await listConfigurations(configDir)).map(async (c) => {
      const r = await deviceStatus(fw.library, fw.digester, configDir, c.name, version, entries);
      return { configuration: c.name, deviceName: c.deviceName, status: r.status, build: r.build ? buildView(r.build) : null };
    }),
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ esphomeVersion: version, devices: rows }, null, 2)}\n`);
    return 0;
  }
  if (!version) process.stderr.write('kiln: warning: esphome version unknown (no esphome found?): no build counts as up to date\n');
  for (const r of rows) {
    const built = r.build ? `  built ${when(r.build.builtAt)} on ${r.build.builtOnLabel}, ESPHome ${r.build.esphomeVersion}` : '';
    process.stdout.write(`${r.configuration.padEnd(28)} ${r.status.padEnd(16)}${built}\n`);
  }
  return 0;
}

async function runFirmware(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h') throw new UsageError('');
  if (!['list', 'export', 'flash'].includes(sub)) throw new UsageError(`unknown firmware command '${sub}' (list, export or flash)`);
  const { values, positionals } = parseStrictArgs(rest, OPTIONS, usage);
  if (values.help) throw new UsageError('');
  const { configDir, configuration } = locate(onePositional(positionals, '<yaml>', usage), values['config-dir']);

  if (sub === 'list') {
    const fw = service(configDir, values['data-dir'], '');
    const builds = (await fw.library.list(configuration)).map(buildView);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(builds, null, 2)}\n`);
      return 0;
    }
    if (builds.length === 0) process.stdout.write(`no kept builds of ${configuration}\n`);
    for (const b of builds) {
      const images = b.images.map((i) => `${i.kind} ${i.size} B`).join(', ');
      process.stdout.write(`${b.id}  ${when(b.builtAt)}  ESPHome ${b.esphomeVersion}  on ${b.builtOnLabel}${b.pinned ? '  pinned' : ''}  (${images})\n`);
    }
    return 0;
  }

  if (sub === 'export') {
    if (!values.out) throw new UsageError('export needs --out FILE');
    const kind = values.image ?? 'ota';
    if (kind !== 'ota' && kind !== 'factory') throw new UsageError(`--image must be ota or factory (got '${kind}')`);
    const fw = service(configDir, values['data-dir'], '');
    const entry = values.build ? await fw.library.get(values.build) : (await fw.library.list(configuration))[0];
    if (!entry || entry.device !== configuration) {
      process.stderr.write(`kiln: ${values.build ? `no firmware build ${values.build} of ${configuration}` : `no kept builds of ${configuration}`}\n`);
      return 1;
    }
    const image = entry.images.find((i) => i.role === kind);
    if (!image) {
      process.stderr.write(`kiln: build ${entry.id} has no ${kind} image (${entry.platform || 'this platform'} has none)\n`);
      return 1;
    }
    try {
      await fw.library.verify(entry);
    } catch (err) {
      process.stderr.write(`kiln: ${(err as Error).message}\n`);
      return 1;
    }
    const out = resolve(values.out);
    await copyFile(join(entry.dir, image.file), out);
    await chmod(out, 0o644);
    process.stderr.write(`kiln: wrote ${out} (${image.size} bytes, build ${entry.id}, ESPHome ${entry.esphome_version}, SHA-256 ${image.sha256})\n`);
    return 0;
  }

  // flash
  if (!values.build) throw new UsageError('flash needs --build ID (see `kiln firmware list`)');
  if (!values.device) throw new UsageError('flash needs --device PORT|OTA');
  const esphome = esphomeOf(values.esphome);
  const engine = new JobEngine({ configDir, persist: false, esphome });
  const fw = service(configDir, values['data-dir'], '', engine.bus);
  await engine.start();
  try {
    let job;
    try {
      job = await fw.installer.flash(engine, { configuration, id: values.build, port: values.device });
    } catch (err) {
      process.stderr.write(`kiln: ${(err as Error).message}\n`);
      return 1;
    }
    for (const line of job.output) process.stdout.write(sanitizeBuildOutput(line));
    const off = engine.bus.on('job_output', (e) => {
      if (e.job_id === job.job_id) process.stdout.write(sanitizeBuildOutput(e.line));
    });
    const done = await engine.whenDone(job.job_id);
    off();
    if (done.status === 'completed') {
      process.stderr.write('kiln: upload completed\n');
      return 0;
    }
    process.stderr.write(`kiln: upload ${done.status}: ${plainText(done.error ?? '')}\n`);
    return 1;
  } finally {
    await engine.stop();
  }
}

function wrap(run: (args: string[]) => Promise<number>, text: string): (args: string[]) => Promise<number> {
  return async (args) => {
    try {
      return await run(args);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      if (err.message) process.stderr.write(`kiln: ${err.message}\n${text}\n`);
      else process.stdout.write(`${text}\n`);
      return err.message ? 2 : 0;
    }
  };
}

export const devicesCommand: CliCommand = { summary: 'list configurations with their firmware status (up-to-date, config-changed, …)', usage: DEVICES_USAGE, run: wrap(runDevices, DEVICES_USAGE) };
export const firmwareCommand: CliCommand = { summary: 'list, export and flash kept firmware builds (the firmware library)', usage: FIRMWARE_USAGE, run: wrap(runFirmware, FIRMWARE_USAGE) };

// `kiln build-all [--install]`: queue every configuration that is not up to date in the firmware
// library — a compile each ("Build all": later Installs are flashes), or an install over OTA
// ("Update all") — run them through the job engine with the local esphome, and print a summary
// line as each ends: `N of M done, F failed, ETA …`. Ctrl-C stops the batch (cancels its jobs).
import { join, resolve } from 'node:path';
import { listConfigurations } from '../../core/api/configurations';
import { resolveEsphomeCommand } from '../../core/esphome/command';
import { probeVersion } from '../../core/esphome/version';
import { deviceStatus } from '../../core/firmware/device-status';
import { FirmwareService } from '../../core/firmware/firmware-service';
import { JobEngine } from '../../core/jobs/engine';
import { isTerminal, type FirmwareJob } from '../../core/jobs/model';
import { parseStrictArgs } from './args';
import type { CliCommand } from './command';
import { plainText } from './terminal-text';

const USAGE = `usage: kiln build-all [--install] [--config-dir DIR] [--data-dir DIR] [--esphome CMD] [--json]

Queues every configuration that is not up to date in the firmware library (see \`kiln devices\`):
a compile each, or with --install an install over OTA. Prints "N of M done" as jobs end and a
summary; exit 0 when every job completed, 1 when one failed, 130 when stopped (Ctrl-C).`;

class UsageError extends Error {}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseStrictArgs(
    args,
    { install: { type: 'boolean' }, 'config-dir': { type: 'string' }, 'data-dir': { type: 'string' }, esphome: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    (m) => new UsageError(m),
  );
  if (values.help) throw new UsageError('');
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const configDir = resolve(values['config-dir'] ?? '.');
  let esphome: string[];
  try {
    esphome = resolveEsphomeCommand({ flag: values.esphome, env: process.env.KILN_ESPHOME });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const version = await probeVersion(esphome).catch(() => '');
  const engine = new JobEngine({ configDir, persist: false, esphome });
  const fw = new FirmwareService({
    dataDir: values['data-dir'] !== undefined ? resolve(values['data-dir']) : join(configDir, '.kiln'),
    configDir,
    bus: engine.bus,
    esphomeVersion: () => version,
    report: (m) => process.stderr.write(`kiln: warning: ${m}\n`),
  });
  fw.start();
  await engine.start();
  const entries = await fw.library.list();
  const todo: string[] = [];
  const configs = await listConfigurations(configDir);
  for (const c of configs) {
    if (c.error) continue;
    const s = await deviceStatus(fw.library, fw.digester, configDir, c.name, version, entries);
    if (s.status !== 'up-to-date') todo.push(c.name);
  }
  process.stderr.write(`kiln: ${todo.length} of ${configs.length} configurations are not up to date${todo.length ? `: ${todo.join(', ')}` : ''}\n`);
  const started = Date.now();
  const heads: FirmwareJob[] = [];
  let stopped = false;
  const onSigint = (): void => {
    stopped = true;
    process.stderr.write('kiln: stopping the batch\n');
    for (const j of engine.getJobs()) if (!isTerminal(j)) void engine.cancel(j.job_id).catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  try {
    for (const configuration of todo) {
      heads.push(values.install ? await fw.install(engine, { configuration, port: 'OTA', forceLocal: true }) : engine.compile({ configuration, forceLocal: true }));
    }
    const results: Array<{ configuration: string; status: string; error: string }> = [];
    let done = 0;
    let failed = 0;
    await Promise.all(
      heads.map(async (head) => {
        const chain = [head, ...engine.getJobs().filter((j) => j.depends_on === head.job_id)];
        const ends = await Promise.all(chain.map((j) => engine.whenDone(j.job_id)));
        const bad = ends.find((j) => j.status !== 'completed');
        done++;
        if (bad) failed++;
        results.push({ configuration: head.configuration, status: bad ? bad.status : 'completed', error: bad ? plainText(bad.error ?? '') : '' });
        const per = (Date.now() - started) / done;
        const eta = Math.round((per * (heads.length - done)) / 1000);
        process.stderr.write(`kiln: ${done} of ${heads.length} done, ${failed} failed${done < heads.length ? `, ETA ${eta} s` : ''} — ${head.configuration} ${bad ? `${bad.status}${bad.error ? `: ${plainText(bad.error)}` : ''}` : 'completed'}\n`);
      }),
    );
    await fw.recorder.idle();
    if (values.json) process.stdout.write(`${JSON.stringify({ total: heads.length, failed, results }, null, 2)}\n`);
    if (stopped) return 130;
    return failed > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    await engine.stop();
    await fw.stop();
  }
}

export const command: CliCommand = {
  summary: 'compile (or --install) every configuration that is not up to date in the firmware library',
  usage: USAGE,
  run: async (args) => {
    try {
      return await run(args);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      if (err.message) process.stderr.write(`kiln build-all: ${err.message}\n${USAGE}\n`);
      else process.stdout.write(`${USAGE}\n`);
      return err.message ? 2 : 0;
    }
  },
};

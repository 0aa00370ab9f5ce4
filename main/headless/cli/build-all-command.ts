// `kiln build-all [--install] [--server LABEL…]`: the core fleet batch (main/core/firmware/batch.ts)
// from the command line — every configuration that is not up to date in the firmware library gets
// a compile ("Build all": later Installs are flashes), or an install over OTA ("Update all").
// Without --server the compiles run here with the local esphome; with --server they are spread
// by the dispatch pool over the named paired build servers (and this computer with --local), a
// lost server's jobs re-routed like in the app. A summary line is printed as each device ends:
// `N of M done, F failed, ETA …`. Ctrl-C is the batch's Stop.
import { join, resolve } from 'node:path';
import { listConfigurations } from '../../core/api/configurations';
import { resolveEsphomeCommand } from '../../core/esphome/command';
import { probeVersion } from '../../core/esphome/version';
import { EventBus } from '../../core/events';
import { FleetBatch } from '../../core/firmware/batch';
import { FirmwareService } from '../../core/firmware/firmware-service';
import { JobEngine } from '../../core/jobs/engine';
import type { BatchSummary } from '../../../preload/contract/firmware';
import { parseStrictArgs } from './args';
import type { CliCommand } from './command';
import { attachPool, type AttachedPool } from './build-all-pool';
import { plainText } from './terminal-text';

const USAGE = `usage: kiln build-all [--install] [--server HOST:PORT|LABEL]... [--local] [--config-dir DIR]
                      [--data-dir DIR] [--esphome CMD] [--json]

Queues every configuration that is not up to date in the firmware library (see \`kiln devices\`):
a compile each, or with --install an install over OTA.

  --server S   compile on this paired build server (repeat for several: the jobs are spread over
               the idle ones, a lost server's jobs go to the others); see \`kiln pair\`
  --local      with --server: this computer builds too
  --data-dir   firmware library and pairings (default <config-dir>/.kiln)

Prints "N of M done" as devices end and a summary; exit 0 when every job completed, 1 when one
failed, 130 when stopped (Ctrl-C), 2 usage error.`;

class UsageError extends Error {}

function line(s: BatchSummary, last: BatchSummary['items'][number] | undefined): string {
  const eta = s.state === 'running' && s.etaSeconds !== null ? `, ETA ${s.etaSeconds} s` : '';
  const what = last ? ` — ${last.configuration} ${last.state}${last.error ? `: ${plainText(last.error)}` : ''}` : '';
  return `kiln: ${s.done} of ${s.total} done, ${s.failed} failed${eta}${what}\n`;
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseStrictArgs(
    args,
    {
      install: { type: 'boolean' },
      server: { type: 'string', multiple: true },
      local: { type: 'boolean' },
      'config-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      esphome: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    (m) => new UsageError(m),
  );
  if (values.help) throw new UsageError('');
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const servers = (values.server ?? []);
  if (values.local && servers.length === 0) throw new UsageError('--local only applies with --server');
  const configDir = resolve(values['config-dir'] ?? '.');
  const dataDir = values['data-dir'] !== undefined ? resolve(values['data-dir']) : join(configDir, '.kiln');
  let esphome: string[];
  try {
    esphome = resolveEsphomeCommand({ flag: values.esphome, env: process.env.KILN_ESPHOME });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const version = await probeVersion(esphome).catch(() => '');
  const note = (m: string): void => void process.stderr.write(`${plainText(m)}\n`);
  const bus = new EventBus();
  let pool: AttachedPool | null = null;
  let engine: JobEngine;
  if (servers.length > 0) {
    try {
      pool = await attachPool({ configDir, persist: false, esphome, bus }, { servers, includeLocal: values.local === true, dataDir, esphomeVersion: () => version, note });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    engine = pool.engine;
  } else {
    engine = new JobEngine({ configDir, persist: false, esphome, bus });
  }
  const fw = new FirmwareService({ dataDir, configDir, bus, esphomeVersion: () => version, report: (m) => note(`kiln: warning: ${m}`) });
  const batch = new FleetBatch({
    jobs: () => engine,
    library: fw.library,
    digester: fw.digester,
    configDir,
    esphomeVersion: () => version,
    configurations: () => listConfigurations(configDir),
    install: (target, req) => fw.install(target, req),
    settled: () => fw.recorder.idle(),
    // Without --server everything builds here, as before the pool existed for this command.
    forceLocal: servers.length === 0,
  });
  fw.start();
  await engine.start();
  let stopped = false;
  const onSigint = (): void => {
    stopped = true;
    note('kiln: stopping the batch');
    void batch.stop().catch(() => undefined);
  };
  try {
    if (pool) await pool.connect();
    const configs = await listConfigurations(configDir);
    const todo = await batch.selection(values.install ? 'update' : 'build');
    note(`kiln: ${todo.length} of ${configs.length} configurations are not up to date${todo.length ? `: ${todo.join(', ')}` : ''}`);
    if (todo.length === 0) {
      if (values.json) process.stdout.write(`${JSON.stringify({ total: 0, failed: 0, results: [] }, null, 2)}\n`);
      return 0;
    }
    process.on('SIGINT', onSigint);
    const reported = new Set<string>();
    batch.onChange((s) => {
      for (const item of s.items) {
        if (reported.has(item.configuration) || ['queued', 'running'].includes(item.state)) continue;
        reported.add(item.configuration);
        process.stderr.write(line(s, item));
      }
    });
    await batch.start({ kind: values.install ? 'update' : 'build' });
    const end = await batch.whenDone();
    await fw.recorder.idle();
    const results = end.items.map((i) => ({ configuration: i.configuration, status: i.state, error: plainText(i.error) }));
    if (values.json) process.stdout.write(`${JSON.stringify({ total: end.total, failed: end.failed, results }, null, 2)}\n`);
    if (stopped || end.state === 'stopped') return 130;
    return end.failed > 0 || end.cancelled > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    batch.dispose();
    await engine.stop();
    await pool?.stop();
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

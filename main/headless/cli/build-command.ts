// `kiln build <yaml>`: run one compile / install / upload through the job engine with the local
// esphome, stream the job's log to stdout as it arrives, show progress on stderr, and exit with
// the job's verdict (0 completed, 1 failed, 130 cancelled; 2 usage errors). Ctrl-C cancels.
import { existsSync, statSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { ApiError } from '../../core/errors';
import { resolveEsphomeCommand } from '../../core/esphome/command';
import { acquireDataDirLock, DataDirLockedError, type DataDirLock } from '../../core/data-dir-lock';
import { probeVersion } from '../../core/esphome/version';
import { FirmwareService } from '../../core/firmware/firmware-service';
import { JobEngine, type EngineOptions } from '../../core/jobs/engine';
import { isTerminal, type FirmwareJob } from '../../core/jobs/model';
import { onePositional, parseStrictArgs } from './args';
import type { CliCommand } from './command';
import { plainText, sanitizeBuildOutput } from './terminal-text';

const USAGE = `usage: kiln build <yaml> [--config-dir DIR] [--esphome CMD] [--target compile|install|upload]
                  [--device OTA|<port>] [--data-dir DIR] [--server HOST:PORT|LABEL] [--rebuild]

Runs one job with the local esphome and streams its log to stdout.

  --config-dir DIR   configuration directory (default: the YAML's directory); the YAML must be inside it
  --esphome CMD      esphome command, e.g. "python3 -m esphome" or a path (default: $KILN_ESPHOME, else esphome)
  --target T         compile (default), install (compile, then upload) or upload (flash the last build).
                     install flashes the firmware library's build when the configuration and esphome
                     are unchanged (no compile); every successful compile is kept in the library
                     (<data dir>/firmware, the data dir defaulting to <config-dir>/.kiln)
  --rebuild          with --target install: compile even when the library has this build
  --device D         upload target for install/upload: OTA (default), a serial port, an IP or host name
  --data-dir DIR     keep job history and logs in DIR (default: none, nothing is written)
  --server S         compile on this paired build server (host:port or its label; see \`kiln pair\`);
                     install then flashes locally. Pairings are read from --data-dir, else <config-dir>/.kiln

Exit status: 0 completed, 1 failed, 130 cancelled (Ctrl-C), 2 usage error (also: the --data-dir queue is paused).`;

export const EXIT_COMPLETED = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CANCELLED = 130;

type Target = 'compile' | 'install' | 'upload';

interface BuildArgs {
  yamlPath: string;
  configDir: string;
  configuration: string;
  esphome: string[];
  target: Target;
  device: string | undefined;
  dataDir: string | undefined;
  /** `--server`: compile on this paired build server (build-remote.ts). */
  server: string | undefined;
  /** `--rebuild`: install compiles even with a firmware library hit. */
  rebuild: boolean;
}

class UsageError extends Error {}

export function parseBuildArgs(args: string[], env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): BuildArgs {
  const usage = (message: string) => new UsageError(message);
  const { values, positionals } = parseStrictArgs(
    args,
    {
      'config-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      esphome: { type: 'string' },
      target: { type: 'string' },
      device: { type: 'string' },
      server: { type: 'string' },
      rebuild: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    usage,
  );
  if (values.help) throw new UsageError('');
  const yamlArg = onePositional(positionals, '<yaml>', usage);
  const target = (values.target ?? 'compile') as Target;
  if (!['compile', 'install', 'upload'].includes(target)) throw new UsageError(`--target must be compile, install or upload (got '${values.target}')`);
  if (values.device !== undefined && target === 'compile') throw new UsageError('--device only applies to --target install or upload');
  if (values.rebuild && target !== 'install') throw new UsageError('--rebuild only applies to --target install');
  if (values.server !== undefined && target === 'upload') throw new UsageError('--server applies to --target compile or install (upload flashes the last local build)');

  const configDirFlag = values['config-dir'] !== undefined ? resolve(cwd, values['config-dir']) : undefined;
  let yamlPath = resolve(cwd, yamlArg);
  if (!existsSync(yamlPath) && configDirFlag && existsSync(resolve(configDirFlag, yamlArg))) {
    yamlPath = resolve(configDirFlag, yamlArg);
  }
  if (!existsSync(yamlPath) || !statSync(yamlPath).isFile()) throw new UsageError(`no such YAML file: ${yamlArg}`);
  let configDir: string;
  if (configDirFlag) {
    if (!yamlPath.startsWith(configDirFlag.endsWith(sep) ? configDirFlag : configDirFlag + sep)) {
      throw new UsageError(`${yamlPath} is outside the config directory ${configDirFlag}`);
    }
    configDir = configDirFlag;
  } else {
    configDir = dirname(yamlPath);
  }
  let esphome: string[];
  try {
    esphome = resolveEsphomeCommand({ flag: values.esphome, env: env.KILN_ESPHOME });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (esphome.length === 0) throw new UsageError('--esphome is empty');
  return {
    yamlPath,
    configDir,
    configuration: relative(configDir, yamlPath).split(sep).join('/'),
    esphome,
    target,
    device: values.device,
    dataDir: values['data-dir'] !== undefined ? resolve(cwd, values['data-dir']) : undefined,
    server: values.server,
    rebuild: values.rebuild === true,
  };
}

/** Progress on stderr: a redrawn status line on a terminal, plain `progress NN%` lines otherwise. */
class ProgressView {
  private status = '';
  private shown = false;
  private lastPlain = new Map<string, number>();

  constructor(private readonly tty: boolean) {}

  progress(job: FirmwareJob, pct: number): void {
    if (this.tty) {
      this.status = `[${job.job_type}] ${pct}%`;
      this.draw();
    } else if (this.lastPlain.get(job.job_id) !== pct) {
      this.lastPlain.set(job.job_id, pct);
      process.stderr.write(`progress ${pct}%\n`);
    }
  }

  note(text: string): void {
    this.clear();
    // Notes can carry a build server's words (labels, errors): no control characters.
    process.stderr.write(`${text.split('\n').map(plainText).join('\n')}\n`);
    this.draw();
  }

  /** Log output goes to stdout; keep a terminal status line from garbling it. */
  log(chunk: string): void {
    this.clear();
    // Output may come from a build server: colours yes, titles/clears/cursor moves no.
    process.stdout.write(sanitizeBuildOutput(chunk));
    if (chunk.endsWith('\n')) this.draw();
  }

  clear(): void {
    if (this.tty && this.shown) {
      process.stderr.write('\r\x1b[2K');
      this.shown = false;
    }
  }

  private draw(): void {
    if (!this.tty || this.status === '') return;
    process.stderr.write(`\r\x1b[2K${this.status}`);
    this.shown = true;
  }
}

export async function runBuild(args: string[]): Promise<number> {
  let opts: BuildArgs;
  try {
    opts = parseBuildArgs(args);
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) process.stderr.write(`kiln build: ${err.message}\n${USAGE}\n`);
      else process.stdout.write(`${USAGE}\n`);
      return err.message ? EXIT_USAGE : EXIT_COMPLETED;
    }
    throw err;
  }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });

  // --data-dir: the engine persists there, so it must be the only process using it (a running
  // `kiln serve` on that dir would otherwise see our job as a crash and the other way round).
  let lock: DataDirLock | null = null;
  if (opts.dataDir !== undefined) {
    try {
      lock = acquireDataDirLock(opts.dataDir, 'kiln build');
    } catch (err) {
      if (!(err instanceof DataDirLockedError)) throw err;
      process.stderr.write(`kiln build: ${err.message}\n`);
      return EXIT_FAILED;
    }
  }
  try {
    return await buildWithEngine(opts);
  } finally {
    lock?.release();
  }
}

async function buildWithEngine(opts: BuildArgs): Promise<number> {
  const engineOptions: EngineOptions = {
    configDir: opts.configDir,
    dataDir: opts.dataDir,
    persist: opts.dataDir !== undefined,
    esphome: opts.esphome,
  };
  const view = new ProgressView(process.stderr.isTTY === true);
  // --server: the engine is built with the remote runner (build-remote.ts).
  let remote: import('./build-remote').AttachedRemoteBuild | null = null;
  if (opts.server !== undefined) {
    const { attachRemoteBuild, RemoteBuildSetupError } = await import('./build-remote');
    try {
      remote = await attachRemoteBuild(engineOptions, { server: opts.server, configDir: opts.configDir, dataDir: opts.dataDir, esphome: opts.esphome, note: (l) => view.note(l) });
    } catch (err) {
      if (!(err instanceof RemoteBuildSetupError)) throw err;
      process.stderr.write(`kiln build: ${err.message}\n`);
      return EXIT_USAGE;
    }
  }
  const engine = remote?.engine ?? new JobEngine(engineOptions);
  // The firmware library of this config dir's data dir (write-once entries: safe next to a
  // running Kiln on the same dir). Records this run's compile; a local install may use it.
  const esphomeVersion = opts.server === undefined && opts.target === 'install' ? await probeVersion(opts.esphome).catch(() => '') : '';
  const firmware = new FirmwareService({
    dataDir: engine.dataDir,
    configDir: opts.configDir,
    bus: engine.bus,
    esphomeVersion: () => esphomeVersion,
    report: (m) => view.note(`kiln: warning: ${m}`),
  });
  firmware.start();
  await engine.start();
  for (const w of engine.startupWarnings) view.note(`kiln: warning: ${w}`);
  if (engine.isPaused()) {
    // Resuming here would also start every other job waiting in that queue (and drop the user's
    // pause), so a paused queue is refused rather than silently overridden.
    process.stderr.write(
      `kiln build: the job queue in ${opts.dataDir ?? engine.dataDir} is paused (jobs.json "paused": true), so the build would never start.\n` +
        'kiln build: resume the queue in Kiln (task list "Resume queue", or the tray menu) or use another --data-dir.\n',
    );
    await engine.stop();
    await remote?.stop();
    return EXIT_USAGE;
  }

  const chain = new Set<string>();
  const jobs: FirmwareJob[] = [];
  let interrupted = false;

  const offs = [
    engine.bus.on('job_output', (e) => {
      if (chain.has(e.job_id)) view.log(e.line);
    }),
    engine.bus.on('job_progress', (e) => {
      const job = engine.getJob(e.job_id);
      if (job && chain.has(e.job_id)) view.progress(job, e.progress);
    }),
    engine.bus.on('job_started', ({ job }) => {
      if (chain.has(job.job_id)) view.note(`kiln: ${job.job_type} ${opts.configuration} started (job ${job.job_id}, esphome: ${opts.esphome.join(' ')})`);
    }),
  ];

  const onSigint = (): void => {
    if (interrupted) {
      // Second Ctrl-C: stop now (kills the process group) without waiting for a graceful end.
      view.note('kiln: stopping');
      void engine.stop().then(() => process.exit(EXIT_CANCELLED));
      return;
    }
    interrupted = true;
    view.note('kiln: cancelling (Ctrl-C again to stop at once)');
    const active = jobs.find((j) => !isTerminal(j));
    if (active) void engine.cancel(active.job_id).catch(() => undefined);
  };
  const onSigterm = (): void => {
    interrupted = true;
    void engine.stop().then(() => process.exit(143));
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  try {
    let head: FirmwareJob;
    try {
      if (remote) head = await remote.submit({ configuration: opts.configuration, port: opts.target === 'install' ? (opts.device ?? 'OTA') : undefined });
      else if (opts.target === 'compile') head = engine.compile({ configuration: opts.configuration, forceLocal: true });
      else if (opts.target === 'upload') head = engine.upload({ configuration: opts.configuration, port: opts.device ?? 'OTA' });
      else head = await firmware.install(engine, { configuration: opts.configuration, port: opts.device ?? 'OTA', forceLocal: true, rebuild: opts.rebuild });
    } catch (err) {
      if (err instanceof ApiError) {
        process.stderr.write(`kiln build: ${err.message}\n`);
        return EXIT_USAGE;
      }
      throw err;
    }
    jobs.push(head, ...engine.getJobs().filter((j) => j.depends_on === head.job_id));
    for (const j of jobs) chain.add(j.job_id);
    // A line written when the job was queued (the firmware library's "installing build …"),
    // before this view subscribed to the job's output.
    for (const j of jobs) for (const line of j.output) view.log(line);

    let code = EXIT_COMPLETED;
    for (const j of jobs) {
      const done = await engine.whenDone(j.job_id);
      if (done.status === 'completed') continue;
      view.clear();
      if (done.status === 'failed') {
        const exit = done.exit_code !== null ? ` (exit ${done.exit_code})` : '';
        process.stderr.write(`kiln: ${done.job_type} failed${exit}: ${plainText(done.error ?? 'failed')}\n`);
        code = EXIT_FAILED;
      } else {
        process.stderr.write(`kiln: ${done.job_type} cancelled${done.error ? `: ${plainText(done.error)}` : ''}\n`);
        code = EXIT_CANCELLED;
      }
      break;
    }
    view.clear();
    if (code === EXIT_COMPLETED) process.stderr.write(`kiln: ${jobs.map((j) => j.job_type).join(' + ')} completed\n`);
    return code;
  } finally {
    for (const off of offs) off();
    await engine.stop();
    await firmware.stop();
    await remote?.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}

export const command: CliCommand = {
  summary: 'compile / install / upload one YAML with the local esphome, streaming its log',
  usage: USAGE,
  run: runBuild,
};

// Kiln's esphome simulator: a test double for the `esphome` CLI (esphome-cli.md §7).
// Entry point behind the `esphome` launcher; `main(argv)` resolves to the exit code.
import path from 'node:path';
import { HelpExit, UsageError, VersionExit, parseArgs, topHelp } from './lib/args.mjs';
import { cleanAllCommand } from './lib/clean.mjs';
import { Output } from './lib/output.mjs';
import { appendSimLog } from './lib/simlog.mjs';
import { SimError, envTruthy, pyList } from './lib/util.mjs';

export const DEFAULT_VERSION = '2025.12.2';
export const VERSION_LABEL = "Kiln's esphome simulator (a test double, not the real ESPHome CLI)";
const SECRETS_FILES = ['secrets.yaml', 'secrets.yml'];

function speedFrom(env) {
  const s = Number.parseFloat(env.ESPHOME_SIM_SPEED ?? '1');
  return Number.isFinite(s) && s >= 0 ? s : 1;
}

function printVersion(version) {
  process.stdout.write(`Version: ${version}\n${VERSION_LABEL}\n`);
}

export const SIM_NOTICE = "Kiln's esphome simulator: build, upload and log outputs are simulated; no real firmware is built or flashed";

/**
 * Run the simulated CLI.
 * @param {string[]} argv arguments after the program name
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<number>} exit code
 */
export async function main(argv, env = process.env) {
  appendSimLog({ role: 'main', argv });
  const version = env.ESPHOME_SIM_VERSION || DEFAULT_VERSION;
  let parsed;
  try {
    parsed = parseArgs(argv, env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.usage}\n${err.prog}: error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof VersionExit) {
      printVersion(version);
      return 0;
    }
    if (err instanceof HelpExit) {
      process.stdout.write(err.text || topHelp(version));
      return 0;
    }
    throw err;
  }
  const { globals, command } = parsed;
  let logLevel = globals.logLevel;
  if (globals.verbose || envTruthy(env.ESPHOME_VERBOSE)) logLevel = 'DEBUG';
  else if (globals.quiet) logLevel = 'CRITICAL';
  const colour = envTruthy(env.FORCE_COLOR) || envTruthy(env.PLATFORMIO_FORCE_COLOR) || envTruthy(env.CLICOLOR_FORCE) || Boolean(process.stderr.isTTY);
  const out = new Output({ colour, dashboard: globals.dashboard, logLevel, speed: speedFrom(env) });

  // No SIGTERM handler on purpose: the real CLI dies by the signal (§1.4).
  process.on('SIGINT', () => process.exit(command === 'logs' ? 0 : 1));

  if (parsed.ignored.length > 0) out.warning(`Ignored unrecognized arguments: ${pyList(parsed.ignored)}`);
  if (command === 'version') {
    printVersion(version);
    return 0;
  }
  if (command === 'clean-all') return cleanAllCommand(out, parsed.configurations, env);

  const { runForConfig } = await import('./lib/commands.mjs');
  out.info(`ESPHome ${version}`);
  out.info(SIM_NOTICE);
  for (const conf of parsed.configurations) {
    if (SECRETS_FILES.includes(path.basename(conf))) {
      out.warning(`Skipping secrets file ${conf}`);
      continue;
    }
    let rc;
    try {
      rc = await runForConfig(command, conf, parsed, out, env, version);
    } catch (err) {
      if (!(err instanceof SimError)) throw err;
      out.error(err.message);
      rc = err.exitCode;
    }
    if (rc !== 0) return rc;
  }
  return 0;
}

/** Resolves once everything written so far has been handed to the OS (writes complete in order). */
function flushed(stream) {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableLength === 0) resolve();
    else stream.write('', () => resolve());
  });
}

/** Process entry used by the launcher: exit once stdout/stderr are flushed. */
export async function run() {
  const quit = () => process.exit(1);
  process.stdout.on('error', quit);
  process.stderr.on('error', quit);
  let code;
  try {
    code = await main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`ERROR Unexpected error in Kiln's esphome simulator: ${err?.stack ?? err}\n`);
    code = 1;
  }
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

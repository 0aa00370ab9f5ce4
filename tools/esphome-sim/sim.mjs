// Kiln's esphome simulator: a test double for the `esphome` CLI (esphome-cli.md §7).
// Entry point behind the `esphome` launcher; `main(argv)` resolves to the exit code.
import fs from 'node:fs';
import path from 'node:path';
import { HelpExit, UsageError, VersionExit, parseArgs, topHelp } from './lib/args.mjs';
import { firmwarePlan, idedataFor, writeIdedata } from './lib/artifacts.mjs';
import { bundleCommand, extractBundle, isBundlePath } from './lib/bundle.mjs';
import { cleanAllCommand, cleanCommand } from './lib/clean.mjs';
import { platformUrl, runCompile } from './lib/compile.mjs';
import { ConfigInvalid, dumpYaml, keyLine, readDevice, renderFailedConfig } from './lib/config.mjs';
import { tailLogs } from './lib/logs.mjs';
import { Output } from './lib/output.mjs';
import { resolvePaths } from './lib/paths.mjs';
import { detectScenario } from './lib/scenario.mjs';
import { appendSimLog } from './lib/simlog.mjs';
import { resolveDevices, runUpload } from './lib/upload.mjs';
import { SimError, envTruthy, fnv1a32, makeRng, pyList } from './lib/util.mjs';
import { SECRETS_FILES, YamlReadError } from './lib/yaml-load.mjs';

export const DEFAULT_VERSION = '2025.12.2';
export const VERSION_LABEL = "Kiln's esphome simulator (a test double, not the real ESPHome CLI)";
export const SIM_NOTICE = "Kiln's esphome simulator: build, upload and log outputs are simulated; no real firmware is built or flashed";

/** Base validation pauses in ms (× ESPHOME_SIM_SPEED). */
const T = { validate: [1000, 3000], configError: [500, 2000] };

function speedFrom(env) {
  const s = Number.parseFloat(env.ESPHOME_SIM_SPEED ?? '1');
  return Number.isFinite(s) && s >= 0 ? s : 1;
}

function printVersion(version) {
  process.stdout.write(`Version: ${version}\n${VERSION_LABEL}\n`);
}

function yamlErrorText(configPath, text) {
  const lines = (text ?? '').split('\n');
  const at = Math.max(2, Math.min(lines.length, 12));
  return `while parsing a block mapping\n  in "${configPath}", line 1, column 1\nexpected <block end>, but found '<block mapping start>'\n  in "${configPath}", line ${at}, column 3`;
}

function configCommand(ctx, device, opts) {
  const { out } = ctx;
  let text = dumpYaml(device.config, { showSecrets: Boolean(opts.showSecrets) });
  if (!opts.showSecrets) text = text.replace(/(password|key|psk|ssid): (.+)/g, '$1: \\033[5m$2\\033[6m');
  if (!out.quiet) out.stdout(`${text}\n`);
  out.info('Configuration is valid!');
  return 0;
}

function idedataCommand(ctx) {
  const { out, paths } = ctx;
  if (!fs.existsSync(paths.platformioIni)) {
    out.line(`Error: Not a PlatformIO project. \`platformio.ini\` file has not been found in ${paths.buildPath}; compile the configuration first`);
    return 1;
  }
  const data = idedataFor(ctx.model, paths);
  writeIdedata(ctx);
  out.line(`${JSON.stringify(data, null, 2)}\n`);
  return 0;
}

/** Everything after `INFO ESPHome <ver>` for one configuration. */
async function runForConfig(command, conf, parsed, out, env, version) {
  const { globals, options } = parsed;
  let configPath = path.resolve(conf);
  if (isBundlePath(configPath)) configPath = await extractBundle(configPath, out);
  let text = null;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch {
    // reported below as the real read error
  }
  const { scenario, unknown } = detectScenario(text, env);
  if (unknown) out.warning(`Unknown simulator scenario '${unknown}'; simulating success`);
  if (scenario === 'ignore-term') process.on('SIGTERM', () => {});
  const seeded = env.ESPHOME_SIM_SEED !== undefined;
  const simSeed = seeded ? fnv1a32(String(env.ESPHOME_SIM_SEED)) : 0;
  const rng = makeRng(seeded ? simSeed ^ 0x7157 : Math.floor(Math.random() * 2 ** 32));

  out.info(`Reading configuration ${configPath}...`);
  const failing = scenario === 'config-error' || scenario === 'yaml-error';
  const range = failing ? T.configError : T.validate;
  await out.pause(scenario === 'slow' ? range[1] : rng.float(range[0], range[1]));
  if (scenario === 'yaml-error' && text !== null) {
    out.error(`Error while reading config: Invalid YAML syntax:\n\n${yamlErrorText(configPath, text)}`);
    return 2;
  }
  let device;
  try {
    device = readDevice(configPath, {
      cliSubstitutions: Object.fromEntries(globals.substitution ?? []),
      bundleMode: command === 'bundle',
      warn: (m) => out.warning(m),
    });
  } catch (err) {
    if (err instanceof YamlReadError) {
      out.error(`Error while reading config: Invalid YAML syntax:\n\n${err.message}`);
      return 2;
    }
    if (err instanceof ConfigInvalid) {
      renderFailedConfig(out, err.blocks);
      return 2;
    }
    throw err;
  }
  const { model } = device;
  if (scenario === 'config-error') {
    const key = model.platformKey;
    renderFailedConfig(out, [
      {
        header: `${key}: [source ${device.configPath}:${keyLine(device.text, key)}]`,
        lines: ['  ', `  Simulated validation error (scenario config-error): board '${model.board}' was rejected.`, ...dumpYaml(device.config[key] ?? {}).replace(/\n$/, '').split('\n').map((l) => `  ${l}`)],
      },
    ]);
    return 2;
  }

  const paths = resolvePaths(model, device.configPath, env, { nativeIdf: Boolean(options.nativeIdf) });
  const seed = (fnv1a32(`${model.name}:${device.configHash}`) ^ simSeed) >>> 0;
  const ctx = {
    out,
    env,
    version,
    globals,
    scenario,
    model,
    config: device.config,
    configPath: device.configPath,
    configHash: device.configHash,
    paths,
    platformUrl: platformUrl(model),
    seed,
    plan: firmwarePlan(model, seed),
    structRng: makeRng(seed),
    rng,
  };

  switch (command) {
    case 'config':
      return configCommand(ctx, device, options);
    case 'compile':
      return runCompile(ctx, { onlyGenerate: Boolean(options.onlyGenerate) });
    case 'upload':
      return (await runUpload(ctx, options)).rc;
    case 'run': {
      const rc = await runCompile(ctx);
      if (rc !== 0) return rc;
      const devices = resolveDevices(ctx, options.device, 'uploading');
      const up = await runUpload(ctx, options, { resolved: devices });
      if (up.rc !== 0) return up.rc;
      if (options.noLogs) return 0;
      return tailLogs(ctx, up.device);
    }
    case 'logs': {
      const devices = resolveDevices(ctx, options.device, 'logging');
      return tailLogs(ctx, devices[0]);
    }
    case 'clean':
      return cleanCommand(ctx);
    case 'bundle':
      return bundleCommand(device, out, version, options);
    case 'idedata':
      return idedataCommand(ctx);
    default:
      throw new SimError(`Unknown command ${command}`, 2);
  }
}

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

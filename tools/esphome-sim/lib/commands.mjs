// Config-taking commands: everything after `INFO ESPHome <ver>` for one configuration
// (loaded lazily by sim.mjs so `--version` probes stay fast).
import { versionAtLeast } from './util.mjs';
import fs from 'node:fs';
import path from 'node:path';
import { firmwarePlan, idedataFor, writeIdedata } from './artifacts.mjs';
import { bundleCommand, extractBundle, isBundlePath } from './bundle.mjs';
import { cleanCommand } from './clean.mjs';
import { platformUrl, runCompile } from './compile.mjs';
import { ConfigInvalid, dumpYaml, keyLine, readDevice, renderFailedConfig } from './config.mjs';
import { tailLogs } from './logs.mjs';
import { resolvePaths } from './paths.mjs';
import { stallForever } from './stall.mjs';
import { detectBuildMs, detectFirmwareBytes, detectScenario } from './scenario.mjs';
import { resolveDevices, runUpload } from './upload.mjs';
import { SimError, fnv1a32, makeRng } from './util.mjs';
import { YamlReadError } from './yaml-load.mjs';

/** Base validation pauses in ms (× ESPHOME_SIM_SPEED). */
const T = { validate: [1000, 3000], configError: [500, 2000] };

function yamlErrorText(configPath, text) {
  const lines = (text ?? '').split('\n');
  const at = Math.max(2, Math.min(lines.length, 12));
  return `while parsing a block mapping\n  in "${configPath}", line 1, column 1\nexpected <block end>, but found '<block mapping start>'\n  in "${configPath}", line ${at}, column 3`;
}

function configCommand(ctx, device, opts) {
  const { out } = ctx;
  const shown = Object.fromEntries(Object.entries(device.config).map(([k, v]) => [k, v === null ? {} : v]));
  let text = dumpYaml(shown, { showSecrets: Boolean(opts.showSecrets) });
  if (!opts.showSecrets) {
    // esphome 2026.10 (verified against the real CLI): `!secret 'key'` stays as it is, other values
    // of password/key/psk/ssid-like fields are concealed with SGR 8/28. Older releases wrapped
    // every such value, secrets included, in SGR 5/6.
    text = versionAtLeast(ctx.version, '2026.10')
      ? text.replace(/\b((?:\w+_)?(?:password|key|psk|ssid)): (?!!secret\b|!lambda\b)(.+)/g, '$1: \\033[8m$2\\033[28m')
      : text.replace(/(password|key|psk|ssid): (.+)/g, '$1: \\033[5m$2\\033[6m');
  }
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
export async function runForConfig(command, conf, parsed, out, env, version) {
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

  // The real CLI prints the path as given (Kiln always passes absolute paths).
  out.info(`Reading configuration ${isBundlePath(path.resolve(conf)) ? configPath : conf}...`);
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
    buildMs: detectBuildMs(text),
    model,
    config: device.config,
    configPath: device.configPath,
    configHash: device.configHash,
    paths,
    platformUrl: platformUrl(model),
    seed,
    plan: firmwarePlan(model, seed, detectFirmwareBytes(text)),
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
      // Scenarios never stall a bundle (the marker travels inside it, for the build server's
      // compile); ESPHOME_SIM_STALL_BUNDLE=1 does, so a sender's cancel during bundling can be tested.
      if (env.ESPHOME_SIM_STALL_BUNDLE === '1') await stallForever(ctx, 'bundle');
      return bundleCommand(device, out, version, options);
    case 'idedata':
      return idedataCommand(ctx);
    default:
      throw new SimError(`Unknown command ${command}`, 2);
  }
}


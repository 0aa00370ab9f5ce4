// Build tree locations exactly as esphome-cli.md §4.1 describes.
import path from 'node:path';
import { envTruthy } from './util.mjs';

/** data_dir: /data in add-on mode, else $ESPHOME_DATA_DIR, else <config_dir>/.esphome. */
export function dataDirFor(configDir, env) {
  if (envTruthy(env.ESPHOME_IS_HA_ADDON)) return '/data';
  if (env.ESPHOME_DATA_DIR) return path.resolve(env.ESPHOME_DATA_DIR);
  return path.join(configDir, '.esphome');
}

/**
 * @param {{ name: string, family: string, framework: string, buildPathOverride: string|null }} model
 * @param {string} configPath absolute YAML path
 * @param {NodeJS.ProcessEnv} env
 */
export function resolvePaths(model, configPath, env, { nativeIdf = false } = {}) {
  const configDir = path.dirname(configPath);
  const dataDir = dataDirFor(configDir, env);
  let buildPath;
  if (model.buildPathOverride) buildPath = path.resolve(configDir, model.buildPathOverride);
  else {
    const base = env.ESPHOME_BUILD_PATH || 'build';
    buildPath = path.isAbsolute(base) ? path.join(base, model.name) : path.join(dataDir, base, model.name);
  }
  const pioenvs = path.join(buildPath, '.pioenvs');
  const envDir = path.join(pioenvs, model.name);
  const native = nativeIdf && model.family === 'esp32' && model.framework === 'esp-idf';
  const outDir = native ? path.join(buildPath, 'build') : envDir;
  let firmwareBin;
  if (native) firmwareBin = path.join(outDir, `${model.name}.bin`);
  else if (model.family === 'libretiny') firmwareBin = path.join(envDir, 'firmware.uf2');
  else if (model.family === 'host') firmwareBin = path.join(envDir, 'program');
  else firmwareBin = path.join(envDir, 'firmware.bin');
  return {
    configDir,
    dataDir,
    buildPath,
    pioenvs,
    piolibdeps: path.join(buildPath, '.piolibdeps'),
    envDir,
    native,
    outDir,
    firmwareBin,
    firmwareElf: path.join(outDir, 'firmware.elf'),
    storagePath: path.join(dataDir, 'storage', `${path.basename(configPath)}.json`),
    idedataPath: path.join(dataDir, 'idedata', `${model.name}.json`),
    buildInfoPath: path.join(buildPath, 'build_info.json'),
    platformioIni: path.join(buildPath, 'platformio.ini'),
    mainCpp: path.join(buildPath, 'src', 'main.cpp'),
    gitignore: path.join(configDir, '.gitignore'),
  };
}

/** Path as PlatformIO prints it: relative to the project (`.pioenvs/<name>/...`). */
export function pioRel(paths, abs) {
  return path.relative(paths.buildPath, abs).split(path.sep).join('/');
}

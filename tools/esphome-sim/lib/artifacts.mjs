// Build outputs at the real locations (esphome-cli.md §4, §7.2.5): codegen files, StorageJSON,
// per-platform firmware images with deterministic bytes, idedata, build_info.json.
// Every file is written atomically (temp file in the same directory + rename), so a kill never
// leaves a half-written firmware image behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { esp32Hardware, UF2_FAMILY } from './platforms.mjs';
import { pioRel } from './paths.mjs';
import { fnv1a32, makeRng, pseudoRandomBytes } from './util.mjs';

export function atomicWrite(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** esphome's write_file_if_changed: keeps mtimes stable across incremental builds. */
export function writeIfChanged(file, data) {
  try {
    const old = fs.readFileSync(file);
    if (old.equals(Buffer.isBuffer(data) ? data : Buffer.from(data))) return false;
  } catch {
    // missing: write it
  }
  atomicWrite(file, data);
  return true;
}

const GITIGNORE = `# Gitignore settings for ESPHome
# This is an example and may include too much for your use-case.
# You can modify this file to suit your needs.
/.esphome/
/secrets.yaml
`;

/**
 * Sizes of everything a build produces, deterministic per (config, seed). `appBytes` (from a
 * `# sim-firmware-bytes:` marker, a multiple of 16) replaces the platform's app size; 0 = none.
 */
export function firmwarePlan(model, seed, appBytes = 0) {
  const rng = makeRng(seed ^ 0x5eed);
  const f = model.family;
  let app;
  let ramTotal;
  let ramUsed;
  let flashTotal;
  if (f === 'esp32') {
    app = model.framework === 'esp-idf' ? rng.int(780_000, 980_000) : rng.int(900_000, 1_100_000);
    ramTotal = 327_680;
    ramUsed = rng.int(30_000, 46_000);
    flashTotal = 1_835_008;
  } else if (f === 'esp8266') {
    app = rng.int(410_000, 490_000);
    ramTotal = 81_920;
    ramUsed = rng.int(30_000, 40_000);
    flashTotal = 1_044_464;
  } else if (f === 'rp2040') {
    app = rng.int(520_000, 680_000);
    ramTotal = 262_144;
    ramUsed = rng.int(40_000, 62_000);
    flashTotal = 1_044_480;
  } else if (f === 'libretiny') {
    app = rng.int(450_000, 600_000);
    ramTotal = 262_144;
    ramUsed = rng.int(48_000, 70_000);
    flashTotal = 1_212_416;
  } else {
    app = rng.int(1_400_000, 1_800_000);
    ramTotal = 0;
    ramUsed = 0;
    flashTotal = 0;
  }
  app -= app % 16;
  if (appBytes > 0) {
    app = appBytes;
    // The flash still "fits" (the RAM/Flash usage lines stay plausible).
    flashTotal = Math.max(flashTotal, app + 0x10000);
  }
  return {
    app,
    elf: app * 2 + rng.int(50_000, 200_000),
    bootloader: rng.int(25_600, 27_648) & ~0xf,
    ramUsed,
    ramTotal,
    flashUsed: Math.max(16, app - rng.int(20_000, 60_000)),
    flashTotal,
    // factory image = 0x10000 bytes of bootloader/partitions/otadata + app (§7.2.5)
    factory: app + 0x10000,
  };
}

function cString(buf, offset, text, max) {
  const b = Buffer.from(text, 'utf8').subarray(0, max - 1);
  buf.fill(0, offset, offset + max);
  b.copy(buf, offset);
}

/** ESP app image: 0xE9 header + esp_app_desc_t (magic 0xABCD5432, version, project name). */
function espAppImage(model, plan, seed, version) {
  const buf = pseudoRandomBytes(plan.app, seed);
  buf[0] = 0xe9;
  buf[1] = 6;
  buf[2] = 2;
  buf[3] = 0x20;
  buf.writeUInt32LE(0x40081000, 4);
  if (model.family === 'esp32') {
    buf.writeUInt32LE(0xabcd5432, 0x20);
    cString(buf, 0x30, version, 32);
    cString(buf, 0x50, model.name, 32);
  }
  return buf;
}

function elfImage(plan, seed) {
  const buf = pseudoRandomBytes(plan.elf, seed ^ 0xe1f);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).copy(buf, 0);
  return buf;
}

/** ESP32 partition table (ESPHome's default 4 MB layout) + MD5 entry, padded to 0xC00. */
function partitionTable() {
  const rows = [
    ['nvs', 1, 0x02, 0x9000, 0x5000],
    ['otadata', 1, 0x00, 0xe000, 0x2000],
    ['app0', 0, 0x10, 0x10000, 0x1c0000],
    ['app1', 0, 0x11, 0x1d0000, 0x1c0000],
    ['eeprom', 1, 0x99, 0x390000, 0x1000],
    ['spiffs', 1, 0x82, 0x391000, 0x6f000],
  ];
  const table = Buffer.alloc(0xc00, 0xff);
  rows.forEach(([label, type, subtype, offset, size], i) => {
    const o = i * 32;
    table[o] = 0xaa;
    table[o + 1] = 0x50;
    table[o + 2] = type;
    table[o + 3] = subtype;
    table.writeUInt32LE(offset, o + 4);
    table.writeUInt32LE(size, o + 8);
    cString(table, o + 12, label, 16);
    table.writeUInt32LE(0, o + 28);
  });
  const md5At = rows.length * 32;
  table[md5At] = 0xeb;
  table[md5At + 1] = 0xeb;
  crypto.createHash('md5').update(table.subarray(0, md5At)).digest().copy(table, md5At + 16);
  return table;
}

/** Minimal valid UF2 (512-byte blocks, 256-byte payloads, family id). */
function uf2Image(bin, familyId, baseAddr) {
  const blocks = Math.ceil(bin.length / 256);
  const out = Buffer.alloc(blocks * 512);
  for (let i = 0; i < blocks; i++) {
    const o = i * 512;
    out.writeUInt32LE(0x0a324655, o);
    out.writeUInt32LE(0x9e5d5157, o + 4);
    out.writeUInt32LE(0x00002000, o + 8);
    out.writeUInt32LE(baseAddr + i * 256, o + 12);
    out.writeUInt32LE(256, o + 16);
    out.writeUInt32LE(i, o + 20);
    out.writeUInt32LE(blocks, o + 24);
    out.writeUInt32LE(familyId, o + 28);
    bin.copy(out, o + 32, i * 256, Math.min(bin.length, (i + 1) * 256));
    out.writeUInt32LE(0x0ab16f30, o + 508);
  }
  return out;
}

function libretinyOutputs(chip) {
  const c = chip.toLowerCase();
  if (chip.startsWith('BK')) {
    return [
      { title: 'Beken OTA', description: 'For OTA flashing via Beken bootloader (e.g. OpenBeken)', filename: `image_${c}_app.ota.rbl`, public: true },
      { title: 'Tuya UG', description: 'For OTA flashing via Tuya firmware (e.g. tuya-cloudcutter)', filename: `image_${c}_app.ota.ug.bin`, public: true },
      { title: 'Raw application', description: 'Raw application image at 0x11000', filename: `image_${c}_app.0x011000.bin`, public: false },
    ];
  }
  return [
    { title: 'Full flash image', description: 'For flashing with ltchiptool (UART)', filename: `image_${c}_flash.0x000000.bin`, public: true },
    { title: 'OTA image', description: 'Application image for OTA slot 1', filename: `image_${c}_app.ota1.bin`, public: false },
  ];
}

function toolchainDir(model) {
  const core = process.env.PLATFORMIO_CORE_DIR || path.join(os.homedir(), '.platformio');
  if (model.family === 'esp32') {
    const xt = esp32Hardware(model.variant).xtensa;
    return { dir: path.join(core, 'packages', xt ? 'toolchain-xtensa-esp-elf' : 'toolchain-riscv32-esp'), prefix: xt ? `xtensa-${model.variant.toLowerCase()}-elf` : 'riscv32-esp-elf' };
  }
  if (model.family === 'esp8266') return { dir: path.join(core, 'packages', 'toolchain-xtensa'), prefix: 'xtensa-lx106-elf' };
  if (model.family === 'host') return { dir: '/usr', prefix: 'x86_64-linux-gnu' };
  return { dir: path.join(core, 'packages', 'toolchain-gccarmnoneeabi'), prefix: 'arm-none-eabi' };
}

/** Image list (offset, file) an ESP32 serial flash writes besides the app (idedata extra.flash_images). */
export function esp32ExtraImages(model, paths) {
  const hw = esp32Hardware(model.variant);
  return [
    { offset: `0x${hw.bootloader.toString(16)}`, path: path.join(paths.outDir, 'bootloader.bin') },
    { offset: '0x8000', path: path.join(paths.outDir, 'partitions.bin') },
    { offset: '0xe000', path: path.join(paths.outDir, 'ota_data_initial.bin') },
  ];
}

export function idedataFor(model, paths) {
  const tc = toolchainDir(model);
  const defines = [
    'PLATFORMIO=60118',
    `ESPHOME_BOARD="${model.board}"`,
    'ESPHOME_LOG_LEVEL=ESPHOME_LOG_LEVEL_DEBUG',
    model.framework === 'esp-idf' ? 'USE_ESP_IDF' : 'USE_ARDUINO',
    `USE_${model.platformKey.toUpperCase()}`,
  ];
  if (model.variant) defines.push(`USE_ESP32_VARIANT_${model.variant}`);
  return {
    env_name: model.name,
    prog_path: paths.firmwareElf,
    cc_path: path.join(tc.dir, 'bin', `${tc.prefix}-gcc`),
    cxx_path: path.join(tc.dir, 'bin', `${tc.prefix}-g++`),
    gdb_path: path.join(tc.dir, 'bin', `${tc.prefix}-gdb`),
    defines,
    includes: {
      build: [path.join(paths.buildPath, 'src'), path.join(paths.buildPath, 'include')],
      compatlib: [],
      toolchain: [path.join(tc.dir, tc.prefix, 'include')],
    },
    cc_flags: ['-Os', '-Wall', '-ffunction-sections', '-fdata-sections'],
    cxx_flags: ['-std=gnu++20', '-fno-rtti', '-Os', '-Wall'],
    libsource_dirs: [path.join(paths.buildPath, 'lib'), path.join(paths.piolibdeps, model.name)],
    svd_path: null,
    compiler_type: 'gcc',
    targets: [
      { name: 'upload', title: 'Upload', description: null, group: 'Platform' },
      { name: 'size', title: 'Program Size', description: 'Calculate program size', group: 'Platform' },
    ],
    extra: {
      flash_images: model.family === 'esp32' ? esp32ExtraImages(model, paths) : [],
      ...(model.family === 'esp32' ? { application_offset: '0x10000' } : {}),
    },
  };
}

export function storageJson(model, paths, version) {
  return {
    storage_version: 1,
    name: model.name,
    friendly_name: model.friendlyName,
    comment: model.comment,
    esphome_version: version,
    src_version: 1,
    address: model.address,
    web_port: model.webPort,
    esp_platform: model.espPlatform,
    build_path: paths.buildPath,
    firmware_bin_path: paths.firmwareBin,
    loaded_integrations: model.loadedIntegrations,
    loaded_platforms: model.loadedPlatforms,
    no_mdns: model.noMdns,
    framework: model.framework,
    core_platform: model.platformKey,
  };
}

function platformioIni(model, version, platformUrl) {
  const lines = [
    '; Auto generated code by esphome',
    '',
    '[common]',
    'lib_deps =',
    'build_flags =',
    'upload_flags =',
    '',
    '; ========== AUTO GENERATED CODE BEGIN ===========',
    '[platformio]',
    `description = ESPHome ${version}`,
    `[env:${model.name}]`,
    `board = ${model.board}`,
    'build_flags =',
    '    -DESPHOME_LOG_LEVEL=ESPHOME_LOG_LEVEL_DEBUG',
    `    -DUSE_${model.platformKey.toUpperCase()}`,
    `framework = ${model.framework === 'esp-idf' ? 'espidf' : model.framework === 'host' ? '' : 'arduino'}`,
    `platform = ${platformUrl}`,
    '; =========== AUTO GENERATED CODE END ============',
    '',
  ];
  return lines.join('\n');
}

function mainCpp(model, config) {
  const comps = model.loadedIntegrations.map((c) => `// ${c}:`).join('\n');
  return `// Auto generated code by esphome
// Generated by Kiln's esphome simulator: this is not buildable firmware source.
// ========== AUTO GENERATED INCLUDE BLOCK BEGIN ===========
#include "esphome.h"
using namespace esphome;
// ========== AUTO GENERATED INCLUDE BLOCK END ===========

void setup() {
  // ========== AUTO GENERATED CODE BEGIN ===========
  App.pre_setup("${model.name}", "${model.friendlyName ?? ''}", __DATE__ ", " __TIME__);
${comps.split('\n').map((l) => `  ${l}`).join('\n')}
  // config hash ${fnv1a32(JSON.stringify(Object.keys(config)))}
  // =========== AUTO GENERATED CODE END ============
  App.setup();
}

void loop() {
  App.loop();
}
`;
}

/** Codegen-time files (`INFO Generating C++ source...`): .gitignore, src/main.cpp, platformio.ini, StorageJSON. */
export function writeCodegen(ctx) {
  const { model, paths, version, env, config, platformUrl } = ctx;
  if (!env.ESPHOME_NOGITIGNORE && !fs.existsSync(paths.gitignore)) atomicWrite(paths.gitignore, GITIGNORE);
  writeIfChanged(paths.mainCpp, mainCpp(model, config));
  writeIfChanged(paths.platformioIni, platformioIni(model, version, platformUrl));
  atomicWrite(paths.storagePath, `${JSON.stringify(storageJson(model, paths, version), null, 2)}\n`);
}

/** Library install markers so the next build is not a "first build" (cleared by `clean`). */
export function writeLibdeps(ctx, libs) {
  for (const lib of libs) {
    atomicWrite(path.join(ctx.paths.piolibdeps, ctx.model.name, lib.name, 'library.json'), `${JSON.stringify({ name: lib.name, version: lib.version }, null, 2)}\n`);
  }
}

export function writeElf(ctx) {
  atomicWrite(ctx.paths.firmwareElf, elfImage(ctx.plan, ctx.seed));
}

export function removeElf(ctx) {
  fs.rmSync(ctx.paths.firmwareElf, { force: true });
}

/**
 * Write the images of a successful link. Returns extra transcript facts (factory size, uf2 size).
 * @returns {{ factorySize?: number, uf2Size?: number, outputs?: object[] }}
 */
export function writeImages(ctx) {
  const { model, paths, plan, seed, version } = ctx;
  const out = paths.outDir;
  if (model.family === 'esp32') {
    const app = espAppImage(model, plan, seed, version);
    const hw = esp32Hardware(model.variant);
    const bootloader = pseudoRandomBytes(plan.bootloader, seed ^ 0xb007);
    bootloader[0] = 0xe9;
    const partitions = partitionTable();
    const otadata = Buffer.alloc(0x2000, 0xff);
    const factory = Buffer.alloc(0x10000 + app.length, 0xff);
    bootloader.copy(factory, hw.bootloader);
    partitions.copy(factory, 0x8000);
    otadata.copy(factory, 0xe000);
    app.copy(factory, 0x10000);
    atomicWrite(path.join(out, 'bootloader.bin'), bootloader);
    atomicWrite(path.join(out, 'partitions.bin'), partitions);
    atomicWrite(path.join(out, 'ota_data_initial.bin'), otadata);
    if (paths.native) {
      atomicWrite(paths.firmwareBin, app);
      atomicWrite(path.join(out, 'firmware.factory.bin'), factory);
    } else {
      atomicWrite(path.join(out, 'firmware.bin'), app);
      atomicWrite(path.join(out, 'firmware.ota.bin'), app);
      atomicWrite(path.join(out, 'firmware.factory.bin'), factory);
    }
    return { factorySize: factory.length };
  }
  if (model.family === 'esp8266') {
    atomicWrite(path.join(out, 'firmware.bin'), espAppImage(model, plan, seed, version));
    return {};
  }
  if (model.family === 'rp2040') {
    const bin = pseudoRandomBytes(plan.app, seed);
    const uf2 = uf2Image(bin, UF2_FAMILY.RP2040, 0x10000000);
    atomicWrite(path.join(out, 'firmware.bin'), bin);
    atomicWrite(path.join(out, 'firmware.ota.bin'), bin);
    atomicWrite(path.join(out, 'firmware.uf2'), uf2);
    return { uf2Size: uf2.length };
  }
  if (model.family === 'libretiny') {
    const bin = pseudoRandomBytes(plan.app, seed);
    const uf2 = uf2Image(bin, UF2_FAMILY[model.chip] ?? 0, 0x11000);
    const outputs = libretinyOutputs(model.chip);
    outputs.forEach((o, i) => atomicWrite(path.join(out, o.filename), pseudoRandomBytes(plan.app + 64 * i, seed ^ (i + 1))));
    atomicWrite(path.join(out, 'firmware.bin'), bin);
    atomicWrite(path.join(out, 'firmware.uf2'), uf2);
    atomicWrite(path.join(out, 'firmware.json'), `${JSON.stringify(outputs, null, 2)}\n`);
    return { uf2Size: uf2.length, outputs };
  }
  const program = pseudoRandomBytes(plan.app, seed);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46]).copy(program, 0);
  atomicWrite(paths.firmwareBin, program);
  fs.chmodSync(paths.firmwareBin, 0o755);
  return {};
}

export function writeBuildInfo(ctx, buildTime) {
  const info = {
    config_hash: ctx.configHash,
    build_time: Math.floor(buildTime.getTime() / 1000),
    build_time_str: formatBuildTime(buildTime),
    esphome_version: ctx.version,
  };
  atomicWrite(ctx.paths.buildInfoPath, `${JSON.stringify(info, null, 2)}\n`);
}

export function readBuildInfo(paths) {
  try {
    return JSON.parse(fs.readFileSync(paths.buildInfoPath, 'utf8'));
  } catch {
    return null;
  }
}

export function writeIdedata(ctx) {
  atomicWrite(ctx.paths.idedataPath, `${JSON.stringify(idedataFor(ctx.model, ctx.paths), null, 2)}\n`);
}

/** `2025-12-14 10:21:07 +0100` (local time with offset). */
export function formatBuildTime(d) {
  const p = (n) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${sign}${p(Math.floor(abs / 60))}${p(abs % 60)}`;
}

export { pioRel };

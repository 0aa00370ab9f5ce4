// `esphome compile` transcript (esphome-cli.md §2.2–§2.3, §7.2.4): codegen, PlatformIO or ninja
// output with realistic pacing, failure shapes, artifacts before the success line.
import fs from 'node:fs';
import path from 'node:path';
import { floodLines, printFlood } from './flood.mjs';
import {
  formatBuildTime,
  readBuildInfo,
  removeElf,
  writeBuildInfo,
  writeCodegen,
  writeElf,
  writeIdedata,
  writeImages,
  writeLibdeps,
} from './artifacts.mjs';
import { SGR } from './output.mjs';
import { esp32Hardware } from './platforms.mjs';
import { bootloaderSteps, compileTargets, ninjaSteps } from './sources.mjs';
import { isStallScenario, stallForever } from './stall.mjs';
import { sleep, versionAtLeast } from './util.mjs';

/** Base durations in ms (× ESPHOME_SIM_SPEED); `slow` takes the upper end of each range. */
const T = {
  codegen: [500, 2000],
  download: [300, 1500],
  compileLine: [20, 200],
  ninjaStep: [15, 150],
  bootloaderStep: [5, 40],
  link: [1500, 4000],
  image: [300, 1000],
};

/** Compiling-line counts per build kind (§7.2.4). */
const CLEAN_COUNTS = {
  esp32: [300, 1000],
  esp8266: [150, 400],
  rp2040: [200, 500],
  libretiny: [200, 500],
  host: [100, 250],
};
const PARTIAL_COUNT = [20, 80];
const INCREMENTAL_COUNT = [1, 20];
const NINJA_CLEAN = [1200, 1500];
const NINJA_PARTIAL = [30, 90];
const NINJA_INCREMENTAL = [4, 12];

const PLATFORM_URLS = {
  esp32: 'https://github.com/pioarduino/platform-espressif32/releases/download/54.03.21-2/platform-espressif32.zip',
  esp8266: 'platformio/espressif8266@4.2.1',
  rp2040: 'https://github.com/maxgerhardt/platform-raspberrypi.git#v1.2.0-gcc12',
  libretiny: 'libretiny@1.9.1',
  host: 'platformio/native',
};

export function platformUrl(model) {
  return PLATFORM_URLS[model.family] ?? PLATFORM_URLS.host;
}

function dur(ctx, range) {
  return ctx.scenario === 'slow' ? range[1] : ctx.rng.float(range[0], range[1]);
}

function count(ctx, range) {
  return ctx.scenario === 'slow' ? range[1] : ctx.structRng.int(range[0], range[1]);
}

/** clean (no previous link), incremental (same config hash as the last link) or partial. */
function buildKind(ctx) {
  if (ctx.scenario === 'slow') return 'clean';
  if (!fs.existsSync(ctx.paths.firmwareElf)) return 'clean';
  const info = readBuildInfo(ctx.paths);
  return info && info.config_hash === ctx.configHash ? 'incremental' : 'partial';
}

function banner(out, ok, seconds) {
  const word = ok ? out.paint(SGR.boldGreen, 'SUCCESS') : out.paint(SGR.boldRed, 'FAILED');
  const plainLen = `[${ok ? 'SUCCESS' : 'FAILED'}] Took ${seconds} seconds`.length;
  const half = '='.repeat(Math.floor((80 - plainLen - 2) / 2));
  out.line(`${half} [${word}] Took ${seconds} seconds ${half}`);
}

function elapsed(started) {
  return ((Date.now() - started) / 1000).toFixed(2);
}

function libraries(model) {
  const libs = [];
  if (model.family === 'esp32' && model.framework === 'arduino') {
    libs.push({ name: 'Network', version: '3.3.2', registry: false }, { name: 'WiFi', version: '3.3.2', registry: false });
    if (!model.noMdns) libs.push({ name: 'ESPmDNS', version: '3.3.2', registry: false });
    if (model.ota) libs.push({ name: 'Update', version: '3.3.2', registry: false });
  } else if (model.family === 'esp8266') {
    libs.push({ name: 'ESP8266WiFi', version: '1.0', registry: false });
    if (!model.noMdns) libs.push({ name: 'ESP8266mDNS', version: '1.2', registry: false });
  }
  if (model.api) libs.push({ name: 'noise-c', owner: 'esphome', version: '0.1.10', registry: true });
  if (model.loadedIntegrations.includes('web_server_base')) {
    libs.push({ name: model.family === 'esp8266' ? 'ESPAsyncTCP-esphome' : 'AsyncTCP', owner: 'esphome', version: model.family === 'esp8266' ? '2.0.0' : '3.4.5', registry: true });
    libs.push({ name: 'ESPAsyncWebServer-esphome', owner: 'esphome', version: '3.3.0', registry: true });
  }
  if (model.loadedIntegrations.includes('json')) libs.push({ name: 'ArduinoJson', owner: 'bblanchon', version: '7.4.2', registry: true });
  return libs;
}

function hardwareLine(model) {
  if (model.family === 'esp32') return `HARDWARE: ${model.variant} ${esp32Hardware(model.variant).mhz}MHz, 320KB RAM, 4MB Flash`;
  if (model.family === 'esp8266') return 'HARDWARE: ESP8266 80MHz, 80KB RAM, 4MB Flash';
  if (model.family === 'rp2040') return 'HARDWARE: RP2040 133MHz, 264KB RAM, 2MB Flash';
  if (model.family === 'libretiny') return `HARDWARE: ${model.chip} 120MHz, 256KB RAM, 2MB Flash`;
  return 'HARDWARE: native';
}

function frameworkPackage(model) {
  if (model.family === 'esp32') return model.framework === 'esp-idf' ? 'framework-espidf @ 3.50402.0 (5.4.2)' : 'framework-arduinoespressif32 @ 3.3.2';
  if (model.family === 'esp8266') return 'framework-arduinoespressif8266 @ 3.30102.0 (3.1.2)';
  if (model.family === 'rp2040') return 'framework-arduinopico @ 1.30901.0';
  if (model.family === 'libretiny') return 'framework-arduino-api @ 1.1.0';
  return 'tool-scons @ 4.40801.0 (4.8.1)';
}

function usageLine(label, used, total) {
  const pct = (used / total) * 100;
  const blocks = Math.min(10, Math.round(pct / 10));
  return `${label}[${'='.repeat(blocks)}${' '.repeat(10 - blocks)}] ${pct.toFixed(1).padStart(5)}% (used ${used} bytes from ${total} bytes)`;
}

async function pioHeader(ctx, kind) {
  const { out, model } = ctx;
  const fw = model.family === 'esp32' ? (model.framework === 'esp-idf' ? 'espidf' : 'arduino, espidf') : model.framework === 'host' ? 'native' : 'arduino';
  out.line(`Processing ${out.paint(SGR.boldCyan, model.name)} (board: ${model.board}; framework: ${fw}; platform: ${ctx.platformUrl})`);
  out.line('-'.repeat(80));
  if (out.verbose) {
    out.line(`CONFIGURATION: https://docs.platformio.org/page/boards/${model.family}/${model.board}.html`);
    out.line(`PLATFORM: ${model.family} > ${model.board}`);
  }
  out.line(hardwareLine(model));
  out.line(` - ${frameworkPackage(model)}`);
  const libs = libraries(model);
  const firstBuild = !fs.existsSync(path.join(ctx.paths.piolibdeps, model.name));
  if (firstBuild) {
    for (const lib of libs.filter((l) => l.registry)) {
      out.line(`Library Manager: Installing ${lib.owner}/${lib.name} @ ${lib.version}`);
      await out.pause(dur(ctx, T.download));
      out.line(`Downloading  [${'#'.repeat(36)}]  100%`);
      out.line(`Unpacking  [${'#'.repeat(36)}]  100%`);
      out.line(`Library Manager: ${lib.name}@${lib.version} has been installed!`);
    }
    writeLibdeps(ctx, libs.filter((l) => l.registry));
  }
  if (out.verbose) {
    out.line('LDF: Library Dependency Finder -> https://bit.ly/configure-pio-ldf');
    out.line('LDF Modes: Finder ~ chain, Compatibility ~ soft');
    out.line(`Found ${30 + libs.length} compatible libraries`);
    out.line('Scanning dependencies...');
  }
  out.line('Dependency Graph');
  for (const lib of libs) out.line(`|-- ${lib.name} @ ${lib.version}`);
  if (out.verbose) out.line('Building in release mode');
  return kind;
}

function printCompileError(ctx, sourcePath) {
  const { out } = ctx;
  out.line(`${sourcePath}: In lambda function:`);
  out.line(`${sourcePath}:412:7: ${out.paint(SGR.boldRed, 'error:')} 'foo' was not declared in this scope`);
  out.line('  412 |       foo();');
  out.line('      |       ^~~');
}

function printLinkError(ctx, objPath) {
  const { out, model } = ctx;
  const ld = `${model.family === 'esp8266' ? 'xtensa-lx106-elf' : 'xtensa-esp32-elf'}/bin/ld`;
  out.line(`${ld}: ${objPath}:(.literal._Z5setupv+0x2c): undefined reference to \`esphome::sim::missing_symbol()'`);
  out.line(`${ld}: ${objPath}: in function \`setup()':`);
  out.line(`src/main.cpp:218:(.text._Z5setupv+0x1a4): undefined reference to \`esphome::sim::missing_symbol()'`);
  out.line('collect2: error: ld returned 1 exit status');
}

/** PlatformIO/SCons `Compiling …` phase. Returns false when the build failed. */
async function pioCompile(ctx, kind, started) {
  const { out, model } = ctx;
  const range = kind === 'clean' ? (CLEAN_COUNTS[model.family] ?? CLEAN_COUNTS.host) : kind === 'partial' ? PARTIAL_COUNT : INCREMENTAL_COUNT;
  const n = count(ctx, range);
  const failCompile = ctx.scenario === 'compile-error';
  const steps = compileTargets(model, n, ctx.structRng, failCompile, kind);
  const stallAt = isStallScenario(ctx.scenario) ? Math.max(1, Math.floor(steps.length * 0.25)) : -1;
  let compiles = 0;
  for (const step of steps) {
    if (compiles === stallAt) await stallForever(ctx, 'compile');
    if (step.kind === 'archive') {
      out.line(`Archiving ${step.path}`);
      out.line(`Indexing ${step.path}`);
      continue;
    }
    compiles++;
    out.line(`Compiling ${step.path}`);
    await out.pause(dur(ctx, T.compileLine));
    if (failCompile && step.path.endsWith('/src/main.cpp.o')) {
      printCompileError(ctx, 'src/main.cpp');
      out.line(`*** [${step.path}] Error 1`);
      banner(out, false, elapsed(started));
      return false;
    }
  }
  return true;
}

/** Ninja counter phase (esp-idf). Returns false when the build failed. */
async function ninjaCompile(ctx, kind, started) {
  const { out, model } = ctx;
  const total = count(ctx, kind === 'clean' ? NINJA_CLEAN : kind === 'partial' ? NINJA_PARTIAL : NINJA_INCREMENTAL);
  // The bootloader is an ExternalProject: a few main steps run first, then its own counter.
  const bootloaderAt = kind === 'clean' ? ctx.structRng.int(6, 14) : -1;
  const steps = ninjaSteps(model, total, bootloaderAt);
  const failAt = ctx.scenario === 'compile-error' ? Math.floor(total * 0.4) : -1;
  const stallAt = isStallScenario(ctx.scenario) ? Math.max(2, Math.floor(total * 0.25)) : -1;
  const linkStep = total - 1;
  for (let i = 1; i <= total; i++) {
    if (i === stallAt) {
      out.stdout('\n');
      await stallForever(ctx, 'ninja');
    }
    const label = i === failAt ? 'Building CXX object esp-idf/main/CMakeFiles/__idf_main.dir/main.cpp.obj' : steps[i - 1];
    const failing = i === failAt || (i === linkStep && ctx.scenario === 'link-error' && ctx.paths.native);
    out.stdout(`[${i}/${total}] ${label}\r${failing || i === total ? '\n' : ''}`);
    await out.pause(dur(ctx, T.ninjaStep));
    if (i === bootloaderAt) {
      const bootTotal = ctx.structRng.int(121, 125);
      const bootSteps = bootloaderSteps(bootTotal);
      for (let b = 1; b <= bootTotal; b++) {
        out.stdout(`[${b}/${bootTotal}] ${bootSteps[b - 1]}\r${b === bootTotal ? '\n' : ''}`);
        await out.pause(dur(ctx, T.bootloaderStep));
      }
    }
    if (i === failAt) {
      out.line('FAILED: esp-idf/main/CMakeFiles/__idf_main.dir/main.cpp.obj');
      printCompileError(ctx, path.join(ctx.paths.buildPath, 'src', 'main.cpp'));
      out.line('ninja: build stopped: subcommand failed.');
      if (!ctx.paths.native) banner(out, false, elapsed(started));
      return false;
    }
    if (failing) {
      out.line(`FAILED: ${model.name}.elf`);
      printLinkError(ctx, 'esp-idf/main/libmain.a(main.cpp.obj)');
      out.line('ninja: build stopped: subcommand failed.');
      removeElf(ctx);
      return false;
    }
  }
  return true;
}

/** Link + images (PlatformIO shape). Returns false on link-error. */
async function pioLink(ctx, started) {
  const { out, model, paths, plan } = ctx;
  const env = `.pioenvs/${model.name}`;
  out.line(`Linking ${env}/firmware.elf`);
  await out.pause(dur(ctx, T.link));
  if (ctx.scenario === 'link-error') {
    printLinkError(ctx, `${env}/src/main.cpp.o`);
    out.line(`*** [${env}/firmware.elf] Error 1`);
    removeElf(ctx);
    banner(out, false, elapsed(started));
    return false;
  }
  writeElf(ctx);
  if (plan.ramTotal > 0) {
    out.line(usageLine('RAM:   ', plan.ramUsed, plan.ramTotal));
    out.line(usageLine('Flash: ', plan.flashUsed, plan.flashTotal));
  }
  if (model.family !== 'host') out.line(`Building ${env}/firmware.bin`);
  await out.pause(dur(ctx, T.image));
  const facts = writeImages(ctx);
  if (model.family === 'esp32') {
    out.line('Creating esp32 image...');
    out.line('Successfully created esp32 image.');
    out.line(`Wrote 0x${facts.factorySize.toString(16)} bytes to file ${path.join(paths.envDir, 'firmware.factory.bin')}, ready to flash to offset 0x0`);
  } else if (model.family === 'rp2040') {
    out.line(`Converting to uf2, output size: ${facts.uf2Size}, start address: 0x2000`);
    out.line(`Wrote ${facts.uf2Size} bytes to ${env}/firmware.uf2`);
  } else if (model.family === 'libretiny') {
    facts.outputs.forEach((o, i) => out.line(`|-- Image ${i + 1}: ${o.filename}`));
    out.line(`|-- Building UF2 OTA package: ${env}/firmware.uf2`);
  }
  return true;
}

/** Native IDF tail: the ninja counter already linked; write the images. */
function nativeImages(ctx) {
  writeElf(ctx);
  writeImages(ctx);
  ctx.out.line(`Project build complete. Firmware: ${ctx.paths.firmwareBin}`);
}

/**
 * The compile half of `compile` and `run`. Returns the exit code.
 * @param {Record<string, any>} ctx command context (see sim.mjs)
 */
export async function runCompile(ctx, { onlyGenerate = false } = {}) {
  const { out, paths } = ctx;
  out.info('Generating C++ source...');
  await out.pause(dur(ctx, T.codegen));
  writeCodegen(ctx);
  if (onlyGenerate) {
    out.info('Successfully generated source code.');
    return 0;
  }
  const kind = buildKind(ctx);
  out.info(versionAtLeast(ctx.version, '2025.11') ? `Compiling app... Build path: ${paths.buildPath}` : 'Compiling app...');
  const started = Date.now();
  const flood = floodLines(ctx.env);
  if (flood > 0) await printFlood(out.outStream, ctx.model.name, flood);
  const ninja = ctx.model.family === 'esp32' && ctx.model.framework === 'esp-idf';
  if (!paths.native) await pioHeader(ctx, kind);
  if (ninja) {
    if (!paths.native) {
      out.line('Reading CMake configuration...');
      out.line(`Generating partitions .pioenvs/${ctx.model.name}/partitions.bin`);
    }
    if (!(await ninjaCompile(ctx, kind, started))) return 1;
  } else if (!(await pioCompile(ctx, kind, started))) return 1;
  if (paths.native) nativeImages(ctx);
  else if (!(await pioLink(ctx, started))) return 1;
  // `# sim-build-ms: N`: pad to N ms of real time since the process started (scenario.mjs).
  if (ctx.buildMs > 0) await sleep(ctx.buildMs - process.uptime() * 1000);
  const buildTime = new Date();
  writeBuildInfo(ctx, buildTime);
  if (!paths.native) banner(out, true, elapsed(started));
  writeIdedata(ctx);
  if (versionAtLeast(ctx.version, '2025.12')) {
    out.info(`Build Info: config_hash=0x${ctx.configHash.toString(16).padStart(8, '0')} build_time_str=${formatBuildTime(buildTime)}`);
  }
  out.info('Successfully compiled program.');
  return 0;
}

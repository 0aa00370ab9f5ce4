// `esphome upload` (esphome-cli.md §1.5, §5, §7.2.7): device resolution, OTA with the `\r`
// progress bar on stderr, esptool v5 serial transcript, failure scenarios.
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { esp32ExtraImages } from './artifacts.mjs';
import { esp32Hardware } from './platforms.mjs';
import { isStallScenario, stallForever } from './stall.mjs';
import { SimError, fnv1a32, pyList } from './util.mjs';

const T = {
  connect: [200, 800],
  otaTotal: [5000, 15000],
  result: [500, 2000],
  serialConnect: [500, 1500],
  serialImage: [2000, 12000],
};

function dur(ctx, range) {
  return ctx.scenario === 'slow' ? range[1] : ctx.rng.float(range[0], range[1]);
}

export function portType(device) {
  if (device.startsWith('/') || device.startsWith('COM')) return 'SERIAL';
  if (device === 'MQTT' || device === 'MQTTIP') return 'MQTT';
  return 'NETWORK';
}

/**
 * Resolve --device values like choose_upload_log_host: `OTA` → the config's address when the
 * relevant section (ota for uploads, api for logs) exists; everything else is taken literally.
 */
export function resolveDevices(ctx, devices, purpose) {
  if (!devices || devices.length === 0) {
    throw new SimError(`No --device given for ${purpose}. The real CLI would prompt on stdin; Kiln's esphome simulator never reads stdin, pass --device <port|OTA|host>`, 1);
  }
  const { model } = ctx;
  const resolved = [];
  for (const d of devices) {
    if (d === 'OTA') {
      const ok = purpose === 'uploading' ? model.ota !== null : model.api;
      if (model.address && ok) resolved.push(model.address);
    } else if (d === 'SERIAL') {
      ctx.out.warning('No serial ports found, skipping SERIAL device');
    } else resolved.push(d);
  }
  if (resolved.length === 0) throw new SimError(`All specified devices: ${pyList(devices)} could not be resolved.`, 1);
  return resolved;
}

/** Host → IP: literal IPs pass through; caches from --mdns/--dns-address-cache; else a stable fake LAN IP. */
export function resolveIp(ctx, host) {
  if (net.isIP(host)) return host;
  for (const entry of [...(ctx.globals.mdnsAddressCache ?? []), ...(ctx.globals.dnsAddressCache ?? [])]) {
    const [h, ips] = String(entry).split('=');
    if (h === host && ips) return ips.split(',')[0];
  }
  return `192.168.1.${20 + (fnv1a32(host) % 200)}`;
}

function otaBar(percent, done) {
  const block = Math.round(60 * (percent / 100));
  return `\rUploading: [${'='.repeat(block)}${' '.repeat(60 - block)}] ${percent}% ${done ? 'Done...\r\n' : ''}`;
}

function firmwareFor(ctx, file) {
  if (file) {
    const abs = path.resolve(file);
    if (!fs.existsSync(abs)) throw new SimError(`Firmware file ${abs} does not exist`, 1);
    return abs;
  }
  const fw = ctx.paths.firmwareBin;
  if (!fs.existsSync(fw)) {
    throw new SimError(`Firmware file ${fw} not found. Compile the configuration first (esphome compile ${ctx.configPath}).`, 1);
  }
  return fw;
}

async function uploadOta(ctx, host, file) {
  const { out, model } = ctx;
  const ota = model.ota;
  if (!ota || !ota.platforms.some((p) => p === 'esphome' || p === 'web_server')) {
    throw new SimError('Cannot upload Over the Air as the ota configuration is not present or does not include platform: esphome or platform: web_server', 1);
  }
  const image = firmwareFor(ctx, file);
  const ip = resolveIp(ctx, host);
  out.info(`Connecting to ${ip} port ${ota.port}...`);
  await out.pause(dur(ctx, T.connect));
  if (ctx.scenario === 'ota-fail') {
    out.error(`Connecting to ${ip} port ${ota.port} failed: [Errno 111] Connection refused`);
    out.error('Connection failed.');
    return 1;
  }
  out.info(`Connected to ${ip}`);
  const size = fs.statSync(image).size;
  out.info(`Uploading ${image} (${size} bytes)`);
  if (model.family === 'esp8266') out.info(`Compressed to ${Math.floor(size * 0.68)} bytes`);
  const started = Date.now();
  const total = dur(ctx, T.otaTotal);
  const stallAt = isStallScenario(ctx.scenario) ? 37 : -1;
  for (let p = 0; p <= 100; p++) {
    if (p === stallAt) await stallForever(ctx, 'upload');
    out.stderr(otaBar(p, p === 100));
    if (p < 100) await out.pause(total / 100);
  }
  out.stderr('\n');
  out.info(`Upload took ${((Date.now() - started) / 1000).toFixed(2)} seconds, waiting for result...`);
  await out.pause(dur(ctx, T.result));
  out.info('OTA successful');
  return 0;
}

function v5Bar(offset, written, total, rawSize) {
  const frac = total === 0 ? 1 : written / total;
  const filled = Math.floor(30 * frac);
  const bar = frac >= 1 ? '='.repeat(30) : `${'='.repeat(filled)}${filled > 0 ? '>' : ' '}${' '.repeat(Math.max(0, 29 - filled))}`;
  const addr = `0x${(offset + Math.floor(rawSize * frac)).toString(16).padStart(8, '0')}`;
  return `Writing at ${addr} [${bar.slice(0, 30)}] ${(frac * 100).toFixed(1).padStart(5)}% ${written}/${total} bytes...`;
}

async function esptoolConnect(ctx, device, baud, chipShort) {
  const { out } = ctx;
  out.line('esptool v5.1.0');
  out.line(`Serial port ${device}:`);
  await out.pause(dur(ctx, T.serialConnect));
  if (ctx.scenario === 'serial-fail') {
    out.line('Connecting......................................');
    out.line('');
    out.line(`A fatal error occurred: Failed to connect to ${chipShort}: No serial data received.`);
    out.line('For troubleshooting steps visit: https://docs.espressif.com/projects/esptool/en/latest/troubleshooting.html');
    return false;
  }
  out.line('Connecting....');
  return true;
}

async function esptoolRun(ctx, device, baud, images) {
  const { out, model } = ctx;
  const hw = model.family === 'esp32' ? esp32Hardware(model.variant) : { chip: 'ESP8266EX', chipShort: 'ESP8266' };
  if (!(await esptoolConnect(ctx, device, baud, hw.chipShort))) return 2;
  out.line(`Connected to ${hw.chipShort} on ${device}:`);
  out.line(`Chip type:          ${hw.chip}`);
  out.line('Crystal frequency:  40MHz');
  out.line(`MAC:                a0:b7:65:${(fnv1a32(device) & 0xffffff).toString(16).padStart(6, '0').replace(/(..)(..)(..)/, '$1:$2:$3')}`);
  out.line('');
  out.line('Uploading stub flasher...');
  out.line('Running stub flasher...');
  out.line('Stub flasher running.');
  if (Number(baud) !== 115200) {
    out.line(`Changing baud rate to ${baud}...`);
    out.line('Changed.');
  }
  out.line('');
  out.line('Configuring flash size...');
  const stallImage = isStallScenario(ctx.scenario) ? 0 : -1;
  for (let idx = 0; idx < images.length; idx++) {
    const img = images[idx];
    const size = fs.statSync(img.path).size;
    const offset = Number(img.offset);
    const compressed = Math.max(1, Math.floor(size * 0.63));
    out.line(`Flash will be erased from 0x${offset.toString(16).padStart(8, '0')} to 0x${(offset + Math.ceil(size / 4096) * 4096 - 1).toString(16).padStart(8, '0')}...`);
    out.line(`Compressed ${size} bytes to ${compressed}...`);
    const imageTime = dur(ctx, T.serialImage) * Math.min(1, size / 1_000_000 + 0.05);
    const steps = size > 100_000 ? 10 : 1;
    const imageStarted = Date.now();
    out.line(v5Bar(offset, 0, compressed, size));
    for (let s = 1; s <= steps; s++) {
      if (idx === stallImage && s === Math.ceil(steps / 2)) await stallForever(ctx, 'esptool');
      await out.pause(imageTime / steps);
      out.line(v5Bar(offset, Math.floor((compressed * s) / steps), compressed, size));
    }
    const secs = Math.max((Date.now() - imageStarted) / 1000, 0.1);
    out.line(`Wrote ${size} bytes (${compressed} compressed) at 0x${offset.toString(16).padStart(8, '0')} in ${secs.toFixed(1)} seconds (${((compressed * 8) / 1000 / secs).toFixed(1)} kbit/s).`);
    out.line('Hash of data verified.');
  }
  out.line('');
  out.line('Hard resetting via RTS pin...');
  return 0;
}

async function uploadSerial(ctx, device, opts) {
  const { out, model, paths } = ctx;
  if (ctx.scenario === 'serial-fail' && !fs.existsSync(device)) {
    throw new SimError('The selected serial port does not exist. To resolve this issue, check that the device is connected to this computer with a USB cable and that the USB cable can be used for data and is not a power-only cable.', 1);
  }
  if (model.family === 'esp32' || model.family === 'esp8266') {
    let images;
    if (opts.file) images = [{ offset: '0x0', path: firmwareFor(ctx, opts.file) }];
    else {
      const app = firmwareFor(ctx, null);
      images = [{ offset: model.family === 'esp32' ? '0x10000' : '0x0', path: app }];
      if (model.family === 'esp32') images.push(...esp32ExtraImages(model, paths).filter((i) => fs.existsSync(i.path)));
    }
    const baud = Number(opts.uploadSpeed ?? process.env.ESPHOME_UPLOAD_SPEED ?? 460800);
    let rc = await esptoolRun(ctx, device, baud, images);
    if (rc !== 0 && baud !== 115200) {
      out.info(`Upload with baud rate ${baud} failed. Trying again with baud rate 115200.`);
      rc = await esptoolRun(ctx, device, 115200, images);
    }
    return rc;
  }
  // RP2040 / LibreTiny: `platformio run -t upload -t nobuild`
  const image = firmwareFor(ctx, opts.file ?? null);
  const uf2 = model.family === 'rp2040' ? path.join(paths.envDir, 'firmware.uf2') : image;
  out.line(`Processing ${model.name} (board: ${model.board}; framework: arduino; platform: ${ctx.platformUrl})`);
  out.line('-'.repeat(80));
  if (ctx.scenario === 'serial-fail') {
    out.line(`Error: Please specify \`upload_port\` for environment or use global \`--upload-port\` option. (${device})`);
    out.line(`*** [upload] Explicit exit, status 1`);
    return 1;
  }
  out.line('Configuring upload protocol...');
  out.line(`Looking for upload port... ${device}`);
  out.line(`Uploading .pioenvs/${model.name}/${path.basename(uf2)}`);
  await out.pause(dur(ctx, T.serialImage));
  if (model.family === 'rp2040') {
    out.line(`Resetting ${device}`);
    out.line('Converting to uf2, output size: done, start address: 0x2000');
    out.line('Scanning for RP2040 devices');
    out.line('Flashing /media/RPI-RP2 (RPI-RP2)');
    out.line(`Wrote ${fs.statSync(uf2).size} bytes to /media/RPI-RP2/NEW.UF2`);
  } else {
    out.line(`|-- Connecting to '${model.chip}' on ${device} @ 115200`);
    out.line(`|-- Writing '${path.basename(uf2)}'`);
    out.line('|-- Finished in 21.402 s');
  }
  return 0;
}

/**
 * Upload to each resolved device until one works (command_upload).
 * @returns {Promise<{ rc: number, device?: string }>}
 */
export async function runUpload(ctx, opts, { resolved } = {}) {
  const { out } = ctx;
  const devices = resolved ?? resolveDevices(ctx, opts.device, 'uploading');
  let rc = 1;
  for (const device of devices) {
    out.info(`Uploading to ${device}`);
    rc = portType(device) === 'SERIAL' ? await uploadSerial(ctx, device, opts) : await uploadOta(ctx, device, opts.file);
    if (rc === 0) {
      out.info('Successfully uploaded program.');
      return { rc: 0, device };
    }
    out.warning(`Failed to upload to ${pyList([device])}`);
  }
  return { rc };
}

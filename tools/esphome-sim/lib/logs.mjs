// `esphome logs` and the tail of `run` (esphome-cli.md §7.2.8–§7.2.9): timestamped device log
// lines until killed.
import { portType, resolveIp } from './upload.mjs';
import { SimError } from './util.mjs';

const LEVEL_COLOURS = { E: '1;31', W: '0;33', I: '0;32', C: '0;35', D: '0;36', V: '0;37' };

function stamp() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `[${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}]`;
}

function deviceLine(out, level, tag, message) {
  const text = `[${level}][${tag}]: ${message}`;
  return `${stamp()}${out.paint(LEVEL_COLOURS[level] ?? '0', text)}`;
}

/** Never returns: prints log lines until a signal ends the process. */
export async function tailLogs(ctx, device) {
  const { out, model } = ctx;
  if (!model.logger) throw new SimError('Logger is not configured!', 1);
  const type = portType(device);
  if (type === 'SERIAL') {
    out.info(`Starting log output from ${device} with baud rate ${model.logger.baud}`);
  } else if (type === 'NETWORK' && model.api) {
    const ip = ctx.resolveIp ? ctx.resolveIp(device) : resolveIp(ctx, device);
    out.info(`Starting log output from ${device} using esphome API`);
    await out.pause(300);
    out.info(`Successfully connected to ${model.name} @ ${ip} in 0.006s`);
    out.info(`Successful handshake with ${model.name} @ ${ip} in 0.048s`);
  } else {
    throw new SimError('No remote or local logging method configured (api/mqtt/logger)', 1);
  }
  out.line(deviceLine(out, 'I', 'app:100', `ESPHome version ${ctx.version} compiled on Dec 14 2025, 10:21:07`));
  out.line(deviceLine(out, 'C', 'wifi:600', `  Local MAC: A0:B7:65:12:34:56`));
  out.line(deviceLine(out, 'C', 'logger:177', 'Logger: Max Level: DEBUG, Initial Level: DEBUG'));
  let t = 21.5;
  let n = 0;
  for (;;) {
    await out.idle(ctx.rng.float(1000, 3000));
    t += ctx.rng.float(-0.2, 0.2);
    n++;
    if (n % 5 === 0) out.line(deviceLine(out, 'D', 'sensor:093', `'Uptime': Sending state ${(n * 15).toFixed(5)} s with 0 decimals of accuracy`));
    else out.line(deviceLine(out, 'D', 'sensor:093', `'Temperature': Sending state ${t.toFixed(5)} °C with 1 decimals of accuracy`));
  }
}

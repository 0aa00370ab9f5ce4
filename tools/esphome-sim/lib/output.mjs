// Everything the simulator prints goes through Output: stream choice (esphome-cli.md §2.1),
// ESPHome log levels, SGR colour, the `--dashboard` ESC→"\033" rewrite, and paced pauses.
import { sleep } from './util.mjs';

export const LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

// esphome/log.py colours the whole log line.
const LEVEL_SGR = { DEBUG: '36', INFO: '32', WARNING: '33', ERROR: '31', CRITICAL: '31' };

export const SGR = {
  bold: '1',
  red: '31',
  green: '32',
  yellow: '33',
  cyan: '36',
  boldRed: '1;31',
  boldGreen: '1;32',
  boldCyan: '1;36',
  boldWhite: '1;37',
};

export class Output {
  /**
   * @param {{ colour: boolean, dashboard: boolean, logLevel: string, speed: number,
   *           stdout?: NodeJS.WritableStream, stderr?: NodeJS.WritableStream }} opts
   */
  constructor(opts) {
    this.colour = opts.colour;
    this.dashboard = opts.dashboard;
    this.threshold = LEVELS[opts.logLevel] ?? LEVELS.INFO;
    this.speed = opts.speed;
    this.outStream = opts.stdout ?? process.stdout;
    this.errStream = opts.stderr ?? process.stderr;
  }

  get verbose() {
    return this.threshold <= LEVELS.DEBUG;
  }

  get quiet() {
    return this.threshold >= LEVELS.CRITICAL;
  }

  /** Under --dashboard every ESC byte becomes the literal four characters `\033`. */
  escape(text) {
    return this.dashboard ? text.replaceAll('\x1b', '\\033') : text;
  }

  paint(code, text) {
    return this.colour ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** Raw write to stdout (caller supplies terminators, e.g. `\r` for ninja counters). */
  stdout(text) {
    this.outStream.write(this.escape(text));
  }

  stderr(text) {
    this.errStream.write(this.escape(text));
  }

  /** One PlatformIO / plain-print line on stdout. */
  line(text = '') {
    this.stdout(`${text}\n`);
  }

  log(level, message) {
    if ((LEVELS[level] ?? 0) < this.threshold) return;
    this.stderr(`${this.paint(LEVEL_SGR[level], `${level} ${message}`)}\n`);
  }

  debug(message) {
    this.log('DEBUG', message);
  }

  info(message) {
    this.log('INFO', message);
  }

  warning(message) {
    this.log('WARNING', message);
  }

  error(message) {
    this.log('ERROR', message);
  }

  /** A simulated pause: `baseMs × ESPHOME_SIM_SPEED`; speed 0 never touches a timer. */
  async pause(baseMs) {
    const ms = baseMs * this.speed;
    if (ms > 0) await sleep(ms);
  }

  /** Pause inside an endless stream (logs, orphaned writers): never a busy loop, even at speed 0. */
  async idle(baseMs) {
    await sleep(Math.max(baseMs * this.speed, 5));
  }
}

// ESPHOME_SIM_LOG: one JSON line per invocation with argv, cwd and the env variables Kiln's
// invocation contract sets (esphome-cli.md §6.2), plus process facts tests want to assert
// (own process group, closed stdin) without the simulator ever reading stdin.
import fs from 'node:fs';

export const LOGGED_ENV = [
  'PLATFORMIO_FORCE_ANSI',
  'FORCE_COLOR',
  'CLICOLOR_FORCE',
  'PYTHONUNBUFFERED',
  'PYTHONUTF8',
  'PYTHONIOENCODING',
  'ESPHOME_DATA_DIR',
  'ESPHOME_IS_HA_ADDON',
  'ESPHOME_BUILD_PATH',
  'ESPHOME_NOGITIGNORE',
  'ESPHOME_SIM_SCENARIO',
  'ESPHOME_SIM_SPEED',
  'ESPHOME_SIM_SEED',
  'ESPHOME_SIM_VERSION',
];

/** Linux: process group id from /proc/self/stat (field 5); null elsewhere. */
export function ownPgid() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[2]);
  } catch {
    return null;
  }
}

/** What fd 0 is: 'closed', 'devnull' (stdio 'ignore'), 'pipe', 'tty', 'file' or 'other'. */
export function stdinKind() {
  let st;
  try {
    st = fs.fstatSync(0);
  } catch {
    return 'closed';
  }
  if (st.isFIFO()) return 'pipe';
  if (st.isFile()) return 'file';
  if (st.isCharacterDevice()) {
    try {
      const devnull = fs.statSync('/dev/null');
      if (devnull.rdev === st.rdev) return 'devnull';
    } catch {
      // no /dev/null: fall through
    }
    return 'tty';
  }
  if (st.isSocket()) return 'pipe';
  return 'other';
}

export function appendSimLog(extra) {
  const file = process.env.ESPHOME_SIM_LOG;
  if (!file) return;
  const env = {};
  for (const k of LOGGED_ENV) env[k] = process.env[k] ?? null;
  const entry = {
    time: new Date().toISOString(),
    pid: process.pid,
    ppid: process.ppid,
    pgid: ownPgid(),
    cwd: process.cwd(),
    stdin: stdinKind(),
    env,
    ...extra,
  };
  try {
    // One write() of one line: O_APPEND keeps concurrent invocations from interleaving.
    fs.appendFileSync(file, `${JSON.stringify(entry)}\n`);
  } catch {
    // logging must never change the simulated CLI's behaviour
  }
}

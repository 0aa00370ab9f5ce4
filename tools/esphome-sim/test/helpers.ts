// Test scaffolding for the simulator: real subprocesses of tools/esphome-sim/esphome in temp
// workspaces seeded with the examples, with a clean environment (no inherited colour or sim vars).
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const SIM = resolve(__dirname, '../esphome');
export const EXAMPLES = resolve(__dirname, '../examples');

export interface SimResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const STRIPPED = /^(FORCE_COLOR|NO_COLOR|CLICOLOR_FORCE|PLATFORMIO_FORCE_COLOR|PLATFORMIO_FORCE_ANSI|ESPHOME_.*)$/;

/** Inherited env minus anything that changes simulator output, plus ESPHOME_SIM_SPEED=0. */
export function simEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!STRIPPED.test(k)) env[k] = v;
  env.ESPHOME_SIM_SPEED = '0';
  env.ESPHOME_SIM_ORPHAN_TTL = '30';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface Workspace {
  dir: string;
  path(...parts: string[]): string;
  read(...parts: string[]): string;
  cleanup(): void;
}

/** A temp config dir holding a copy of the examples. */
export function workspace(): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-esphome-sim-'));
  cpSync(EXAMPLES, dir, { recursive: true, filter: (src) => !/\.esphome(bundle)?\b/.test(src.slice(EXAMPLES.length)) });
  return {
    dir,
    path: (...parts) => join(dir, ...parts),
    read: (...parts) => readFileSync(join(dir, ...parts), 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** All stdio closed (a grandchild holding the pipe delays this). */
  exited: Promise<SimResult>;
  /** The direct child exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start the simulator; `detached` puts it in its own process group (for group signals). */
export function startSim(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; detached?: boolean }): Running {
  const child = spawn(SIM, args, {
    cwd: opts.cwd,
    env: opts.env ?? simEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<SimResult>((resolveExit) => {
    child.on('close', (code, signal) => resolveExit({ code, signal, stdout: out, stderr: err }));
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.on('exit', (code, signal) => resolveExit({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exited, exit };
}

export async function runSim(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<SimResult> {
  const r = startSim(args, opts);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
  try {
    return await r.exited;
  } finally {
    clearTimeout(timer);
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Is any process left in process group `pgid`? (zombies count as gone) */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  // kill(-pgid, 0) also succeeds for zombies; confirm a live member via /proc when available.
  try {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      const stat = procStat(Number(pid));
      if (stat && stat.pgid === pgid && stat.state !== 'Z') return true;
    }
    return false;
  } catch {
    return true;
  }
}

/** /proc/<pid>/stat → state and process group (Linux). */
export function procStat(pid: number): { state: string; ppid: number; pgid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '', ppid: Number(rest[1]), pgid: Number(rest[2]) };
  } catch {
    return null;
  }
}

export function killGroup(pgid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

export interface SimLogEntry {
  role: string;
  pid: number;
  ppid: number;
  pgid: number | null;
  argv?: string[];
  cwd: string;
  stdin: string;
  env: Record<string, string | null>;
}

export function readSimLog(file: string): SimLogEntry[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as SimLogEntry);
}

/** Strip real SGR codes (for content assertions independent of colour). */
export function plain(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}

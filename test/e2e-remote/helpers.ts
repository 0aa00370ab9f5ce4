// Real-process helpers for the remote-build end-to-end tests: `kiln` children (receiver, pair,
// build) run from the TypeScript sources, the esphome simulator, ESPHOME_SIM_LOG parsing and
// /proc-based liveness checks (a zombie counts as gone: it has exited, only its parent has not
// reaped it yet).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../support/wait-until';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIM = join(REPO_ROOT, 'tools/esphome-sim/esphome');
export const SIM_CMD = `${process.execPath} ${SIM}`;
export const KILN = join(REPO_ROOT, 'main/headless/cli/kiln.ts');

export interface KilnChild {
  proc: ChildProcessWithoutNullStreams;
  out: string[];
  err: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  text(): string;
}

/** `node --import tsx main/headless/cli/kiln.ts <args>` with captured stdout/stderr lines. */
export function spawnKiln(args: string[], env: Record<string, string | undefined> = {}, opts: { stdin?: string } = {}): KilnChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', KILN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, KILN_FROM_SOURCE: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const err: string[] = [];
  const lines = (into: string[]) => {
    let buf = '';
    return (c: Buffer) => {
      buf += c.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop()!;
      into.push(...parts);
    };
  };
  proc.stdout.on('data', lines(out));
  proc.stderr.on('data', lines(err));
  if (opts.stdin !== undefined) proc.stdin.end(opts.stdin);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  return { proc, out, err, exit, text: () => [...out, ...err.map((l) => `[stderr] ${l}`)].join('\n') };
}

export interface BuildServerChild extends KilnChild {
  ready: { port: number; pin: string; pairing_key: string | null; data_dir: string; esphome_version: string; auto_provision_supported?: boolean };
}

/** `managed`: no --esphome (the receiver's default managed toolchain); else the simulator. */
export async function startReceiver(dataDir: string, pairingKey: string, env: Record<string, string> = {}, opts: { managed?: boolean } = {}): Promise<BuildServerChild> {
  const esphome = opts.managed ? [] : ['--esphome', SIM_CMD];
  const child = spawnKiln(['receiver', '--host', '127.0.0.1', '--port', '0', '--no-mdns', ...esphome, '--data-dir', dataDir, '--pairing-key', pairingKey], {
    ESPHOME_SIM_SPEED: '0',
    ESPHOME_NOGITIGNORE: '1',
    ESPHOME_SIM_ORPHAN_TTL: '60',
    ...env,
  }) as BuildServerChild;
  const line = await waitUntil(() => child.out.find((l) => l.startsWith('KILN_RECEIVER_READY ')), { timeoutMs: 30_000, what: () => `receiver ready (output so far:\n${child.text()})` });
  child.ready = JSON.parse(line.slice('KILN_RECEIVER_READY '.length));
  return child;
}

export interface SimLogEntry {
  /** ISO time the invocation started. */
  time: string;
  pid: number;
  ppid: number;
  pgid: number | null;
  role: 'main' | 'grandchild';
  argv?: string[];
  label?: string;
}

export function readSimLog(file: string): SimLogEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      // The simulator may be appending its line right now: a partial last line is skipped.
      try {
        return [JSON.parse(l) as SimLogEntry];
      } catch {
        return [];
      }
    });
}

/** Running (not exited). A zombie has exited; only its parent has not reaped it. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids whose process group is `pgid` (from /proc). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid && rest[0] !== 'Z') out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

// Process helpers for the real suites: detached children (own process group, so a test can end the
// whole tree by the group id it started), line capture with arrival times, and /proc scans.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Line { t: number; stream: 'out' | 'err'; text: string }
export interface Proc {
  child: ChildProcess;
  pid: number;
  lines: Line[];
  text(stream?: 'out' | 'err'): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
  /** SIGTERM, then SIGKILL to the group after graceMs; resolves when the child has exited. */
  stop(graceMs?: number): Promise<void>;
}

// esphome/upstream colour their logs; tests compare plain text.
const SGR = /\x1b\[[0-9;]*m|\\033\[[0-9;]*m/g;
export const plain = (s: string) => s.replace(SGR, '');

export function start(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: Line[] = [];
  const feed = (stream: 'out' | 'err') => {
    let buf = '';
    return (c: Buffer) => {
      buf += c.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) lines.push({ t: Date.now(), stream, text: plain(p) });
    };
  };
  child.stdout.on('data', feed('out'));
  child.stderr.on('data', feed('err'));
  const p: Proc = {
    child, pid: child.pid!, lines, exited: false,
    text: (stream?: 'out' | 'err') => lines.filter((l) => !stream || l.stream === stream).map((l) => l.text).join('\n'),
    exit: new Promise((r) => child.on('exit', (code, signal) => { p.exited = true; r({ code, signal }); })),
    async stop(graceMs = 10_000) {
      if (p.exited) return;
      try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
      await p.exit;
      clearTimeout(t);
    },
  };
  return p;
}

interface ProcInfo { pid: number; ppid: number; pgid: number; state: string; cmdline: string }

export function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(d), state: rest[0] ?? '', ppid: Number(rest[1]), pgid: Number(rest[2]), cmdline });
    } catch { /* exited while scanning */ }
  }
  return out;
}

/** Live (non-zombie) descendants of `pid`. */
export function descendants(pid: number): ProcInfo[] {
  const all = listProcs().filter((p) => p.state !== 'Z');
  const found: ProcInfo[] = [];
  const parents = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) if (parents.has(p.ppid) && !parents.has(p.pid)) { parents.add(p.pid); found.push(p); grew = true; }
  }
  return found;
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
}

export function groupMembers(pgid: number): ProcInfo[] {
  return listProcs().filter((p) => p.pgid === pgid && p.state !== 'Z');
}

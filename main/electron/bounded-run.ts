// Runs a short helper command (login shell, gdbus) with a HARD time bound. execa's `timeout`
// kills the child, but the result still waits for its output pipes to close — and a grandchild
// (a `sleep` in an rc file, a stuck D-Bus call) keeps them open. So: own process group, a race
// against the deadline, and on timeout the whole group is killed and the caller moves on.
import { execa } from 'execa';

export interface BoundedResult {
  stdout: string;
  failed: boolean;
  timedOut: boolean;
  /** 'ENOENT' when the command does not exist. */
  code: string;
  message: string;
}

export async function runBounded(file: string, args: readonly string[], o: { env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<BoundedResult> {
  const child = execa(file, args, {
    env: o.env,
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    detached: process.platform !== 'win32', // own process group, killed as a whole
    cleanup: true,
    maxBuffer: 1024 * 1024,
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), o.timeoutMs);
  });
  const r = await Promise.race([child, timeout]);
  clearTimeout(timer);
  if (r === null) {
    try {
      if (child.pid && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    child.catch(() => undefined);
    return { stdout: '', failed: true, timedOut: true, code: '', message: `took longer than ${o.timeoutMs} ms` };
  }
  return {
    stdout: String(r.stdout ?? ''),
    failed: r.failed,
    timedOut: false,
    code: typeof r.code === 'string' ? r.code : '',
    message: r.failed ? (r.shortMessage ?? 'failed') : '',
  };
}

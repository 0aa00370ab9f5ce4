// Startup probe (esphome-cli.md §6.2): `esphome --dashboard --version`, 15 s timeout, the version
// is the first `Version: <ver>` line.
import { esphomeEnv } from './argv';
import { runTracked } from './tracked-process';

export const PROBE_TIMEOUT_MS = 15_000;

export function parseVersionOutput(text: string): string | null {
  const m = /^Version: (\S+)/m.exec(text);
  return m ? m[1] : null;
}

/** The installed esphome version; throws with the CLI output when it cannot be determined. */
export async function probeVersion(
  esphome: readonly string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  const out: string[] = [];
  const res = await runTracked([...esphome, '--dashboard', '--version'], {
    env: opts.env ?? esphomeEnv(),
    timeoutMs: opts.timeoutMs ?? PROBE_TIMEOUT_MS,
    signal: opts.signal,
    terminateGraceMs: 1000,
    onChunk: (c) => out.push(c),
  });
  const text = out.join('');
  const version = parseVersionOutput(text);
  if (res.timedOut) throw new Error(`esphome --version timed out: '${esphome.join(' ')}'`);
  if (res.exitCode !== 0 || !version) {
    throw new Error(`esphome --version failed (exit ${res.exitCode ?? res.signal}): ${text.trim().slice(0, 500)}`);
  }
  return version;
}

// The one esphome version probe (esphome-cli.md §6.2): `<esphome> --dashboard --version` as a
// tracked process (own process group, stdin closed, stdout+stderr merged, the §6.2 environment),
// 15 s cap, the version from the first `Version: <ver>` line. The app's status (empty state,
// simulator badge, version policy), `kiln receiver` and `kiln build --server` all use it.
import { esphomeEnv } from './argv';
import { runTracked, SpawnError, spawnReason } from './tracked-process';

export const PROBE_TIMEOUT_MS = 15_000;
export const PROBE_ARGS: readonly string[] = ['--dashboard', '--version'];

export function parseVersionOutput(text: string): string | null {
  const m = /^Version: (\S+)/m.exec(text);
  return m?.[1] ?? null;
}

/** What the probe found: a version, or the reason in a few plain words (for the UI and logs). */
export type VersionProbe = { ok: true; version: string; simulator: boolean } | { ok: false; reason: string };

export interface ProbeOptions {
  /** Default: the §6.2 environment (`esphomeEnv()`). */
  env?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Never throws: every failure becomes `{ ok: false, reason }`. */
export async function probeEsphomeVersion(esphome: readonly string[], opts: ProbeOptions = {}): Promise<VersionProbe> {
  if (esphome.length === 0) return { ok: false, reason: 'no esphome command configured' };
  const out: string[] = [];
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  let res;
  try {
    res = await runTracked([...esphome, ...PROBE_ARGS], {
      env: opts.env ?? esphomeEnv(),
      timeoutMs,
      signal: opts.signal,
      terminateGraceMs: 1000,
      onChunk: (c) => out.push(c),
    });
  } catch (err) {
    if (err instanceof SpawnError) return { ok: false, reason: `'${esphome[0]}' ${spawnReason(err.code)}` };
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  const text = out.join('');
  const shown = text.trim().slice(0, 500);
  if (res.timedOut) return { ok: false, reason: `'${esphome.join(' ')} ${PROBE_ARGS.join(' ')}' did not answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}` };
  if (res.exitCode !== 0) return { ok: false, reason: `'${esphome.join(' ')} ${PROBE_ARGS.join(' ')}' exited with ${res.exitCode ?? res.signal}${shown ? `: ${shown}` : ''}` };
  const version = parseVersionOutput(text);
  if (!version) return { ok: false, reason: `unexpected version output: ${shown || '(none)'}` };
  // Kiln's simulator says so on the line after the version (esphome-cli.md §7.1).
  return { ok: true, version, simulator: /simulator/i.test(text) };
}

/** The installed esphome version; throws with the reason when it cannot be determined. */
export async function probeVersion(esphome: readonly string[], opts: ProbeOptions = {}): Promise<string> {
  const p = await probeEsphomeVersion(esphome, opts);
  if (!p.ok) throw new Error(`esphome version probe failed: ${p.reason}`);
  return p.version;
}

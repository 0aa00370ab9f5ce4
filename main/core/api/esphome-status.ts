// "Is esphome there, which version, is it the simulator?" — for the empty state and the
// simulator badge. Runs `<cmd> version` once (argument array, no shell, stdin closed, 15 s cap).
import { execa } from 'execa';
import type { EsphomeStatus } from '../../../preload/contract';

export async function probeEsphome(command: string[], opts: { timeoutMs?: number } = {}): Promise<EsphomeStatus> {
  const base: EsphomeStatus = { command, found: false, version: '', simulator: false, error: '' };
  if (command.length === 0) return { ...base, error: 'no esphome command configured' };
  try {
    const r = await execa(command[0], [...command.slice(1), 'version'], {
      reject: false,
      stdin: 'ignore',
      all: true,
      timeout: opts.timeoutMs ?? 15_000,
      env: { PYTHONUNBUFFERED: '1' },
    });
    const out = String(r.all ?? '');
    const m = /^Version:\s*(\S+)/m.exec(out);
    if (r.failed && !m) {
      const reason = r.code === 'ENOENT' ? `"${command[0]}" was not found` : (r.shortMessage ?? `exit code ${r.exitCode}`);
      return { ...base, error: reason };
    }
    if (!m) return { ...base, error: `unexpected version output: ${out.slice(0, 200)}` };
    return { ...base, found: true, version: m[1], simulator: /simulator/i.test(out) };
  } catch (err) {
    return { ...base, error: err instanceof Error ? err.message : String(err) };
  }
}

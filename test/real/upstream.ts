// Upstream ESPHome Device Builder (the pinned esphome-device-builder release) run as a process:
// its headless build server (`--remote-build-only`) or its dashboard. Only its own command line,
// console output and HTTP/WebSocket API are used; none of its code is in this repo.
import { mkdirSync } from 'node:fs';
import { waitUntil } from '../support/wait-until';
import { envs } from './envs';
import { start, type Proc } from './procs';
import { must } from '../support/must';

export interface UpstreamBuildServer {
  proc: Proc;
  dir: string;
  port: number;
  /** the pin as upstream prints it: 32 space-separated hex pairs */
  pinHex: string;
  /** emoji fingerprint and names from the pairing banner (empty when already paired) */
  emoji: string;
  emojiNames: string;
  pairingKey: string;
}

/**
 * Starts `esphome-device-builder <dir> --remote-build-only` on a free port (0) bound to loopback.
 * `sim: true` runs upstream's code from the environment whose sibling `esphome` is Kiln's
 * simulator (upstream has no setting for its esphome command; it takes the script next to its
 * interpreter).
 */
export async function startBuildServer(dir: string, opts: { sim: boolean; env?: Record<string, string>; port?: number }): Promise<UpstreamBuildServer> {
  mkdirSync(dir, { recursive: true });
  const python = opts.sim ? envs.deviceBuilderSim.python : envs.deviceBuilder.python;
  const proc = start(python, ['-m', 'esphome_device_builder', dir, '--remote-build-only', '--remote-build-port', String(opts.port ?? 0), '--remote-build-host', '127.0.0.1', '--log-level', 'info'], {
    cwd: dir,
    env: { PYTHONUNBUFFERED: '1', ...opts.env },
  });
  const listening = await waitUntil(() => {
    if (proc.exited) throw new Error(`upstream exited early:\n${proc.text()}`);
    return /listening on 127\.0\.0\.1:(\d+) \(peer-link pin ([0-9a-f ]+)\)/.exec(proc.text());
  }, { timeoutMs: 90_000, what: () => `upstream listening (output:\n${proc.text().slice(-3000)})` });
  const s: UpstreamBuildServer = { proc, dir, port: Number(listening[1]), pinHex: must(listening[2]).trim(), emoji: '', emojiNames: '', pairingKey: '' };
  return s;
}

/** Waits for the first-run pairing banner and reads the fingerprint and one-time key from it. */
export async function readBanner(s: UpstreamBuildServer): Promise<void> {
  const banner = await waitUntil(() => /Verify the fingerprint shown there matches:\n\s*\n\s+(\S.*)\n\s+\((.*)\)\n\s+([0-9a-f ]+)\n[\s\S]*?pair dialog\n.*\n\s*\n\s+([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})/.exec(s.proc.text()),
    { timeoutMs: 60_000, what: () => `pairing banner (output:\n${s.proc.text().slice(-3000)})` });
  s.emoji = must(banner[1]).trim();
  s.emojiNames = must(banner[2]).trim();
  s.pairingKey = must(banner[4]);
}

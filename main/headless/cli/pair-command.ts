// `kiln pair <host[:port]>`: pair this machine (as a sender) with a build server, through the same
// OffloaderPairingFlow the app's pair dialog uses: preview → show the server's fingerprint (7
// emoji, their names, grouped hex) → confirm (or --yes) → pair_request (the fingerprint is
// re-checked) → the pairing is stored; when the server's admin must accept, wait on pair_status.
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiError } from '../../core/errors';
import { EventBus } from '../../core/events';
import { PEER_LINK_DEFAULT_PORT } from '../../core/peer-link/constants';
import { emojiNames, emojiString, groupedHex } from '../../core/peer-link/fingerprint';
import { OffloaderPairingFlow, type PreviewInfo } from '../../core/peer-link/sender-pairing';
import { openPeerLinkState, type PeerLinkState } from '../../core/peer-link/state';
import { onePositional, parseStrictArgs } from './args';
import type { CliCommand } from './command';

export const PAIR_USAGE = `usage: kiln pair <host[:port]> [--pairing-key KEY] [--yes] [--label NAME] [--introduce-as NAME]
                 [--config-dir DIR | --data-dir DIR]

Pairs this machine (the sender) with a build server (\`kiln receiver\`, a Kiln app with its build
server on, or an ESPHome Device Builder build server).

  1. Connects and shows the server's fingerprint: compare it with the one the server shows.
  2. Asks you to confirm (--yes skips the question: only after checking out of band).
  3. Sends the pair request. Servers started with a pairing key approve at once (--pairing-key);
     otherwise the server's admin accepts it under Build servers → Pairing requests, and this command
     waits until they do (Ctrl-C stops waiting and forgets the request).

  --pairing-key KEY    the one-time key the build server printed (XXXX-XXXX-XXXX-XXXX)
  --yes, -y            do not ask for confirmation
  --label NAME         local name for this build server (default: its own name, else the host)
  --introduce-as NAME  how this machine introduces itself to the server (default: the host name)
  --config-dir DIR     ESPHome YAML folder (default $KILN_CONFIG_DIR or ~/esphome)
  --data-dir DIR       Kiln's state, where the pairing is stored (default <config-dir>/.kiln)
  --timeout SECONDS    give up waiting for the admin after this long (default 3600)

Exit status: 0 paired, 1 not paired (refused, declined, unreachable, not confirmed), 2 usage error,
130 interrupted.`;

export interface PairArgs {
  host: string;
  port: number;
  pairingKey?: string;
  yes: boolean;
  label?: string;
  introduceAs?: string;
  dataDir: string;
  timeoutMs: number;
}

export class PairUsageError extends Error {}

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address. */
export function parseEndpoint(spec: string): { host: string; port: number } {
  const s = spec.trim();
  let host = s;
  let port = PEER_LINK_DEFAULT_PORT;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6?.[1] !== undefined) {
    host = v6[1];
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if ((s.match(/:/g) ?? []).length === 1) {
    const i = s.lastIndexOf(':');
    host = s.slice(0, i);
    const p = s.slice(i + 1);
    if (!/^\d+$/.test(p)) throw new PairUsageError(`bad port in '${spec}'`);
    port = Number(p);
  }
  if (host === '') throw new PairUsageError('missing host');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PairUsageError(`port must be 1..65535 (got ${port})`);
  return { host, port };
}

export function parsePairArgs(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): PairArgs | 'help' {
  const usage = (message: string) => new PairUsageError(message);
  const { values, positionals } = parseStrictArgs(
    args,
    {
      'pairing-key': { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      label: { type: 'string' },
      'introduce-as': { type: 'string' },
      'config-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    usage,
  );
  if (values.help) return 'help';
  const { host, port } = parseEndpoint(onePositional(positionals, '<host[:port]>', usage));
  const configDir = resolve(cwd, values['config-dir'] ?? (env.KILN_CONFIG_DIR || join(homedir(), 'esphome')));
  const dataDir = values['data-dir'] !== undefined ? resolve(cwd, values['data-dir']) : join(configDir, '.kiln');
  let timeoutMs = 3_600_000;
  if (values.timeout !== undefined) {
    const t = Number(values.timeout);
    if (!Number.isFinite(t) || t <= 0) throw new PairUsageError(`--timeout must be a positive number of seconds (got ${values.timeout})`);
    timeoutMs = Math.round(t * 1000);
  }
  return {
    host,
    port,
    pairingKey: values['pairing-key'],
    yes: values.yes === true,
    label: values.label,
    introduceAs: values['introduce-as'],
    dataDir,
    timeoutMs,
  };
}

export interface PairIo {
  out(line: string): void;
  err(line: string): void;
  /** One answer line, or null at end of input. */
  ask(question: string): Promise<string | null>;
  /** Aborted on Ctrl-C. */
  interrupt: AbortSignal;
}

/** The confirmation block: same fingerprint forms the build server prints in its banner. */
export function describeServer(p: PreviewInfo): string[] {
  return [
    `Build server at ${p.host}:${p.port}`,
    `  name             ${p.friendly_name || '(not given)'}`,
    `  esphome          ${p.esphome_version || '(unknown)'}`,
    `  fingerprint      ${emojiString(p.pin)}`,
    `                   ${emojiNames(p.pin)}`,
    `  pin (sha256)     ${groupedHex(p.pin)}`,
  ];
}

export const EXIT_PAIRED = 0;
export const EXIT_NOT_PAIRED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** The whole flow over injected I/O (the CLI wires stdin/stdout; tests drive it directly). */
export async function pair(a: PairArgs, io: PairIo, opts: { friendlyName?: string; timeoutMs?: number } = {}): Promise<number> {
  const bus = new EventBus();
  let state: PeerLinkState;
  try {
    state = await openPeerLinkState(a.dataDir, { bus, report: (m) => io.err(`kiln pair: ${m}`) });
  } catch (err) {
    io.err(`kiln pair: cannot open ${a.dataDir}: ${(err as Error).message}`);
    return EXIT_NOT_PAIRED;
  }
  const introduceAs = a.introduceAs ?? opts.friendlyName ?? hostname();
  const flow = new OffloaderPairingFlow({
    identity: state.identity,
    store: state.pairings,
    bus,
    friendlyName: () => opts.friendlyName ?? hostname(),
    timeoutMs: opts.timeoutMs,
    pairStatusTimeoutMs: a.timeoutMs,
  });
  try {
    let info: PreviewInfo;
    try {
      info = await flow.preview(a.host, a.port);
    } catch (err) {
      io.err(`kiln pair: ${(err as Error).message}`);
      return EXIT_NOT_PAIRED;
    }
    for (const l of describeServer(info)) io.out(l);
    io.out('');
    const existing = state.pairings.get(info.pin);
    if (existing?.status === 'approved') io.out(`Already paired with this server as "${existing.label}"; pairing again refreshes it.`);

    if (!a.yes) {
      const answer = await io.ask('Does the build server show this same fingerprint? [y/N] ');
      if (answer === null || !/^y(es)?$/i.test(answer.trim())) {
        io.err('kiln pair: not confirmed; nothing was stored');
        return EXIT_NOT_PAIRED;
      }
    }
    let pairingKey = a.pairingKey;
    if (info.requires_pairing_key && !pairingKey) {
      if (a.yes) {
        io.err('kiln pair: this build server requires its pairing key: pass --pairing-key XXXX-XXXX-XXXX-XXXX');
        return EXIT_USAGE;
      }
      pairingKey = (await io.ask('Pairing key shown by the build server: '))?.trim() || undefined;
      if (!pairingKey) {
        io.err('kiln pair: no pairing key given; nothing was stored');
        return EXIT_NOT_PAIRED;
      }
    }

    let result;
    try {
      result = await flow.request({
        host: info.host,
        port: info.port,
        previewedPin: info.pin,
        receiverLabel: a.label ?? (info.friendly_name || info.host),
        label: introduceAs,
        labelAuto: a.introduceAs === undefined,
        pairingKey,
      });
    } catch (err) {
      const msg = err instanceof ApiError && err.code === 'no_pairing_window' && pairingKey ? `${err.message} (or the pairing key was not accepted)` : (err as Error).message;
      io.err(`kiln pair: ${msg}`);
      return EXIT_NOT_PAIRED;
    }
    const label = result.pairing.label;
    if (result.status === 'approved') {
      await state.pairings.flush();
      io.out(`Paired with ${label} (${info.host}:${info.port}).`);
      io.out(`Send a build there with: kiln build <yaml> --server "${label}"`);
      return EXIT_PAIRED;
    }

    io.out(`Pair request sent to ${label}. On the build server, open Build servers → This computer as a build server → Pairing requests and accept it.`);
    io.out(`  this machine     ${introduceAs}`);
    io.out(`  dashboard id     ${state.pairings.dashboardId}`);
    io.out(`  fingerprint      ${emojiString(state.identity.pin)}`);
    io.out(`                   ${emojiNames(state.identity.pin)}`);
    io.out('Waiting for the answer (Ctrl-C to stop waiting)…');
    const verdict = await new Promise<'approved' | 'declined' | 'interrupted'>((resolveVerdict) => {
      const offChange = bus.on('pairings_changed', (e) => {
        if (e.pin !== info.pin) return;
        const row = state.pairings.get(info.pin);
        if (row?.status === 'approved') done('approved');
        else if (!row || e.change === 'declined' || e.change === 'removed') done('declined');
      });
      const onAbort = (): void => done('interrupted');
      io.interrupt.addEventListener('abort', onAbort, { once: true });
      function done(v: 'approved' | 'declined' | 'interrupted'): void {
        offChange();
        io.interrupt.removeEventListener('abort', onAbort);
        resolveVerdict(v);
      }
      if (io.interrupt.aborted) done('interrupted');
    });
    if (verdict === 'approved') {
      await state.pairings.flush();
      io.out(`Pairing with ${info.host}:${info.port} accepted: paired with ${label}.`);
      io.out(`Send a build there with: kiln build <yaml> --server "${label}"`);
      return EXIT_PAIRED;
    }
    if (verdict === 'interrupted') {
      await flow.cancel(info.pin);
      io.err('kiln pair: stopped waiting; the request was forgotten here');
      return EXIT_INTERRUPTED;
    }
    io.err(`kiln pair: the pair request to ${info.host}:${info.port} was declined or removed (or it expired)`);
    return EXIT_NOT_PAIRED;
  } finally {
    flow.stop();
    await state.pairings.flush();
    await state.receiverPeers.close();
  }
}

export async function runPairCommand(args: string[]): Promise<number> {
  let a: PairArgs | 'help';
  try {
    a = parsePairArgs(args);
  } catch (err) {
    process.stderr.write(`kiln pair: ${(err as Error).message}\n${PAIR_USAGE}\n`);
    return EXIT_USAGE;
  }
  if (a === 'help') {
    process.stdout.write(`${PAIR_USAGE}\n`);
    return 0;
  }
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.on('SIGINT', onSigint);
  // One reader for every question; lines typed ahead (e.g. `printf 'y\n' | kiln pair …`) are kept.
  const lines: string[] = [];
  const waiting: Array<(l: string | null) => void> = [];
  let ended = false;
  let rl: ReturnType<typeof createInterface> | undefined;
  const ensureReader = (): void => {
    if (rl) return;
    rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (l) => {
      const w = waiting.shift();
      if (w) w(l);
      else lines.push(l);
    });
    rl.on('close', () => {
      ended = true;
      for (const w of waiting.splice(0)) w(null);
    });
  };
  const io: PairIo = {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    ask: (q) => {
      process.stdout.write(q);
      ensureReader();
      if (lines.length > 0) return Promise.resolve(lines.shift()!);
      if (ended) return Promise.resolve(null);
      return new Promise((r) => waiting.push(r));
    },
    interrupt: interrupt.signal,
  };
  try {
    return await pair(a, io);
  } finally {
    process.off('SIGINT', onSigint);
    rl?.close();
  }
}

export const command: CliCommand = {
  summary: 'pair this machine with a build server (shows its fingerprint, asks, stores the pairing)',
  usage: PAIR_USAGE,
  run: runPairCommand,
};

// `kiln receiver`: a headless build server. Runs only the peer-link listener, the job engine and
// the BuildServer — no GUI, no offloader role. With no approved sender it opens a key-mode
// pairing window (peer-link-protocol.md §5.3) and prints the fingerprint and the one-time key.
import { unwatchFile, watchFile } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { resolve } from 'node:path';
import { EventBus } from '../../core/events';
import { resolveEsphomeCommand } from '../../core/esphome/command';
import { setupToolchains } from '../../core/toolchains/setup';
import type { ToolchainStore } from '../../core/toolchains/store';
import { probeVersion } from '../../core/esphome/version';
import { kilnVersion } from './version';
import { acquireDataDirLock } from '../../core/data-dir-lock';
import { JobEngine } from '../../core/jobs/engine';
import { buildServerJobEnv, JobOwners } from '../../core/build-server/job-env';
import type { FirmwareJob } from '../../core/jobs/model';
import { emojiNames, emojiString, groupedHex } from '../../core/peer-link/fingerprint';
import { startPeerLinkListener, type PeerLinkListener } from '../../core/peer-link/listener';
import { BuildServerAdvertiser, createBonjour } from '../../core/peer-link/mdns';
import { normalisePairingKey, PAIRING_KEY_ALPHABET } from '../../core/peer-link/pairing-key';
import { ReceiverPairing } from '../../core/peer-link/build-server-pairing';
import { openPeerLinkState } from '../../core/peer-link/state';
import { BuildServer, cancelBuildServerJobs } from '../../core/build-server/build-server';
import { mkdirPrivateSync } from '../../core/private-fs';
import { printableName, printableOutput } from '../../core/build-server/printable';
import { runReceiverSenders } from './receiver-senders';
import { IdleCollector } from '../../core/build-server/idle-collect';
import { reduceMemory } from '../../core/jobs/release-memory';
import { ConsoleLines } from './console-lines';
import { StopSignals } from './stop-signals';

export const READY_MARKER = 'KILN_RECEIVER_READY';
export const DEFAULT_RECEIVER_PORT = 6055;

export const RECEIVER_USAGE = `usage: kiln receiver [options]
       kiln receiver senders [list|remove <dashboard-id|label>] [--data-dir D]

Run a headless Kiln build server: compiles ESPHome firmware for paired senders.
With no approved sender, or with a pairing key given (--pairing-key or $KILN_PAIRING_KEY), it
opens a 15-minute pairing window for one more sender and prints the key.

  --data-dir D       state and build workspaces (default $KILN_DATA_DIR or ~/.kiln-receiver)
  --port N           peer-link port (default 6055; the next free port is used if taken; 0 = any)
  --host H           bind address (default 0.0.0.0)
  --esphome CMD      esphome command (default $KILN_ESPHOME, else the default managed toolchain, else 'esphome')
  --no-provision     never build a sender's other ESPHome version in a managed toolchain
  --pairing-key KEY  one-time key to pair one more sender (default $KILN_PAIRING_KEY; random
                     when no sender is approved yet)
  --pair             open the pairing window with a fresh random key even when senders exist
  --max-queued N     per sender: jobs queued or building at once (default 16)
  --max-sender-mib N per sender: MiB of bundles held in memory (default 256)
  --disk-quota-gib N all workspaces together; idle ones are removed oldest first (default 20)
  --keep-builds N    per sender: completed builds kept so an identical resubmission gets the
                     stored firmware without a rebuild (default 3; 0 = always build)
  --no-mdns          do not advertise the build server over mDNS
  -h, --help         this help
`;

export interface ReceiverCommandOptions {
  dataDir: string;
  port: number;
  host: string;
  esphome: string[];
  /** --esphome / KILN_ESPHOME was given (else the managed default toolchain comes first). */
  esphomeExplicit?: boolean;
  pairingKey?: string;
  /** Per-sender and disk limits (BuildServer defaults when absent). */
  maxQueuedJobsPerSender?: number;
  maxBytesPerSender?: number;
  workspaceQuotaBytes?: number;
  /** Completed builds kept per sender for identical resubmissions (--keep-builds; 0 = off). */
  reuseKeepPerSender?: number;
  /** Arm key mode even when senders exist (set by --pair, or by an explicit key). */
  pair?: boolean;
  mdns: boolean;
  /** Managed toolchains (default: KILN_TOOLCHAINS or the per-user folder); false = off (--no-provision). */
  toolchains?: ToolchainStore | false;
}

export class UsageError extends Error {}

export function parseReceiverArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ReceiverCommandOptions | 'help' {
  let dataDir = env.KILN_DATA_DIR || resolve(homedir(), '.kiln-receiver');
  let port = DEFAULT_RECEIVER_PORT;
  let host = '0.0.0.0';
  let esphomeFlag: string | undefined;
  let pairingKey = env.KILN_PAIRING_KEY || undefined;
  let mdns = true;
  let pair = false;
  const limits: Pick<ReceiverCommandOptions, 'maxQueuedJobsPerSender' | 'maxBytesPerSender' | 'workspaceQuotaBytes' | 'reuseKeepPerSender'> = {};
  const positive = (flag: string, v: string, max: number): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number 1..${max}, got ${v}`);
    return n;
  };
  let provision = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === undefined) break; // i < length: never
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h':
      case '--help':
        return 'help';
      case '--data-dir':
        dataDir = value();
        break;
      case '--port': {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 65535) throw new UsageError(`--port must be 0..65535, got ${v}`);
        port = n;
        break;
      }
      case '--host':
        host = value();
        break;
      case '--no-provision':
        provision = false;
        break;
      case '--esphome':
        esphomeFlag = value();
        break;
      case '--pairing-key':
        pairingKey = value();
        break;
      case '--no-mdns':
        mdns = false;
        break;
      case '--pair':
        pair = true;
        break;
      case '--max-queued':
        limits.maxQueuedJobsPerSender = positive(flag, value(), 10_000);
        break;
      case '--max-sender-mib':
        limits.maxBytesPerSender = positive(flag, value(), 1_048_576) * 1024 * 1024;
        break;
      case '--disk-quota-gib':
        limits.workspaceQuotaBytes = positive(flag, value(), 1_048_576) * 1024 * 1024 * 1024;
        break;
      case '--keep-builds': {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 50) throw new UsageError(`--keep-builds must be a whole number 0..50, got ${v}`);
        limits.reuseKeepPerSender = n;
        break;
      }
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  if (pairingKey !== undefined) {
    const norm = normalisePairingKey(pairingKey);
    if (norm.length !== 16 || [...norm].some((c) => !PAIRING_KEY_ALPHABET.includes(c))) {
      throw new UsageError(`--pairing-key must be 16 characters from ${PAIRING_KEY_ALPHABET} (e.g. ABCD-EFGH-JKMN-PQRS)`);
    }
    pairingKey = norm.match(/.{4}/g)!.join('-');
  }
  const esphome = resolveEsphomeCommand({ flag: esphomeFlag, env: env.KILN_ESPHOME });
  const esphomeExplicit = !!(esphomeFlag?.trim() || env.KILN_ESPHOME?.trim());
  return { dataDir: resolve(dataDir), port, host, esphome, esphomeExplicit, pairingKey, pair: pair || pairingKey !== undefined, mdns, ...limits, ...(provision ? {} : { toolchains: false as const }) };
}

export interface Printer {
  out(line: string): void;
  err(line: string): void;
  /** Characters printed but not yet taken by whoever reads stdout (absent: never behind). */
  outBacklog?(): number;
}

/**
 * Echoing a build's output to stdout must not buffer without bound when stdout's reader is slower
 * than the build prints (issue 18 §1): past this backlog (characters waiting) lines are counted,
 * not printed.
 */
export const ECHO_BACKLOG_MAX_BYTES = 1024 * 1024;

export interface HeadlessReceiver {
  readonly port: number;
  readonly pin: string;
  /** The armed one-time key, or null when a sender is already approved. */
  readonly pairingKey: string | null;
  readonly engine: JobEngine;
  readonly receiver: BuildServer;
  readonly listener: PeerLinkListener;
  /** Graceful stop: running jobs cancelled, sessions terminated with server_shutting_down. */
  stop(): Promise<void>;
}

function jobName(job: FirmwareJob): string {
  return printableName(job.device_friendly_name || job.device_name || job.configuration.split('/').pop() || job.job_id);
}

/** Starts the build server; resolves once the listener is bound and the banner is printed. */
export async function startHeadlessReceiver(opts: ReceiverCommandOptions, print: Printer): Promise<HeadlessReceiver> {
  mkdirPrivateSync(opts.dataDir);
  const lock = acquireDataDirLock(opts.dataDir, 'kiln receiver'); // one process per data dir (throws naming the holder)
  const bus = new EventBus();
  const report = (m: string): void => print.err(`kiln receiver: ${m}`);
  const state = await openPeerLinkState(opts.dataDir, { bus, report });
  // explicit flag/env > the default managed toolchain > `esphome` on the PATH.
  const toolchains = await setupToolchains({ dataDir: opts.dataDir, explicit: opts.esphomeExplicit === false ? undefined : opts.esphome, store: opts.toolchains });
  const esphome = toolchains.base();
  const provisioner = toolchains.provisioner(() => esphomeVersion);
  let esphomeVersion = '';
  try {
    esphomeVersion = await probeVersion(esphome);
  } catch (err) {
    print.err(`kiln receiver: warning: ${(err as Error).message}`);
  }
  // The receiver's config dir is its data dir: every job's YAML lives under remote_builds/.
  const jobOwners = new JobOwners();
  const engine = new JobEngine({ configDir: opts.dataDir, dataDir: opts.dataDir, esphome: toolchains.engineCommand, bus, report, jobEnv: buildServerJobEnv(opts.dataDir, jobOwners) });
  await engine.start();
  // Synchronously, before the engine's first pump: leftover receiver jobs must not spawn.
  cancelBuildServerJobs(engine);
  const pairing = new ReceiverPairing({ store: state.receiverPeers, bus, report });
  const friendly = hostname();
  const listener = await startPeerLinkListener({
    identity: state.identity,
    pairing,
    bus,
    host: opts.host,
    port: opts.port,
    esphomeVersion: () => esphomeVersion,
    friendlyName: () => friendly,
    autoProvisionSupported: () => provisioner?.supported() ?? false,
    resetBuildEnvSupported: () => false,
  });
  const receiver = new BuildServer({
    engine,
    jobOwners,
    sessions: listener.sessions,
    cleanupTtlSeconds: state.receiverPeers.settings.cleanup_ttl_seconds,
    maxQueuedJobsPerSender: opts.maxQueuedJobsPerSender,
    maxBytesPerSender: opts.maxBytesPerSender,
    workspaceQuotaBytes: opts.workspaceQuotaBytes,
    reuseKeepPerSender: opts.reuseKeepPerSender,
    provisioner: provisioner ?? undefined,
    esphomeVersion: () => esphomeVersion,
    log: (m) => print.out(`[build server] ${m}`),
  });
  receiver.start();
  // A build server's memory goes back once its builds are over (issue 18 §1): one full
  // collection when it has gone quiet. KILN_DEBUG_MEMORY=1 prints what it released.
  const mib = (n: number): string => (n / 1048576).toFixed(1);
  const idleCollector = new IdleCollector({
    bus,
    busy: () => engine.getJobs({ status: 'running' }).length > 0 || !receiver.outputIdle(),
    gc: reduceMemory,
    onCollected: process.env.KILN_DEBUG_MEMORY === '1' ? (b, a) => print.out(`[receiver] memory collected: ${(['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const).map((k) => `${k} ${mib(b[k])} → ${mib(a[k])} MiB`).join(', ')}`) : undefined,
  });

  // Receiver jobs' lifecycle and output go to stdout too.
  // Labels, names and output come from senders: printed without control characters (issue 11, defect 8).
  const labelOf = (job: FirmwareJob): string => printableName(job.remote_peer_label) || job.remote_peer;
  /** Output lines not echoed while stdout was behind, per job. */
  const unechoed = new Map<string, number>();
  const flushUnechoed = (jobId: string): void => {
    const n = unechoed.get(jobId);
    if (n === undefined) return;
    unechoed.delete(jobId);
    print.out(`[job ${jobId}] ... [${n} output line(s) not echoed here: stdout was not keeping up]`);
  };
  const offs = [
    bus.on('receiver_session_opened', (e) => print.out(`[build server] sender connected: ${printableName(e.label) || e.dashboard_id}`)),
    bus.on('receiver_session_closed', (e) => print.out(`[build server] sender disconnected: ${printableName(state.receiverPeers.get(e.dashboard_id)?.label ?? '') || e.dashboard_id} (${printableName(e.reason)})`)),
    bus.on('job_started', ({ job }) => job.remote_peer && print.out(`[job ${job.job_id}] ${job.job_type} ${jobName(job)} from ${labelOf(job)}: running`)),
    bus.on('job_completed', ({ job }) => job.remote_peer && (flushUnechoed(job.job_id), print.out(`[job ${job.job_id}] completed`))),
    bus.on('job_failed', ({ job }) => job.remote_peer && (flushUnechoed(job.job_id), print.out(`[job ${job.job_id}] failed: ${printableName(job.error ?? '')}`))),
    bus.on('job_cancelled', ({ job }) => job.remote_peer && (flushUnechoed(job.job_id), print.out(`[job ${job.job_id}] cancelled: ${printableName(job.error ?? '')}`))),
    bus.on('job_output', ({ job_id, line }) => {
      const job = engine.getJob(job_id);
      if (!job?.remote_peer) return;
      if ((print.outBacklog?.() ?? 0) > ECHO_BACKLOG_MAX_BYTES) {
        unechoed.set(job_id, (unechoed.get(job_id) ?? 0) + 1);
        return;
      }
      flushUnechoed(job_id);
      // The sender's YAML reaches esphome's output (names, comments): colours kept, nothing else.
      print.out(`[job ${job_id}] ${printableOutput(line.replace(/[\r\n]+$/, ''))}`);
    }),
    bus.on('pair_status_changed', (e) => {
      if (e.status === 'approved') {
        pairedWithKey = true;
        const peer = state.receiverPeers.get(e.dashboard_id);
        print.out(`[build server] paired with ${printableName(peer?.label ?? '') || e.dashboard_id}; pairing window closed`);
      }
    }),
    bus.on('pairing_window_changed', (e) => {
      if (!e.open && !stopping && pairingKey !== null && !pairedWithKey) print.out('[build server] pairing window closed without a pairing; restart to pair again');
    }),
  ];

  let pairingKey: string | null = null;
  let pairedWithKey = false;
  // An explicitly given key always arms key mode: that is how a second sender is added.
  if (state.receiverPeers.list().length === 0 || opts.pair || opts.pairingKey !== undefined) pairingKey = pairing.armKeyMode({ key: opts.pairingKey });

  // `kiln receiver senders remove` edits the file from another process: revoke here too.
  const peersFile = state.receiverPeers.file;
  const onPeersFile = (): void => {
    for (const id of state.receiverPeers.externallyRemoved()) {
      print.out(`[build server] sender ${printableName(state.receiverPeers.get(id)?.label ?? '') || id} was removed; ending its session`);
      void pairing.removePeer(id).catch((err: Error) => print.err(`kiln receiver: could not remove ${id}: ${err.message}`));
    }
  };
  watchFile(peersFile, { interval: 1000, persistent: false }, onPeersFile);
  // A debounced write of ours that found the removal first: the row is already gone here.
  const offExternal = state.receiverPeers.onExternalRemoval((ids) => {
    for (const id of ids) {
      print.out(`[build server] sender ${id} was removed; ending its session`);
      void listener.sessions.get(id)?.close('peer_removed', 'the build server removed this pairing');
    }
  });

  let advertiser: BuildServerAdvertiser | null = null;
  let bonjour: { destroy(): void } | null = null;
  if (opts.mdns) {
    try {
      // createBonjour reports multicast failures (no permission, port taken) instead of throwing
      // from a socket callback: the build server keeps running without mDNS.
      const b = createBonjour((err) => print.err(`mDNS advertising failed: ${err.message}`));
      bonjour = b;
      advertiser = new BuildServerAdvertiser({
        bonjour: b,
        dashboardId: state.dashboardId,
        serverVersion: kilnVersion(),
        esphomeVersion: () => esphomeVersion,
        friendlyName: () => friendly,
        pin: () => state.identity.pin,
      });
      await advertiser.setListenerPort(listener.port);
    } catch (err) {
      print.err(`kiln receiver: warning: mDNS advertising unavailable: ${(err as Error).message}`);
    }
  }

  const pin = state.identity.pin;
  print.out('');
  print.out('Kiln build server');
  print.out(`  listening on     ${opts.host}:${listener.port}`);
  print.out(`  fingerprint      ${emojiString(pin)}`);
  print.out(`                   ${emojiNames(pin)}`);
  print.out(`  pin (sha256)     ${groupedHex(pin)}`);
  print.out(`  esphome          ${esphome.join(' ')}${esphomeVersion ? ` (${esphomeVersion})` : ' (version unknown)'}`);
  print.out(`  provisioning     ${provisioner ? `on: senders' other ESPHome versions are installed in ${toolchains.manager!.store.root}` : 'off'}`);
  print.out(`  data dir         ${opts.dataDir}`);
  if (pairingKey) {
    print.out(`  pairing key      ${pairingKey}   (one-time, valid 15 minutes, for the ${state.receiverPeers.list().length === 0 ? 'first' : 'next'} sender)`);
    print.out('  On the sender: Build servers → Pair with a build server, enter this host, port and key,');
    print.out('  and check that the fingerprint shown there matches the one above.');
  } else {
    print.out(`  approved senders ${state.receiverPeers.list().map((p) => printableName(p.label) || p.dashboard_id).join(', ')}`);
    print.out('  To pair another sender, restart with --pair (or --pairing-key KEY).');
  }
  print.out('');
  print.out(`${READY_MARKER} ${JSON.stringify({ port: listener.port, host: opts.host, pin, pairing_key: pairingKey, esphome_version: esphomeVersion, auto_provision_supported: !!provisioner, data_dir: opts.dataDir })}`);

  let stopping: Promise<void> | null = null;
  return {
    port: listener.port,
    pin,
    pairingKey,
    engine,
    receiver,
    listener,
    stop() {
      stopping ??= (async () => {
        // Queued receiver jobs would only re-run for senders that are gone: cancel them; the
        // engine's stop then ends running ones cancelled ("runner shutdown") and the fan-out
        // tells their senders before the sessions are terminated.
        for (const job of engine.getJobs({ status: 'queued' })) if (job.remote_peer) await engine.cancel(job.job_id).catch(() => undefined);
        await engine.stop();
        idleCollector.stop();
        unwatchFile(peersFile, onPeersFile);
        offExternal();
        await advertiser?.stop().catch(() => undefined);
        bonjour?.destroy();
        await listener.close();
        await receiver.stop();
        pairing.closeWindow();
        for (const off of offs) off();
        await state.receiverPeers.close();
        await state.pairings.flush();
        lock.release();
      })();
      return stopping;
    },
  };
}

/** CLI entry: returns the exit code (0 after a clean SIGTERM/SIGINT shutdown). */
export async function runReceiverCommand(argv: string[]): Promise<number> {
  // Small chunks, one write at a time: a flood's echo must not make node batch lines into large
  // native blocks (console-lines.ts).
  const stdout = new ConsoleLines(process.stdout);
  const print: Printer = { out: (l) => stdout.line(l), err: (l) => process.stderr.write(`${l}\n`), outBacklog: () => stdout.backlog };
  try {
    return await runReceiver(argv, print);
  } finally {
    stdout.flush(); // the CLI waits for stdout to take it before exiting (kiln.ts)
  }
}

async function runReceiver(argv: string[], print: Printer): Promise<number> {
  if (argv[0] === 'senders') return runReceiverSenders(argv.slice(1), print);
  let opts: ReceiverCommandOptions | 'help';
  try {
    opts = parseReceiverArgs(argv);
  } catch (err) {
    print.err(`kiln receiver: ${(err as Error).message}`);
    print.err(RECEIVER_USAGE);
    return 2;
  }
  if (opts === 'help') {
    print.out(RECEIVER_USAGE);
    return 0;
  }
  // Listening before the start: its ready line is printed while it starts (stop-signals.ts).
  const signals = new StopSignals();
  let server: HeadlessReceiver;
  try {
    server = await startHeadlessReceiver(opts, print);
  } catch (err) {
    signals.dispose();
    print.err(`kiln receiver: ${(err as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolveExit) => {
    signals.onStop((sig) => {
      print.out(`[build server] ${sig}: shutting down`);
      server.stop().then(
        () => resolveExit(0),
        (err: Error) => {
          print.err(`kiln receiver: shutdown failed: ${err.message}`);
          resolveExit(1);
        },
      );
    });
  });
}

export const command = {
  summary: 'run a headless build server (peer-link listener + job engine, pairs with a one-time key)',
  usage: RECEIVER_USAGE,
  run: runReceiverCommand,
} satisfies import('./command').CliCommand;

// Process plumbing for the remote-build benchmarks: a sender composed by createApp (the same
// composition root as `kiln serve` / Electron), `kiln receiver` children compiling with the
// esphome simulator.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../../test/e2e-remote/helpers';
import { createApp, type KilnApp } from '../../main/core/app';
import { buildBundle } from '../../main/core/esphome/bundle';
import type { PeerMessage } from '../../main/core/peer-link/frames';
import { EventBus } from '../../main/core/events';
import { OffloaderPairingFlow } from '../../main/core/peer-link/sender-pairing';
import { openPeerLinkState } from '../../main/core/peer-link/state';
import { waitUntil } from '../../test/support/wait-until';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIM = join(REPO_ROOT, 'tools/esphome-sim/esphome');
export const SIM_ARGV = [process.execPath, SIM];
const KILN = join(REPO_ROOT, 'main/headless/cli/kiln.ts');

export class Cleanup {
  private readonly fns: Array<() => Promise<void> | void> = [];
  add(fn: () => Promise<void> | void): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
  }
}

export async function tempDir(cleanup: Cleanup, prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  cleanup.add(() => rm(d, { recursive: true, force: true }));
  return d;
}

export interface Child {
  proc: ChildProcessWithoutNullStreams;
  out: string[];
  exit: Promise<unknown>;
}

function spawnChild(cleanup: Cleanup, argv: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, argv, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: string[] = [];
  let buf = '';
  proc.stdout.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    const parts = buf.split('\n');
    buf = parts.pop()!;
    out.push(...parts);
  });
  proc.stderr.on('data', (c: Buffer) => out.push(...c.toString('utf8').split('\n').map((l) => `[stderr] ${l}`)));
  const exit = new Promise((r) => proc.on('exit', r));
  cleanup.add(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await Promise.race([exit, new Promise((r) => setTimeout(r, 3000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });
  return { proc, out, exit };
}

export interface BuildServerChild extends Child {
  port: number;
  pin: string;
  dataDir: string;
}

/**
 * Benchmarks time builds: a build server that answers an identical resubmission from its stored
 * builds (issue 15) would time that shortcut instead (P2's pairs rebuild one configuration).
 */
export const KEEP_NO_BUILDS = ['--keep-builds', '0'];

/** `kiln receiver` on 127.0.0.1:0 in key mode, compiling with the simulator. */
export async function startKilnBuildServer(cleanup: Cleanup, key: string, env: Record<string, string> = {}): Promise<BuildServerChild> {
  const dataDir = await tempDir(cleanup, 'kiln-bench-recv-');
  // BENCH_RECEIVER_NODE_ARGS: extra node flags for the receiver (e.g. `--cpu-prof` to see its side).
  const nodeArgs = (process.env.BENCH_RECEIVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawnChild(cleanup, [...nodeArgs, '--import', 'tsx', KILN, 'receiver', '--host', '127.0.0.1', '--port', '0', '--no-mdns', '--esphome', SIM_ARGV.join(' '), '--data-dir', dataDir, '--pairing-key', key, ...KEEP_NO_BUILDS], {
    ESPHOME_SIM_SPEED: '0',
    ESPHOME_NOGITIGNORE: '1',
    ESPHOME_SIM_ORPHAN_TTL: '120',
    ...env,
  });
  // A receiver that exits before it is ready fails at once, not after the wait's deadline.
  const line = await Promise.race([
    waitUntil(() => child.out.find((l) => l.startsWith('KILN_RECEIVER_READY ')), { timeoutMs: 30_000, what: () => `kiln receiver ready:\n${child.out.join('\n')}` }),
    child.exit.then(() => {
      throw new Error(`kiln receiver exited ${child.proc.exitCode}:\n${child.out.join('\n')}`);
    }),
  ]);
  const ready = JSON.parse(line.slice('KILN_RECEIVER_READY '.length)) as { port: number; pin: string };
  return { ...child, port: ready.port, pin: ready.pin, dataDir };
}

/** The sender's state dir, paired with a key-mode receiver through the app's pairing flow. */
export async function pairByKey(senderData: string, port: number, key: string): Promise<string> {
  const bus = new EventBus();
  const state = await openPeerLinkState(senderData, { bus, report: () => undefined });
  try {
    const flow = new OffloaderPairingFlow({ identity: state.identity, store: state.pairings, bus, timeoutMs: 10_000 });
    const p = await flow.preview('127.0.0.1', port);
    const r = await flow.request({ host: '127.0.0.1', port, previewedPin: p.pin, receiverLabel: `bench-${port}`, label: 'bench sender', pairingKey: key });
    if (r.status !== 'approved') throw new Error(`pairing with 127.0.0.1:${port} is ${r.status}`);
    return p.pin;
  } finally {
    await state.pairings.flush();
    await state.receiverPeers.close();
  }
}

/** createApp as `kiln serve` composes it, offloader role only, connected to every pairing. */
export async function startSender(cleanup: Cleanup, configDir: string, dataDir: string, pins: string[]): Promise<KilnApp> {
  const app = await createApp({
    configDir,
    dataDir,
    esphome: SIM_ARGV,
    report: () => undefined,
    peerLink: { buildServerRole: false, startupGraceMs: 0, backoffBaseMs: 100, backoffCapMs: 500 },
  });
  cleanup.add(() => app.stop());
  await waitUntil(() => pins.every((p) => app.peerLink!.clients.connectedPins().includes(p)), { timeoutMs: 15_000, what: 'sender sessions' });
  return app;
}

// The simulator's ESPHOME_SIM_LOG reader and the /proc liveness check are shared with the
// real-process e2e tests.
export { readSimLog, type SimLogEntry } from '../../test/e2e-remote/helpers';

/** Exited (a zombie counts: it has exited, only its parent has not reaped it). */
export function exited(pid: number): boolean {
  return !isAlive(pid);
}

export function whenDone(app: KilnApp, jobId: string, timeoutMs: number): Promise<import('../../main/core/jobs/model').FirmwareJob> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    app.engine.whenDone(jobId).finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`job ${jobId} not done within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]);
}

/** Resolves with a remote job's terminal status as its build server reports it on `session`. */
export function whenRemoteDone(session: { onMessage(fn: (m: PeerMessage) => void): () => void }, jobId: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`remote job ${jobId} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = session.onMessage((m) => {
      if (m.type === 'job_state_changed' && m.job_id === jobId && ['completed', 'failed', 'cancelled'].includes(String(m.status))) {
        clearTimeout(timer);
        off();
        resolve(String(m.status));
      }
    });
  });
}

/**
 * One `kiln receiver` child (simulator at speed 0), a sender composed by createApp paired with it,
 * its session, and a real simulator bundle of the example living-room.yaml (the transfer benches).
 */
export async function startPairedSenderWithBundle(cleanup: Cleanup, prefix: string, key: string): Promise<{ root: string; configDir: string; senderData: string; app: KilnApp; session: ReturnType<NonNullable<KilnApp['peerLink']>['clients']['getSession']>; bundle: Buffer }> {
  const root = await tempDir(cleanup, prefix);
  const configDir = join(root, 'config');
  const senderData = join(root, 'data');
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
  const server = await startKilnBuildServer(cleanup, key, { ESPHOME_SIM_SPEED: '0' });
  const pin = await pairByKey(senderData, server.port, key);
  const app = await startSender(cleanup, configDir, senderData, [pin]);
  const session = app.peerLink!.clients.getSession(pin);
  const bundleOut = await tempDir(cleanup, 'kiln-bench-bundle-');
  await buildBundle(SIM_ARGV, join(configDir, 'living-room.yaml'), join(bundleOut, 'b.tar.gz'), { env: { ...process.env, ESPHOME_SIM_SPEED: '0' } });
  return { root, configDir, senderData, app, session, bundle: await readFile(join(bundleOut, 'b.tar.gz')) };
}

// The reliability suite's rig (issue 11, faults.test.ts and build-server-faults.test.ts): a
// `kiln receiver` child on the esphome simulator paired by a real `kiln pair`, a sender composed
// by createApp in the test process, small tmpfs mounts for disk-full faults, and the cleanup
// that ends every child, simulator and mount the tests started.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import { createApp, type KilnApp } from '../../main/core/app';
import type { FirmwareJob } from '../../main/core/jobs/model';
import { mountTmpfs, unmountTmpfs } from '../support/tmpfs';
import { waitUntil } from '../support/wait-until';
export { canMountTmpfs, NOT_RUN_TMPFS } from '../support/tmpfs';
import { isAlive, killQuietly, readSimLog, REPO_ROOT, SIM, spawnKiln, startReceiver, type KilnChild, type BuildServerChild } from './helpers';

export const KEY = 'ABCD-EFGH-JKMN-PQRS';
export const HEARTBEAT = { heartbeatIntervalMs: 500, heartbeatDeadAfterMs: 2000 };

/** SHA-256 of every regular file below `dir`, by path relative to it (a missing dir is empty). */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const p = join(d, name);
      try {
        out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EISDIR') walk(p);
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * A finished job's whole output: in memory until the store has written its sidecar log, then
 * (job.output released, jobs/store.ts) from that log — reading only `job.output` races the write.
 */
export async function outputOf(a: KilnApp, job: FirmwareJob): Promise<string> {
  if (job.output.length > 0) return job.output.join('');
  return ((await a.engine.readLog(job.job_id)) ?? []).join('');
}

export function waitJob(a: KilnApp, id: string, timeoutMs: number): Promise<FirmwareJob> {
  return waitUntil(
    () => {
      const j = a.engine.getJob(id)!;
      return ['completed', 'failed', 'cancelled'].includes(j.status) ? j : null;
    },
    { timeoutMs, what: () => `job ${id} to finish (now ${a.engine.getJob(id)?.status}, last output ${JSON.stringify(a.engine.getJob(id)?.output.slice(-3))})` },
  );
}

export const compileRunning = (log: string, file: string) => readSimLog(log).find((e) => e.role === 'main' && e.argv?.includes('compile') && e.argv.some((x) => x.endsWith(file)) && isAlive(e.pid));

export interface FaultSetup {
  root: string;
  configDir: string;
  senderData: string;
  recv: BuildServerChild;
  recvLog: string;
  senderLog: string;
}

export class FaultRig {
  private readonly roots: string[] = [];
  readonly children: KilnChild[] = [];
  private readonly simLogs: string[] = [];
  private readonly mounts: string[] = [];
  private readonly savedEnv = { ...process.env };
  app: KilnApp | undefined;

  /**
   * A config dir with the simulator's examples, a `kiln receiver` on `<root>/recv` and the
   * sender's data dir paired to it. `prepareReceiverDir` runs on the receiver's data dir
   * before the receiver starts (a mount under it, say).
   */
  async setup(recvEnv: Record<string, string> = {}, opts: { prepareReceiverDir?: (dir: string) => void } = {}): Promise<FaultSetup> {
    const root = await mkdtemp(join(tmpdir(), 'kiln-faults-'));
    this.roots.push(root);
    const configDir = join(root, 'config');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
    const recvLog = join(root, 'recv-sim.log');
    const senderLog = join(root, 'sender-sim.log');
    this.simLogs.push(recvLog, senderLog);
    const recvDir = join(root, 'recv');
    mkdirSync(recvDir, { recursive: true, mode: 0o700 });
    opts.prepareReceiverDir?.(recvDir);
    const recv = await startReceiver(recvDir, KEY, { ESPHOME_SIM_LOG: recvLog, ...recvEnv });
    this.children.push(recv);
    const senderData = join(configDir, '.kiln');
    const pair = spawnKiln(['pair', `127.0.0.1:${recv.ready.port}`, '--pairing-key', KEY, '--yes', '--label', 'box', '--data-dir', senderData]);
    expect((await pair.exit).code, pair.text()).toBe(0);
    return { root, configDir, senderData, recv, recvLog, senderLog };
  }

  /** A small tmpfs on `dir` (created if missing), unmounted after the test. */
  mountTmpfs(dir: string, size: string): void {
    mountTmpfs(dir, `size=${size}`);
    this.mounts.push(dir);
  }

  async senderApp(configDir: string, senderLog: string, timing: Partial<typeof HEARTBEAT> = HEARTBEAT): Promise<KilnApp> {
    process.env.ESPHOME_SIM_SPEED = '0';
    process.env.ESPHOME_SIM_LOG = senderLog;
    process.env.ESPHOME_NOGITIGNORE = '1';
    const a = await createApp({
      configDir,
      esphome: [process.execPath, SIM],
      report: () => undefined,
      peerLink: { buildServerRole: 'off', startupGraceMs: 0, backoffBaseMs: 100, backoffCapMs: 500, ...timing },
      engine: { terminateGraceMs: 1000, drainMs: 200 },
    });
    this.app = a;
    await waitUntil(() => a.peerLink!.clients.connectedPins().length === 1, { timeoutMs: 15_000, what: 'the session to the build server' });
    return a;
  }

  /** afterEach: the sender app, every child (SIGCONT first: it may be stopped), simulators, mounts. */
  async afterEach(): Promise<void> {
    await this.app?.stop().catch(() => undefined);
    this.app = undefined;
    for (const c of this.children.splice(0)) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) {
        killQuietly(c.proc.pid!, 'SIGCONT');
        c.proc.kill('SIGTERM');
        await Promise.race([c.exit, new Promise((r) => setTimeout(r, 5000))]);
        killQuietly(c.proc.pid!);
      }
    }
    for (const log of this.simLogs.splice(0)) for (const e of readSimLog(log)) if (isAlive(e.pid)) killQuietly(e.pid);
    for (const m of this.mounts.splice(0)) unmountTmpfs(m);
    process.env = { ...this.savedEnv };
  }

  /** afterAll: any mount still there (a test that threw before afterEach), then the temp roots. */
  async afterAll(): Promise<void> {
    for (const m of this.mounts.splice(0)) unmountTmpfs(m);
    for (const r of this.roots.splice(0)) await rm(r, { recursive: true, force: true });
  }
}

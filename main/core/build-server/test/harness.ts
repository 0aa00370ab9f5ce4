// Test fixture: a real receiver stack (peer-link listener on 127.0.0.1:0, real JobEngine running
// the esphome simulator, BuildServer) and real offloader sessions dialled with openPeerLink.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventBus } from '../../events';
import { JobEngine } from '../../jobs/engine';
import { openPeerLink, type SenderSession } from '../../peer-link/client';
import { identityFromPrivateKey, type PeerLinkIdentity } from '../../peer-link/identity';
import { startPeerLinkListener, type PeerLinkListener } from '../../peer-link/listener';
import { ReceiverPairing } from '../../peer-link/build-server-pairing';
import { ApprovedSenderStore } from '../../peer-link/approved-senders';
import type { PeerMessage } from '../../peer-link/session';
import { generateX25519KeyPair } from '../../peer-link/x25519';
import { buildServerJobEnv, JobOwners } from '../job-env';
import { senderKey } from '../filename';
import { BuildServer, type BuildServerOptions } from '../build-server';
import { waitUntil } from '../../../../test/support/wait-until';

export const REPO_ROOT = resolve(__dirname, '../../../..');
export const SIM = join(REPO_ROOT, 'tools/esphome-sim/esphome');
export const simAvailable = (): boolean => existsSync(SIM);

export function newIdentity(): PeerLinkIdentity {
  return identityFromPrivateKey(generateX25519KeyPair().privateKey);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface SenderHandle {
  dashboardId: string;
  /** senderKey(dashboardId, pin): the name of this sender's workspace under remote_builds/. */
  key: string;
  identity: PeerLinkIdentity;
  session: SenderSession;
  frames: PeerMessage[];
  closed: { reason: string; detail: string } | null;
  /** Frames of a type (optionally for one job_id). */
  of(type: string, jobId?: string): PeerMessage[];
  waitFrame(pred: (m: PeerMessage) => boolean, timeoutMs?: number, what?: string): Promise<PeerMessage>;
  waitClosed(timeoutMs?: number): Promise<{ reason: string; detail: string }>;
}

export interface ReceiverStack {
  dir: string;
  bus: EventBus;
  engine: JobEngine;
  receiver: BuildServer;
  listener: PeerLinkListener;
  jobOwners: JobOwners;
  store: ApprovedSenderStore;
  identity: PeerLinkIdentity;
  port: number;
  connect(label?: string, dashboardId?: string): Promise<SenderHandle>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startStack(over: { env?: Record<string, string>; receiver?: Partial<BuildServerOptions>; esphome?: string[] } = {}): Promise<ReceiverStack> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-recv-'));
  const bus = new EventBus();
  for (const [k, v] of Object.entries(over.env ?? {})) process.env[k] = v;
  const jobOwners = new JobOwners();
  const engine = new JobEngine({
    configDir: dir,
    dataDir: dir,
    esphome: over.esphome ?? [process.execPath, SIM],
    bus,
    terminateGraceMs: 1000,
    drainMs: 200,
    report: () => undefined,
    jobEnv: buildServerJobEnv(over.receiver?.dataDir ?? dir, jobOwners),
  });
  await engine.start();
  const store = ApprovedSenderStore.inDataDir(dir, { debounceMs: 10, report: () => undefined });
  const pairing = new ReceiverPairing({ store, bus, report: () => undefined });
  const identity = newIdentity();
  const listener = await startPeerLinkListener({
    identity,
    pairing,
    bus,
    host: '127.0.0.1',
    port: 0,
    esphomeVersion: () => '2025.12.2',
    handshakeTimeoutMs: 2000,
  });
  const receiver = new BuildServer({ engine, sessions: listener.sessions, jobOwners, ...over.receiver });
  receiver.start();
  const senders: SenderHandle[] = [];

  const stack: ReceiverStack = {
    dir,
    bus,
    engine,
    receiver,
    listener,
    jobOwners,
    store,
    identity,
    port: listener.port,
    async connect(label = 'Sender', dashboardId = `sender${++counter}${'x'.repeat(20)}`) {
      const sid = newIdentity();
      if (!store.get(dashboardId)) {
        store.put({
          dashboard_id: dashboardId,
          pin_sha256: sid.pin,
          static_x25519_pub: Buffer.from(sid.publicKey),
          label,
          paired_at: Date.now() / 1000,
          peer_ip: '127.0.0.1',
          connect_back_port: 0,
          friendly_name: '',
          ha_addon: false,
        });
        await store.flush();
      }
      const r = await openPeerLink({ host: '127.0.0.1', port: listener.port, identity: sid, expectedPin: identity.pin, dashboardId });
      if (!r.ok) throw new Error(`peer_link refused: ${JSON.stringify(r.response)}`);
      const frames: PeerMessage[] = [];
      const h: SenderHandle = {
        dashboardId,
        key: senderKey(dashboardId, sid.pin),
        identity: sid,
        session: r.session,
        frames,
        closed: null,
        of: (type, jobId) => frames.filter((f) => f.type === type && (jobId === undefined || f.job_id === jobId)),
        waitFrame: async (pred, timeoutMs = 10_000, what = 'frame') => {
          const seen = new Set<PeerMessage>();
          return waitUntil(() => frames.find((f) => !seen.has(f) && pred(f)), { timeoutMs: timeoutMs, what: what });
        },
        waitClosed: (timeoutMs = 5000) => waitUntil(() => h.closed, { timeoutMs: timeoutMs, what: 'session close' }),
      };
      r.session.onMessage((m) => frames.push(m));
      r.session.onClose((reason, detail) => {
        h.closed = { reason, detail };
      });
      senders.push(h);
      await waitUntil(() => frames.some((f) => f.type === 'queue_status'), { timeoutMs: 5000, what: 'initial queue_status' });
      return h;
    },
    async stop() {
      for (const s of senders) await s.session.close('client_stopped').catch(() => undefined);
      await receiver.stop();
      await listener.close();
      await engine.stop();
      await store.close();
      pairing.closeWindow();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

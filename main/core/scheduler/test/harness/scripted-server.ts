// A scripted build server for tests: a REAL peer-link listener (Noise XX over WebSocket on
// 127.0.0.1:0) with one pre-approved sender, whose job handling is written by the test. Each
// `submit_job` is reassembled and verified like a receiver would, then handed to the script, which
// decides what goes back: ack (accepted or rejected), running, output lines, completed / failed /
// cancelled, frames for stray job ids or from another server, silence (a hang), or a dropped
// session. Reusable by the remote-runner, pool and UI end-to-end tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../../../events';
import type { QueueStatus } from '../../../jobs/model';
import { identityFromPrivateKey, type PeerLinkIdentity } from '../../../peer-link/identity';
import { startPeerLinkListener, type PeerLinkListener } from '../../../peer-link/listener';
import { ReceiverPairing } from '../../../peer-link/build-server-pairing';
import { ApprovedSenderStore } from '../../../peer-link/approved-senders';
import type { PeerMessage, BuildServerSession } from '../../../peer-link/session';
import { ChunkAssembler, chunkCount, chunkFrames, sendFrames, sha256Hex } from '../../../peer-link/transfer';

/**
 * The digest of an artifact payload, computed once per payload: the real receiver packs (and
 * hashes) a build's artifacts when the build completes, before the download is asked for, so a
 * payload served again is not hashed again on the download's path either.
 */
const digests = new WeakMap<Buffer, string>();
function digestOf(payload: Buffer): string {
  let d = digests.get(payload);
  if (d === undefined) {
    d = sha256Hex(payload);
    digests.set(payload, d);
  }
  return d;
}
import { generateX25519KeyPair } from '../../../peer-link/x25519';

export type WireStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** One submitted job as the script sees it. */
export interface ScriptedJob {
  readonly jobId: string;
  readonly header: PeerMessage;
  readonly bundle: Buffer;
  readonly session: BuildServerSession;
  ack(accepted?: boolean, reason?: string): Promise<void>;
  state(status: WireStatus, errorMessage?: string, extra?: Record<string, unknown>): Promise<void>;
  output(line: string): Promise<void>;
  /** Resolves when a `cancel_job` for this job arrives. */
  readonly cancelled: Promise<void>;
  cancelCount(): number;
}

export type ArtifactReply = Buffer | { reason: string; detail?: string };

export interface ScriptedServerOptions {
  /** The sender allowed in: its identity pin + static key and dashboard_id. */
  sender: { identity: PeerLinkIdentity; dashboardId: string; label?: string };
  /** Runs for every complete submit. Default: accept, running, completed. */
  onSubmit?: (job: ScriptedJob) => void | Promise<void>;
  /** Reply to `download_artifacts`. Default: unknown_job. */
  artifacts?: (jobId: string) => ArtifactReply | Promise<ArtifactReply>;
  /** queue_status pushed when a session registers (default idle). */
  queueStatus?: QueueStatus;
  esphomeVersion?: string;
  friendlyName?: string;
  identity?: PeerLinkIdentity;
  heartbeatIntervalMs?: number;
  heartbeatDeadAfterMs?: number;
  /** Bind this port (restart on the same endpoint); default 0. */
  port?: number;
}

export class ScriptedServer {
  readonly identity: PeerLinkIdentity;
  readonly received: PeerMessage[] = [];
  readonly jobs: ScriptedJob[] = [];
  private listener!: PeerLinkListener;
  private readonly dir: string;
  private readonly store: ApprovedSenderStore;
  private readonly pairing: ReceiverPairing;
  private readonly bus = new EventBus();
  private current: BuildServerSession | undefined;
  private readonly waiters: Array<(j: ScriptedJob) => void> = [];
  private readonly sessionWaiters: Array<(s: BuildServerSession) => void> = [];
  private readonly cancelHooks = new Map<string, { fire: () => void; count: number }>();

  private constructor(private readonly opts: ScriptedServerOptions) {
    this.identity = opts.identity ?? identityFromPrivateKey(generateX25519KeyPair().privateKey);
    this.dir = mkdtempSync(join(tmpdir(), 'kiln-scripted-'));
    this.store = ApprovedSenderStore.inDataDir(this.dir, { debounceMs: 10, report: () => undefined });
    this.store.put({
      dashboard_id: opts.sender.dashboardId,
      pin_sha256: opts.sender.identity.pin,
      static_x25519_pub: Buffer.from(opts.sender.identity.publicKey),
      label: opts.sender.label ?? 'test sender',
      paired_at: Date.now() / 1000,
      peer_ip: '',
      connect_back_port: 0,
      friendly_name: '',
      ha_addon: false,
    });
    this.pairing = new ReceiverPairing({ store: this.store, bus: this.bus, report: () => undefined });
  }

  static async start(opts: ScriptedServerOptions): Promise<ScriptedServer> {
    const s = new ScriptedServer(opts);
    await s.listen(opts.port ?? 0);
    return s;
  }

  get pin(): string {
    return this.identity.pin;
  }

  get port(): number {
    return this.listener.port;
  }

  get session(): BuildServerSession | undefined {
    return this.current && !this.current.closed ? this.current : undefined;
  }

  /** The next submit (or one that already arrived and was not taken yet). */
  nextJob(timeoutMs = 5000): Promise<ScriptedJob> {
    const waiting = this.jobs[this.takenCount];
    if (waiting !== undefined) {
      this.takenCount++;
      return Promise.resolve(waiting);
    }
    return withTimeout(
      new Promise<ScriptedJob>((r) => this.waiters.push(r)).then((j) => {
        this.takenCount++;
        return j;
      }),
      timeoutMs,
      'a submit_job',
    );
  }
  private takenCount = 0;

  /** Resolves with the live session (waiting for the sender to connect). */
  waitSession(timeoutMs = 5000): Promise<BuildServerSession> {
    if (this.session) return Promise.resolve(this.session);
    return withTimeout(new Promise<BuildServerSession>((r) => this.sessionWaiters.push(r)), timeoutMs, 'a peer-link session');
  }

  /** Sends any frame on the live session (stray ids, foreign frames, garbage types). */
  async send(frame: PeerMessage): Promise<void> {
    const s = this.session;
    if (!s) throw new Error('no live session');
    await s.send(frame);
  }

  /** Ends the live session: a wire reason is sent as terminate{reason}, others just close. */
  async dropSession(reason = 'server_shutting_down', detail = ''): Promise<void> {
    await this.session?.close(reason, detail);
  }

  /** Stops listening and ends the sessions (terminate{server_shutting_down}). */
  async stop(): Promise<void> {
    await this.listener.close();
  }

  /** Listens again on the same port (after `stop`). */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  async dispose(): Promise<void> {
    await this.listener.close().catch(() => undefined);
    await this.store.close?.();
    this.pairing.closeWindow();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async listen(port: number): Promise<void> {
    this.listener = await startPeerLinkListener({
      identity: this.identity,
      pairing: this.pairing,
      bus: this.bus,
      host: '127.0.0.1',
      port,
      portAttempts: 1,
      esphomeVersion: () => this.opts.esphomeVersion ?? '2026.5.0',
      friendlyName: () => this.opts.friendlyName ?? 'scripted server',
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      heartbeatDeadAfterMs: this.opts.heartbeatDeadAfterMs,
      handshakeTimeoutMs: 2000,
      onSession: (s) => this.attach(s),
    });
  }

  private attach(session: BuildServerSession): void {
    this.current = session;
    let inflight: { header: PeerMessage; asm: ChunkAssembler } | undefined;
    session.onMessage((msg) => {
      if (msg.type !== 'submit_job_chunk') this.received.push(msg);
      void this.handle(session, msg, inflight, (v) => (inflight = v)).catch(() => undefined);
    });
    void session.send({ type: 'queue_status', ...(this.opts.queueStatus ?? { idle: true, running: false, queue_depth: 0 }) }).catch(() => undefined);
    for (const w of this.sessionWaiters.splice(0)) w(session);
  }

  private async handle(
    session: BuildServerSession,
    msg: PeerMessage,
    inflight: { header: PeerMessage; asm: ChunkAssembler } | undefined,
    setInflight: (v: { header: PeerMessage; asm: ChunkAssembler } | undefined) => void,
  ): Promise<void> {
    switch (msg.type) {
      case 'submit_job': {
        const asm = new ChunkAssembler({
          totalBytes: msg.total_bundle_bytes as number,
          numChunks: msg.num_chunks as number,
          sha256: msg.bundle_sha256 as string,
          cap: 128 * 1024 * 1024,
        });
        setInflight({ header: msg, asm });
        return;
      }
      case 'submit_job_chunk': {
        if (!inflight || inflight.header.job_id !== msg.job_id) return;
        inflight.asm.feed(msg.chunk_index as number, msg.data_b64 as string, msg.is_last as boolean, msg);
        if (msg.is_last !== true) return;
        const bundle = inflight.asm.finalize();
        const header = inflight.header;
        setInflight(undefined);
        const job = this.makeJob(session, header, bundle);
        this.jobs.push(job);
        const w = this.waiters.shift();
        if (w) w(job);
        if (this.opts.onSubmit) await this.opts.onSubmit(job);
        else {
          await job.ack(true);
          await job.state('running');
          await job.state('completed');
        }
        return;
      }
      case 'cancel_job': {
        const hook = this.cancelHooks.get(msg.job_id as string);
        if (hook) {
          hook.count++;
          hook.fire();
        }
        return;
      }
      case 'download_artifacts': {
        const jobId = msg.job_id as string;
        const reply = this.opts.artifacts ? await this.opts.artifacts(jobId) : { reason: 'unknown_job' };
        if (!Buffer.isBuffer(reply)) {
          await session.send({ type: 'artifacts_end', job_id: jobId, accepted: false, reason: reply.reason, ...(reply.detail ? { detail: reply.detail } : {}) });
          return;
        }
        // Sent the way the receiver sends them (build-server.ts packAndSend).
        await session.send({ type: 'artifacts_start', job_id: jobId, total_bytes: reply.length, num_chunks: chunkCount(reply.length), artifacts_sha256: digestOf(reply), firmware_offset: '0x10000' });
        await sendFrames(session, chunkFrames('artifacts_chunk', jobId, reply));
        await session.send({ type: 'artifacts_end', job_id: jobId, accepted: true });
        return;
      }
      default:
        return;
    }
  }

  private makeJob(session: BuildServerSession, header: PeerMessage, bundle: Buffer): ScriptedJob {
    const jobId = header.job_id as string;
    let fire!: () => void;
    const cancelled = new Promise<void>((r) => (fire = r));
    const hook = { fire, count: 0 };
    this.cancelHooks.set(jobId, hook);
    return {
      jobId,
      header,
      bundle,
      session,
      ack: (accepted = true, reason) => session.send({ type: 'submit_job_ack', job_id: jobId, accepted, ...(accepted ? {} : { reason: reason ?? 'queue_rejected' }) }),
      state: (status, errorMessage = '', extra = {}) => session.send({ type: 'job_state_changed', job_id: jobId, status, error_message: errorMessage, ...extra }),
      output: (line) => session.send({ type: 'job_output', job_id: jobId, stream: 'stdout', line }),
      cancelled,
      cancelCount: () => hook.count,
    };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/**
 * A valid artifact tarball as a receiver packs it (peer-link-protocol.md §10.1): storage.json
 * with receiver-absolute paths + the firmware image under `.pioenvs/<name>/`.
 */
export async function makeArtifactTarball(name: string, opts: { platform?: string; firmware?: Buffer } = {}): Promise<Buffer> {
  const { create } = await import('tar');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-artifacts-'));
  try {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const remoteBuild = `/srv/kiln/remote_builds/abcdefgh/${name}/.esphome/build/${name}`;
    const storage = {
      storage_version: 1,
      name,
      friendly_name: name,
      esp_platform: opts.platform ?? 'ESP32',
      build_path: remoteBuild,
      firmware_bin_path: `${remoteBuild}/.pioenvs/${name}/firmware.bin`,
    };
    writeFileSync(join(dir, 'storage.json'), JSON.stringify(storage));
    mkdirSync(join(dir, '.pioenvs', name), { recursive: true });
    writeFileSync(join(dir, '.pioenvs', name, 'firmware.bin'), opts.firmware ?? Buffer.from(`firmware of ${name}`));
    const chunks: Buffer[] = [];
    const stream = create({ gzip: true, cwd: dir, portable: true }, ['storage.json', `.pioenvs/${name}/firmware.bin`]);
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

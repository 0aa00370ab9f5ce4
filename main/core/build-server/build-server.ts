// The build-server role (peer-link-protocol.md §8–§11, firmware-jobs.md §12): takes submitted
// bundles from registered sessions, extracts them per sender, runs them on the engine's compile
// lane like local jobs, fans their lifecycle and output back to the submitting sender only,
// serves cancel_job / download_artifacts / reset_build_env, broadcasts queue_status and sweeps
// idle workspaces.
import { join, resolve } from 'node:path';
import { createJob, isActive, isNetworkFlash, type FirmwareJob } from '../jobs/model';
import type { BuildServerSession } from '../peer-link/session';
import { ArtifactHolder, serveDownload, type DownloadSource } from './artifact-holder';
import { ArtifactReuse, bundleContentDigest, type ReuseCandidate } from './artifact-reuse';
import { SenderLimits } from './sender-limits';
import { ackFrame, cancelBuildServerJobs, configurationFor, stopRunningBuilds, type BuildServerOptions, type BuildServerEngine, type BuildServerSessions } from './build-server-options';
export { cancelBuildServerJobs, type BuildServerOptions, type BuildServerEngine, type BuildServerSessions } from './build-server-options';
import { BundleExtractError, extractBundle, isOutOfDiskSpace, outOfDiskSpaceMessages } from './bundle-extract';
import { senderKey } from './filename';
import { mkdirPrivate } from '../private-fs';
import { provisionSubmit, BuildServerProvisioner } from './provision';
import { SubmitIntake, type AcceptedSubmit } from './submit-intake';
import { OutputPump } from './output-pump';
import type { JobOwners } from './job-env';
import { capErrorMessage, isStr, type Frame, type SubmitReason } from './frame-parse';
import { deviceWorkspace, remoteBuildsRoot, senderEsphomeDataDir, senderWorkspace, touchWorkspace, WorkspaceSweeper } from './workspace';

export { DEFAULT_MAX_BYTES_PER_SENDER, DEFAULT_MAX_BYTES_TOTAL, DEFAULT_MAX_QUEUED_JOBS_PER_SENDER, DEFAULT_WORKSPACE_QUOTA_BYTES } from './sender-limits';
export const CANCELLED_BEFORE_QUEUED = 'cancelled by the offloader before the build was queued';
export const BUNDLE_FAILURE_PREFIX = 'receiver could not process the bundle: ';

interface PendingExtract {
  dashboardId: string;
  /** Bundle bytes held until extracted. */
  bytes: number;
  /** senderKey(dashboard_id, pin) of the submitting session. */
  key: string;
  jobId: string;
  abort: AbortController;
}

interface SenderState {
  /** FIFO of this sender's post-ack work (extract + enqueue), one at a time. */
  tail: Promise<void>;
  /** Acked jobs not yet enqueued, by the sender's job_id. */
  pending: Map<string, PendingExtract>;
}

interface SessionState {
  session: BuildServerSession;
  /** senderKey(dashboard_id, pin): the identity every per-sender resource is keyed on. */
  key: string;
  intake: SubmitIntake;
  downloading: boolean;
  offMessage: () => void;
  /** Job output and job states to this sender, with back-pressure (output-pump.ts). */
  pump: OutputPump;
}

export class BuildServer {
  readonly dataDir: string;
  readonly root: string;
  private readonly engine: BuildServerEngine;
  private readonly sessions: BuildServerSessions;
  private readonly log: (message: string) => void;
  private readonly states = new Map<BuildServerSession, SessionState>();
  /** Per sender, by senderKey (full dashboard_id + pinned key), never by an id prefix. */
  private readonly senders = new Map<string, SenderState>();
  /** Receiver job id → senderKey of the sender that submitted it. */
  private readonly jobOwners: JobOwners;
  private readonly offs: Array<() => void> = [];
  private readonly sweeper: WorkspaceSweeper;
  private started = false;
  private stopped = false;
  private readonly limits: SenderLimits;
  /** Artifacts packed the moment a compile completed, held for the download (artifact-holder.ts). */
  private readonly artifacts: ArtifactHolder;
  /** Completed builds kept per sender for an identical resubmission (artifact-reuse.ts). */
  private readonly reuse: ArtifactReuse;

  constructor(private readonly opts: BuildServerOptions) {
    this.engine = opts.engine;
    this.jobOwners = opts.jobOwners;
    this.limits = new SenderLimits({
      ...opts,
      root: remoteBuildsRoot(resolve(opts.dataDir ?? opts.engine.dataDir)),
      log: (m) => this.log(m),
      isBusy: (name) => this.senderBusy(name),
    });
    this.artifacts = new ArtifactHolder({
      configDir: () => opts.engine.configDir,
      dataDir: resolve(opts.dataDir ?? opts.engine.dataDir),
      ownerOf: (jobId) => this.jobOwners.get(jobId),
      ttlMs: opts.prepackTtlMs,
    });
    this.reuse = new ArtifactReuse({
      dataDir: resolve(opts.dataDir ?? opts.engine.dataDir),
      keepPerSender: opts.reuseKeepPerSender,
      ttlMs: opts.prepackTtlMs,
      hasRoom: (bytes) => this.limits.hasRoom(bytes),
      withDiskLock: (fn) => this.limits.withDiskLock(fn),
      log: (m) => this.log(m),
    });
    this.sessions = opts.sessions;
    this.dataDir = resolve(opts.dataDir ?? opts.engine.dataDir);
    this.root = remoteBuildsRoot(this.dataDir);
    this.log = opts.log ?? (() => undefined);
    this.sweeper = new WorkspaceSweeper({
      root: this.root,
      ttlSeconds: opts.cleanupTtlSeconds,
      intervalMs: opts.sweepIntervalMs,
      isBusy: (dir) => this.senderBusy(dir),
      onSwept: (removed) => this.log(`removed ${removed.length} idle workspace(s): ${removed.join(', ')}`),
    });
  }

  /** Attach to the engine and the session registry. Call before the listener accepts sessions. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const bus = this.engine.bus;
    this.offs.push(
      this.sessions.onRegister((s) => this.attach(s)),
      this.sessions.onUnregister((s) => this.detach(s)),
      bus.on('job_queued', ({ job }) => this.onLaneTransition(job)),
      bus.on('job_started', ({ job }) => {
        this.onLaneTransition(job);
        this.fanState(job, 'running');
      }),
      bus.on('job_completed', ({ job }) => this.onTerminal(job, 'completed')),
      bus.on('job_failed', ({ job }) => this.onTerminal(job, 'failed')),
      bus.on('job_cancelled', ({ job }) => this.onTerminal(job, 'cancelled')),
      bus.on('job_output', ({ job_id, line }) => this.fanOutput(job_id, line)),
    );
    const orphans = cancelBuildServerJobs(this.engine);
    if (orphans > 0) this.log(`cancelled ${orphans} build(s) left over from before: their senders' sessions are gone`);
    for (const s of this.sessions.list()) this.attach(s);
    this.sweeper.start();
  }

  /** Detach; pending extracts are abandoned (their jobs never reach the engine). */
  /** No job output waiting to be sent to any sender (idle-collect.ts). */
  outputIdle(): boolean {
    for (const st of this.states.values()) if (!st.pump.idle) return false;
    return true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sweeper.stop();
    this.artifacts.dropAll();
    for (const off of this.offs.splice(0)) off();
    // Builds of a role that is going away could neither report nor be downloaded any more.
    cancelBuildServerJobs(this.engine);
    for (const st of this.states.values()) {
      st.offMessage();
      st.pump.close();
    }
    this.states.clear();
    const tails: Promise<void>[] = [];
    for (const sender of this.senders.values()) {
      for (const p of sender.pending.values()) p.abort.abort(new Error('receiver stopping'));
      tails.push(sender.tail);
    }
    await Promise.allSettled(tails);
    await this.reuse.close();
  }

  /** Runs the workspace sweep now (also runs on its timer). */
  sweepNow(now?: number): Promise<string[]> {
    return this.sweeper.sweepNow(now);
  }

  /** Receiver jobs of one sender, newest first (for the UI's "from <sender>"). */
  jobsOf(dashboardId: string): FirmwareJob[] {
    return this.engine.getJobs().filter((j) => j.remote_peer === dashboardId);
  }

  // ---------------------------------------------------------------- sessions

  private attach(session: BuildServerSession): void {
    if (this.stopped || this.states.has(session)) return;
    const key = senderKey(session.dashboardId, session.pin);
    const state: SessionState = {
      session,
      key,
      downloading: false,
      offMessage: () => undefined,
      pump: new OutputPump({
        send: (frame) => session.send(frame),
        onError: (err, frame) => this.log(`send ${frame.type} to ${session.label || session.dashboardId} failed: ${err.message}`),
      }),
      intake: new SubmitIntake({
        maxBundleBytes: this.opts.maxBundleBytes,
        ack: (jobId, accepted, reason) => this.send(session, ackFrame(jobId, accepted, reason)),
        terminate: (detail) => {
          this.log(`terminating session of ${session.label || session.dashboardId}: ${detail}`);
          void session.close('malformed_frame', detail);
        },
        isExtracting: (jobId) => this.senders.get(key)?.pending.has(jobId) ?? false,
        onAccepted: (submit) => this.schedule(session, key, submit),
        admit: (jobId, totalBytes) => this.admit(key, session, jobId, totalBytes),
      }),
    };
    state.offMessage = session.onMessage((msg) => this.onFrame(state, msg));
    this.states.set(session, state);
    // §9.4: a value at once, so the sender's scheduler has one.
    this.send(session, { type: 'queue_status', ...this.engine.queueStatus() });
  }

  private detach(session: BuildServerSession): void {
    const st = this.states.get(session);
    if (!st) return;
    st.offMessage();
    st.intake.drop();
    st.pump.close();
    this.states.delete(session);
  }

  private onFrame(st: SessionState, msg: Frame): void {
    switch (msg.type) {
      case 'submit_job':
        return st.intake.header(msg);
      case 'submit_job_chunk':
        return st.intake.chunk(msg);
      case 'cancel_job':
        if (isStr(msg.job_id)) void this.cancelFromSender(st.key, st.session.dashboardId, msg.job_id);
        return;
      case 'download_artifacts':
        return this.download(st, msg);
      case 'reset_build_env':
        // Not implemented (advertised reset_build_env_supported:false), §11.
        this.send(st.session, { type: 'reset_build_env_ack', job_id: isStr(msg.job_id) ? msg.job_id : '', accepted: false, reason: isStr(msg.job_id) ? 'not_ready' : 'invalid_frame' });
        return;
      default:
        // Unknown or offloader-bound types: ignored for forward compatibility (§6.1).
        return;
    }
  }

  private send(session: BuildServerSession, frame: Frame): void {
    if (session.closed) return;
    session.send(frame).catch((err: Error) => this.log(`send ${frame.type} to ${session.label || session.dashboardId} failed: ${err.message}`));
  }

  /** The sender's live session, if any (fan-out is best effort, no replay, §9.2). */
  private liveSession(dashboardId: string): BuildServerSession | undefined {
    const s = this.sessions.get(dashboardId);
    return s && !s.closed ? s : undefined;
  }

  // ---------------------------------------------------------------- submit → extract → enqueue

  private senderState(key: string): SenderState {
    let s = this.senders.get(key);
    if (!s) {
      s = { tail: Promise.resolve(), pending: new Map() };
      this.senders.set(key, s);
    }
    return s;
  }

  private schedule(session: BuildServerSession, key: string, submit: AcceptedSubmit): void {
    const dashboardId = session.dashboardId;
    const sender = this.senderState(key);
    const pending: PendingExtract = { dashboardId, key, bytes: submit.bundle.length, jobId: submit.jobId, abort: new AbortController() };
    sender.pending.set(submit.jobId, pending);
    // Serialised per sender, off the receive loop: pings and cancels keep being served.
    sender.tail = sender.tail.then(() => this.process(session, submit, pending)).catch((err: Error) => this.log(`post-ack processing failed: ${err.message}`));
  }

  private async process(session: BuildServerSession, submit: AcceptedSubmit, pending: PendingExtract): Promise<void> {
    const { dashboardId, key } = pending;
    const sender = this.senderState(key);
    const signal = pending.abort.signal;
    /** `toSender`: plain words after the §8 reason, for failures the sender can act on. */
    const fail = (reason: SubmitReason, detail: string, toSender = ''): void => {
      sender.pending.delete(submit.jobId);
      this.log(`job ${submit.jobId} from ${session.label || dashboardId}: ${reason}: ${detail}`);
      const live = this.liveSession(dashboardId);
      const message = `${BUNDLE_FAILURE_PREFIX}${reason}${toSender ? ` (${toSender})` : ''}`;
      if (live) this.send(live, { type: 'job_state_changed', job_id: submit.jobId, status: 'failed', error_message: capErrorMessage(message) });
    };
    if (signal.aborted) return;
    const deviceDir = deviceWorkspace(this.dataDir, key, submit.configurationFilename);
    const senderDir = senderWorkspace(this.dataDir, key);
    let configuration: string;
    let digest = '';
    try {
      configuration = configurationFor(this.engine.configDir, this.root, join(deviceDir, submit.configurationFilename));
    } catch (err) {
      // The engine could never run it: refuse before writing anything.
      fail('queue_rejected', (err as Error).message);
      return;
    }
    try {
      await this.opts.beforeExtract?.(submit.jobId, signal);
      if (signal.aborted) return;
      // The workspace is about to be rewritten: a build of the same device still running on it
      // is cancelled and awaited first (a resubmit supersedes it anyway).
      await stopRunningBuilds(this.engine, configuration, (running) => this.log(`resubmit ${submit.jobId} replaces the running build ${running}`));
      if (signal.aborted) return;
      // Quota check and extraction hold the disk lock together: two senders cannot both pass
      // the check for the same free space.
      const quotaRefusal = await this.limits.withDiskLock(async () => {
        const refusal = await this.limits.makeRoom(key, submit.bundle.length);
        if (refusal || signal.aborted) return refusal;
        const extracted = await extractBundle({
          bundle: submit.bundle,
          root: this.root,
          deviceDir,
          configurationFilename: submit.configurationFilename,
          maxUncompressedBytes: this.opts.maxUncompressedBundleBytes,
          maxCompressedBytes: this.opts.maxBundleBytes,
          signal,
        });
        digest = bundleContentDigest(submit.configurationFilename, extracted.members);
        return undefined;
      });
      if (quotaRefusal) {
        fail('queue_rejected', quotaRefusal);
        return;
      }
      // The sender's ESPHOME_DATA_DIR exists 0700 before esphome writes into it (esphome's own
      // files follow its umask; the 0700 directories above them keep other users out).
      await mkdirPrivate(senderEsphomeDataDir(this.dataDir, key));
      await touchWorkspace(senderDir);
    } catch (err) {
      if (signal.aborted) return;
      if (isOutOfDiskSpace(err)) {
        const said = outOfDiskSpaceMessages(submit.bundle, this.root, err as Error);
        fail('extract_failed', said.log, said.sender);
        return;
      }
      fail('extract_failed', err instanceof BundleExtractError ? err.message : (err as Error).message);
      return;
    }
    if (signal.aborted) return;
    // Identical bundle, same ESPHome, same sender: the stored firmware, no rebuild.
    const version = submit.target === 'compile' ? this.builtWith(submit.targetEsphomeVersion) : '';
    const send = (frame: Frame): void => {
      const live = this.liveSession(dashboardId);
      if (live) this.send(live, frame);
    };
    const who = session.label || dashboardId;
    // `aborted`: a cancel_job while the stored pack was read already answered `cancelled`.
    if (await this.reuse.serveIdentical({ key, jobId: submit.jobId, configuration, digest, esphomeVersion: version, who, send, aborted: () => signal.aborted }).catch(() => false)) {
      sender.pending.delete(submit.jobId);
      return;
    }
    if (signal.aborted) return;
    const provisioned = await provisionSubmit(this.opts.provisioner, {
      jobId: submit.jobId,
      target: submit.targetEsphomeVersion,
      signal,
      inUse: () => BuildServerProvisioner.versionsInUse(this.engine.getJobs()),
      send,
      log: this.log,
    });
    if (!provisioned) {
      sender.pending.delete(submit.jobId);
      return;
    }
    const label = this.liveSession(dashboardId)?.label || session.label;
    const job = createJob({
      configuration,
      job_type: submit.target === 'clean' ? 'clean' : 'compile',
      remote_peer: dashboardId,
      remote_job_id: submit.jobId,
      remote_peer_label: label,
      device_name: submit.deviceName,
      device_friendly_name: submit.deviceFriendlyName,
      target_esphome_version: submit.targetEsphomeVersion,
    });
    try {
      // Leaving `pending` and entering the engine happen in the same tick: a cancel_job sees one or the other.
      sender.pending.delete(submit.jobId);
      this.recordOwner(job, key);
      if (version) this.reuse.expect(job.job_id, { key, digest, esphomeVersion: version });
      this.engine.enqueue([job]);
      this.log(`queued ${job.job_type} ${configuration} for ${label || dashboardId} (their job ${submit.jobId}, ours ${job.job_id})`);
    } catch (err) {
      fail('queue_rejected', (err as Error).message);
    }
  }

  // ---------------------------------------------------------------- limits (issue 11, defect 7)

  /** submit_job header admission: per-sender queue and bytes, total bytes held. */
  private admit(key: string, session: BuildServerSession, jobId: string, totalBytes: number): SubmitReason | undefined {
    const sender = this.senders.get(key);
    const active = this.engine.getJobs().filter((j) => isActive(j) && this.jobOwners.get(j.job_id) === key).length;
    let heldTotal = 0;
    for (const s of this.senders.values()) for (const p of s.pending.values()) heldTotal += p.bytes;
    for (const st of this.states.values()) heldTotal += st.intake.inFlightBytes;
    heldTotal += this.reuse.heldBytes();
    return this.limits.admit(session.label || session.dashboardId, jobId, totalBytes, {
      queued: (sender?.pending.size ?? 0) + active,
      heldBySender: [...(sender?.pending.values() ?? [])].reduce((n, p) => n + p.bytes, 0) + this.reuse.heldBytes(key),
      heldTotal,
    });
  }

  // ---------------------------------------------------------------- cancel_job (§9.6)

  private async cancelFromSender(key: string, dashboardId: string, jobId: string): Promise<void> {
    const pending = this.senders.get(key)?.pending.get(jobId);
    if (pending) {
      this.senders.get(key)!.pending.delete(jobId);
      pending.abort.abort(new Error(CANCELLED_BEFORE_QUEUED));
      const live = this.liveSession(dashboardId);
      if (live) this.send(live, { type: 'job_state_changed', job_id: jobId, status: 'cancelled', error_message: CANCELLED_BEFORE_QUEUED });
      this.log(`job ${jobId} of ${dashboardId} cancelled before it was queued`);
      return;
    }
    const job = this.findJob(key, jobId);
    // Unknown or already finished: ignored silently.
    if (!job || !isActive(job)) return;
    await this.engine.cancel(job.job_id, { by: 'remote' }).catch(() => undefined);
  }

  /** The newest retained receiver job for (sender key, their job_id). */
  private findJob(key: string, jobId: string): FirmwareJob | undefined {
    return this.engine.getJobs().find((j) => j.remote_job_id === jobId && this.jobOwners.get(j.job_id) === key);
  }

  private recordOwner(job: FirmwareJob, key: string): void {
    // The provisioned toolchain (if any) is fixed per job at enqueue: the engine's job env reads it.
    this.jobOwners.set(job.job_id, key, this.opts.provisioner?.jobEnv(job));
    // Forget owners of jobs the engine no longer retains (keeps the map as small as its history).
    if (this.jobOwners.size % 64 === 0) {
      for (const id of this.jobOwners.keys()) if (!this.engine.getJob(id)) this.jobOwners.delete(id);
    }
  }

  // ---------------------------------------------------------------- fan-out (§9.2, §9.4)

  private isRemoteJob(job: FirmwareJob): boolean {
    return job.remote_peer !== '' && job.remote_job_id !== '';
  }

  private fanState(job: FirmwareJob, status: 'running' | 'completed' | 'failed' | 'cancelled'): void {
    if (!this.isRemoteJob(job)) return;
    const live = this.liveSession(job.remote_peer);
    if (!live) return;
    const frame: Frame = {
      type: 'job_state_changed',
      job_id: job.remote_job_id,
      status,
      error_message: status === 'failed' || status === 'cancelled' ? capErrorMessage(job.error ?? (status === 'failed' ? 'build failed' : 'cancelled')) : '',
    };
    if (status === 'failed' && job.failure_reason === 'provision') frame.failure_reason = 'provision';
    // After the job's waiting output: the sender never sees a terminal state before the last line.
    const pump = this.states.get(live)?.pump;
    if (pump) pump.jobFrame(job.remote_job_id, frame);
    else this.send(live, frame);
  }

  private fanOutput(jobId: string, line: string): void {
    const job = this.engine.getJob(jobId);
    if (!job || !this.isRemoteJob(job)) return;
    const live = this.liveSession(job.remote_peer);
    if (!live) return;
    this.states.get(live)?.pump.output(job.remote_job_id, line);
  }

  private onTerminal(job: FirmwareJob, status: 'completed' | 'failed' | 'cancelled'): void {
    this.onLaneTransition(job);
    this.fanState(job, status);
    const owner = this.jobOwners.get(job.job_id);
    if (owner) void touchWorkspace(senderWorkspace(this.dataDir, owner));
    if (status === 'completed' && job.remote_peer && job.job_type === 'compile') {
      void this.reuse.completed(job.job_id, this.artifacts.hold(job), (c) => this.stillReusable(job, c));
    } else this.reuse.forgetJob(job.job_id);
  }

  /** The ESPHome version a submit is built with here: the provisioned one, else this build server's own. */
  private builtWith(target: string): string {
    return this.opts.provisioner?.versionFor(target) ?? this.opts.esphomeVersion?.() ?? '';
  }

  /** A finished pack may be stored: still the same ESPHome, and no later build of the device since. */
  private stillReusable(job: FirmwareJob, c: ReuseCandidate): boolean {
    return this.builtWith(job.target_esphome_version) === c.esphomeVersion && this.engine.getJobs({ configuration: job.configuration })[0]?.job_id === job.job_id;
  }

  /** Settles once the artifacts held for `jobId` are packed (at once when none are held). */
  async whenPrepacked(jobId: string): Promise<void> {
    const job = this.engine.getJobs().find((j) => j.remote_job_id === jobId || j.job_id === jobId);
    await this.artifacts.whenPacked(job?.job_id ?? jobId);
  }

  private onLaneTransition(job: FirmwareJob): void {
    // Compile lane only (§9.4): network flashes and off-lane remote/pending jobs don't count.
    if (isNetworkFlash(job) || job.source !== 'local') return;
    const status = this.engine.queueStatus();
    for (const s of this.states.keys()) this.send(s, { type: 'queue_status', ...status });
  }

  // ---------------------------------------------------------------- download_artifacts (§10)

  private download(st: SessionState, msg: Frame): void {
    const resolveJob = (jobId: string): DownloadSource | 'unknown_job' | 'job_not_completed' => {
      const hit = this.reuse.takeHit(st.key, jobId);
      if (hit) return { job: hit.job, packing: () => hit.packed };
      const job = this.findJob(st.key, jobId);
      if (!job) return 'unknown_job';
      if (job.status !== 'completed') return 'job_not_completed';
      return { job, packing: () => this.artifacts.take(job) };
    };
    serveDownload({ session: st.session, msg, state: st, resolveJob, send: (f) => this.send(st.session, f), log: this.log });
  }

  // ---------------------------------------------------------------- env + sweep

  /** §9.5 / esphome-cli.md §6.2: receiver builds get a per-sender ESPHOME_DATA_DIR. */
  private senderBusy(dir: string): boolean {
    if ((this.senders.get(dir)?.pending.size ?? 0) > 0) return true;
    return this.engine.getJobs().some((j) => isActive(j) && j.remote_peer !== '' && this.jobOwners.get(j.job_id) === dir);
  }
}

// The build-server role of a Kiln window (desktop or `kiln serve`): the peer-link listener and
// the BuildServer are started and stopped live when the role is switched on or off (upstream
// needed a restart), and the build server's pairing state is exposed to the UI. With an mDNS stack
// the role advertises _esphomebuilder._tcp (peer-link-protocol.md §16) exactly while the
// listener is bound, like `kiln receiver`.
import type { BuildServerRoleState, PairingWindowState } from '../../../preload/contract';
import { ApiError } from '../errors';
import type { EventBus } from '../events';
import type { JobEngine } from '../jobs/engine';
import { startPeerLinkListener, type PeerLinkListener } from '../peer-link/listener';
import { BuildServerAdvertiser, type BonjourLike, type MdnsPublishConfig } from '../peer-link/mdns';
import type { ReceiverPairing } from '../peer-link/build-server-pairing';
import type { SessionTiming } from '../peer-link/session';
import type { PeerLinkState } from '../peer-link/state';
import type { BuildServerProvisioner } from '../build-server/provision';
import { BuildServer } from '../build-server/build-server';
import type { JobOwners } from '../build-server/job-env';
import type { BuildServerRolePort } from './ports';

export interface BuildServerRoleOptions extends SessionTiming {
  engine: JobEngine;
  /** Shared with the engine's job env (buildServerJobEnv): which sender owns each build-server job. */
  jobOwners: JobOwners;
  bus: EventBus;
  state: PeerLinkState;
  pairing: ReceiverPairing;
  /** Listener bind address (default all interfaces) and port (default 6055; 0 = any). */
  host?: string;
  port?: number;
  esphomeVersion: () => string;
  /** Builds senders' ESPHome versions in toolchains (§9.5); absent = auto_provision_supported false. */
  provisioner?: BuildServerProvisioner;
  friendlyName: () => string;
  /** mDNS stack to advertise the bound listener on (absent: no advertising). */
  mdns?: BonjourLike;
  /** TXT `server_version` (default 'kiln'). */
  serverVersion?: string;
  report?: (message: string) => void;
}

export class BuildServerRole implements BuildServerRolePort {
  private listener: PeerLinkListener | null = null;
  private receiver: BuildServer | null = null;
  private listenError = '';
  /** On for this run by `kiln serve --build-server`, whatever the stored setting. */
  private forced = false;
  private transition: Promise<void> = Promise.resolve();
  private readonly advertiser: BuildServerAdvertiser | null;

  constructor(private readonly o: BuildServerRoleOptions) {
    // No service port: nothing is advertised while the listener is down (§16: pin and port only
    // while bound, and this role has no other service to point at).
    this.advertiser = o.mdns
      ? new BuildServerAdvertiser({
          bonjour: o.mdns,
          dashboardId: o.state.dashboardId,
          serverVersion: o.serverVersion ?? 'kiln',
          esphomeVersion: o.esphomeVersion,
          friendlyName: o.friendlyName,
          pin: () => o.state.identity.pin,
        })
      : null;
  }

  /** Binds the listener when the stored setting says the role is on, or `force` (`kiln serve --build-server`) for this run. */
  async start(force = false): Promise<void> {
    this.forced = force;
    if (force || this.o.state.receiverPeers.settings.enabled) await this.apply(true);
  }

  async stop(): Promise<void> {
    await this.apply(false);
    this.o.pairing.closeWindow();
  }

  get port(): number | null {
    return this.listener?.port ?? null;
  }

  /** The mDNS record currently advertised (null: none, or no mDNS stack). */
  get advertised(): MdnsPublishConfig | null {
    return this.advertiser?.current ?? null;
  }

  state(): BuildServerRoleState {
    const { state, pairing, engine } = this.o;
    const sessions = this.listener?.sessions;
    const q = engine.queueStatus();
    return {
      enabled: state.receiverPeers.settings.enabled || this.forced,
      listening: this.listener !== null,
      port: this.listener?.port ?? null,
      listenError: this.listenError,
      identity: { pin: state.identity.pin, dashboardId: state.dashboardId, label: this.o.friendlyName() },
      window: this.windowState(),
      pending: pairing.pending().map((p) => ({
        dashboardId: p.dashboard_id,
        pin: p.pin_sha256,
        label: p.label || p.friendly_name,
        peerIp: p.peer_ip,
        requestedAt: new Date(p.paired_at * 1000).toISOString(),
      })),
      senders: pairing.approved().map((p) => ({
        dashboardId: p.dashboard_id,
        pin: p.pin_sha256,
        label: p.label || p.friendly_name,
        peerIp: p.peer_ip,
        pairedAt: new Date(p.paired_at * 1000).toISOString(),
        connected: !!sessions?.get(p.dashboard_id),
      })),
      queue: { idle: q.idle, running: q.running, queueDepth: q.queue_depth },
    };
  }

  async setEnabled(enabled: boolean): Promise<void> {
    this.forced = false;
    await this.o.state.receiverPeers.updateSettings({ enabled });
    await this.apply(enabled);
    if (enabled && !this.listener) throw new ApiError('unavailable', `The build-server listener could not start: ${this.listenError}`);
  }

  openWindow(holder: string): PairingWindowState {
    if (!this.listener) throw new ApiError('precondition_failed', 'Turn on the build-server role first');
    this.o.pairing.openWindow(holder);
    return this.windowState();
  }

  extendWindow(holder: string): PairingWindowState {
    if (!this.o.pairing.extendWindow()) return this.openWindow(holder);
    return this.windowState();
  }

  closeWindow(holder: string): PairingWindowState {
    this.o.pairing.releaseWindow(holder);
    return this.windowState();
  }

  async approve(dashboardId: string): Promise<void> {
    await this.o.pairing.approve(dashboardId);
  }

  async reject(dashboardId: string): Promise<void> {
    this.o.pairing.reject(dashboardId);
  }

  async removeSender(dashboardId: string): Promise<void> {
    if (!(await this.o.pairing.removePeer(dashboardId))) throw new ApiError('not_found', 'No paired sender with that dashboard id');
  }

  private windowState(): PairingWindowState {
    const w = this.o.pairing.window;
    return { open: w.isOpen, expiresInSeconds: w.expiresInSeconds };
  }

  /** Serialised so quick on/off clicks cannot interleave a bind with an unbind. */
  private apply(enabled: boolean): Promise<void> {
    this.transition = this.transition.then(() => (enabled ? this.bind() : this.unbind()));
    return this.transition;
  }

  private async bind(): Promise<void> {
    if (this.listener) return;
    const o = this.o;
    try {
      const listener = await startPeerLinkListener({
        identity: o.state.identity,
        pairing: o.pairing,
        bus: o.bus,
        host: o.host,
        port: o.port,
        esphomeVersion: o.esphomeVersion,
        friendlyName: o.friendlyName,
        autoProvisionSupported: () => o.provisioner?.supported() ?? false,
        resetBuildEnvSupported: () => false,
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        heartbeatDeadAfterMs: o.heartbeatDeadAfterMs,
      });
      const receiver = new BuildServer({
        engine: o.engine,
        jobOwners: o.jobOwners,
        sessions: listener.sessions,
        cleanupTtlSeconds: o.state.receiverPeers.settings.cleanup_ttl_seconds,
        provisioner: o.provisioner,
        esphomeVersion: o.esphomeVersion,
        log: (m) => o.report?.(`[build server] ${m}`),
      });
      receiver.start();
      this.listener = listener;
      this.receiver = receiver;
      this.listenError = '';
    } catch (err) {
      this.listenError = (err as Error).message;
      o.report?.(`build-server listener could not start: ${this.listenError}`);
      return;
    }
    await this.advertise(this.listener.port);
  }

  /** Advertising is best effort: a multicast failure never takes the role down. */
  private async advertise(port: number | null): Promise<void> {
    if (!this.advertiser) return;
    try {
      if (port === null) await this.advertiser.stop();
      else await this.advertiser.setListenerPort(port);
    } catch (err) {
      this.o.report?.(`build-server mDNS ${port === null ? 'withdrawal' : 'advertising'} failed: ${(err as Error).message}`);
    }
  }

  private async unbind(): Promise<void> {
    const { listener, receiver } = this;
    this.listener = null;
    this.receiver = null;
    this.o.pairing.closeWindow();
    // Withdrawn first, so nobody is pointed at a port that is about to close.
    await this.advertise(null);
    await receiver?.stop();
    await listener?.close();
  }
}

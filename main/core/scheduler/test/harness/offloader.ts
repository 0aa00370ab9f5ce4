// The sending side for tests: a real JobEngine + PairingStore + PeerLinkClientManager +
// RemoteBuilds in this process, pairings pre-approved for the given build servers, a temp config
// dir. Paired with ScriptedServer (or a real `kiln receiver`) on loopback.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus } from '../../../events';
import { JobEngine, type EngineOptions } from '../../../jobs/engine';
import type { FirmwareJob } from '../../../jobs/model';
import type { RemoteRunnerFn } from '../../../jobs/remote';
import { PeerLinkClientManager } from '../../../peer-link/client-manager';
import { identityFromPrivateKey, type PeerLinkIdentity } from '../../../peer-link/identity';
import { PairingStore, type StoredPairing } from '../../../peer-link/pairing-store';
import { generateX25519KeyPair } from '../../../peer-link/x25519';
import { RemoteBuilds, type RemoteBuildsOptions } from '../../remote-builds';

/** Kiln's esphome simulator: the sender's local steps (bundle, upload, local compiles) run it. */
export const SIM_ESPHOME = join(dirname(fileURLToPath(import.meta.url)), '../../../../../tools/esphome-sim/esphome');

export interface ServerEndpoint {
  pin: string;
  publicKey: Uint8Array;
  port: number;
  host?: string;
  label?: string;
  esphomeVersion?: string;
  /** Unix seconds; default: order of the list. */
  pairedAt?: number;
}

export interface OffloaderOptions {
  identity?: PeerLinkIdentity;
  /** The dashboard_id the servers approved (set before any client dials). */
  dashboardId?: string;
  esphome?: string[];
  engine?: Partial<EngineOptions>;
  remote?: Partial<Omit<RemoteBuildsOptions, 'bus' | 'jobs' | 'store' | 'clients'>>;
  /** Wraps the real remote runner the engine is built with (e.g. to record or replace its results). */
  wrapRunner?: (real: RemoteRunnerFn) => RemoteRunnerFn;
  settings?: Partial<{ remote_builds_enabled: boolean; version_match_policy: 'any' | 'release' | 'exact' | 'exact_required'; include_local_in_pool: boolean }>;
  localEsphomeVersion?: string;
  heartbeatIntervalMs?: number;
  heartbeatDeadAfterMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

export class TestSender {
  readonly dir: string;
  readonly configDir: string;
  readonly bus = new EventBus();
  readonly identity: PeerLinkIdentity;
  readonly store: PairingStore;
  readonly clients: PeerLinkClientManager;
  readonly engine: JobEngine;
  readonly remote: RemoteBuilds;
  /** Every simulator invocation appends a JSON line here (argv, pid, role). */
  readonly simLogPath: string;
  /** Extra environment of every job's esphome runs (read per run: tests may change it). */
  readonly jobEnv: Record<string, string | undefined>;

  private constructor(o: OffloaderOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'kiln-offloader-'));
    this.configDir = join(this.dir, 'config');
    this.simLogPath = join(this.dir, 'esphome-sim.jsonl');
    this.jobEnv = { ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_LOG: this.simLogPath };
    mkdirSync(this.configDir, { recursive: true });
    this.identity = o.identity ?? identityFromPrivateKey(generateX25519KeyPair().privateKey);
    this.store = PairingStore.inDataDir(join(this.dir, 'data'), { bus: this.bus, report: () => undefined });
    this.clients = new PeerLinkClientManager({
      identity: this.identity,
      store: this.store,
      bus: this.bus,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      heartbeatDeadAfterMs: o.heartbeatDeadAfterMs,
      backoffBaseMs: o.backoffBaseMs ?? 20,
      backoffCapMs: o.backoffCapMs ?? 100,
      connectTimeoutMs: 2000,
      handshakeTimeoutMs: 2000,
    });
    const version = o.localEsphomeVersion ?? '2026.5.0';
    // The app's construction order: remote builds first, then the engine with their hooks.
    this.remote = new RemoteBuilds({
      bus: this.bus,
      jobs: () => this.engine,
      store: this.store,
      clients: this.clients,
      localEsphomeVersion: () => version,
      startupGraceMs: 0,
      // The one-job-per-server rules are tested on their own; submit-ahead tests turn it on.
      submitAhead: false,
      report: () => undefined,
      ...o.remote,
    });
    const hooks = this.remote.engineHooks;
    this.engine = new JobEngine({
      configDir: this.configDir,
      dataDir: join(this.dir, 'data'),
      esphome: o.esphome ?? [SIM_ESPHOME],
      bus: this.bus,
      persist: false,
      terminateGraceMs: 500,
      drainMs: 100,
      report: () => undefined,
      jobEnv: () => this.jobEnv,
      ...o.engine,
      ...hooks,
      remoteRunner: o.wrapRunner ? o.wrapRunner(hooks.remoteRunner) : hooks.remoteRunner,
    });
  }

  static async start(servers: ServerEndpoint[], o: OffloaderOptions = {}): Promise<TestSender> {
    const off = new TestSender(o);
    if (o.dashboardId) await off.store.setDashboardId(o.dashboardId);
    if (o.settings) await off.store.updateSettings(o.settings);
    for (const [i, s] of servers.entries()) await off.pair(s, s.pairedAt ?? 1000 + i);
    off.remote.start();
    await off.engine.start();
    off.clients.start();
    return off;
  }

  get dashboardId(): string {
    return this.store.dashboardId;
  }

  async pair(s: ServerEndpoint, pairedAt = Date.now() / 1000): Promise<void> {
    const row: StoredPairing = {
      receiver_hostname: s.host ?? '127.0.0.1',
      receiver_port: s.port,
      pin_sha256: s.pin,
      static_x25519_pub: Buffer.from(s.publicKey),
      label: s.label ?? `server-${s.pin.slice(0, 6)}`,
      paired_at: pairedAt,
      status: 'approved',
      esphome_version: s.esphomeVersion ?? '2026.5.0',
      enabled: true,
    };
    await this.store.put(row);
  }

  /** Resolves once every given pin has an open session. */
  async waitConnected(pins: string[], timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pins.every((p) => this.clients.connectedPins().includes(p))) {
      if (Date.now() > deadline) throw new Error(`peer-link not connected to ${pins.map((p) => p.slice(0, 8)).join(', ')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The simulator's own invocations so far (`role: 'main'`), e.g. to find the `bundle` or `upload` process. */
  simRuns(): Array<{ pid: number; argv: string[] }> {
    let text = '';
    try {
      text = readFileSync(this.simLogPath, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { role: string; pid: number; argv?: string[] })
      .filter((e) => e.role === 'main')
      .map((e) => ({ pid: e.pid, argv: e.argv ?? [] }));
  }

  /**
   * A valid ESP32 configuration with OTA (what the simulator's bundle and upload need); `body` is
   * prepended, e.g. a `# sim: <scenario>` marker.
   */
  writeYaml(name: string, body = ''): string {
    const path = join(this.configDir, name);
    mkdirSync(dirname(path), { recursive: true });
    const device = name.replace(/\.ya?ml$/, '').replace(/[^a-z0-9-]/gi, '-');
    writeFileSync(path, `${body}esphome:\n  name: ${device}\n\nesp32:\n  board: esp32dev\n\nwifi:\n  ssid: test\n  password: test-password\n\nota:\n  - platform: esphome\n`);
    return path;
  }

  /** A compile bound to one server (the `kiln build --server` / "Build remotely" path). */
  compileOn(configuration: string, pin: string, over: Partial<FirmwareJob> = {}): FirmwareJob {
    const job = this.remote.buildOn({ configuration, server: pin, port: over.port, bootloader: over.flash_bootloader });
    return job;
  }

  waitDone(jobId: string, timeoutMs = 10_000): Promise<FirmwareJob> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.engine.whenDone(jobId).finally(() => clearTimeout(timer)),
      new Promise<FirmwareJob>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`job ${jobId} did not finish within ${timeoutMs} ms (status ${this.engine.getJob(jobId)?.status})`)), timeoutMs);
      }),
    ]);
  }

  async dispose(): Promise<void> {
    this.remote.stop();
    await this.engine.stop();
    await this.clients.stop();
    await this.store.flush();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

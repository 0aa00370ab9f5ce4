// The `--server <host:port|label>` part of `kiln build`: the job is compiled on a paired build
// server through the same wiring the app uses (RemoteBuilds: remote runner + peer-link client
// manager), as a job with `source = remote` bound to that server's pin. `kiln build` itself keeps
// doing the log streaming, progress, Ctrl-C and exit codes.
import { join } from 'node:path';
import { EventBus } from '../../core/events';
import { probeVersion } from '../../core/esphome/version';
import type { EngineOptions, JobEngine } from '../../core/jobs/engine';
import type { FirmwareJob } from '../../core/jobs/model';
import { PeerLinkClientManager } from '../../core/peer-link/client-manager';
import type { StoredPairing } from '../../core/peer-link/pairing-store';
import { openPeerLinkState, type PeerLinkState } from '../../core/peer-link/state';
import { createEngineWithRemoteBuilds, resolvePairing } from '../../core/scheduler/remote-builds';

export interface RemoteBuildArgs {
  /** `host:port`, the pairing's label, its host, or a pin prefix. */
  server: string;
  configDir: string;
  /** Where the pairings live; default `<configDir>/.kiln` (what `kiln pair` writes). */
  dataDir?: string;
  esphome: readonly string[];
  /** How long to wait for the peer-link session before submitting anyway (default 15 s). */
  connectTimeoutMs?: number;
  note?: (line: string) => void;
}

export interface AttachedRemoteBuild {
  /** The job engine, built with the remote runner (not started: the caller starts and stops it). */
  readonly engine: JobEngine;
  readonly pairing: StoredPairing;
  /** Creates the bound job (compile, or compile + local flash when `port` is given). Throws ApiError on bad input. */
  submit(a: { configuration: string; port?: string; bootloader?: boolean }): Promise<FirmwareJob>;
  /** After `engine.stop()`: ends the peer-link client and flushes state. */
  stop(): Promise<void>;
}

export class RemoteBuildSetupError extends Error {}

/**
 * Builds the job engine (from `engineOptions`) with the remote runner wired in. Throws
 * RemoteBuildSetupError when `server` matches no pairing, with the list of paired servers.
 */
export async function attachRemoteBuild(engineOptions: EngineOptions, a: RemoteBuildArgs): Promise<AttachedRemoteBuild> {
  const note = a.note ?? (() => undefined);
  const dataDir = a.dataDir ?? join(a.configDir, '.kiln');
  const bus = engineOptions.bus ?? new EventBus();
  let state: PeerLinkState;
  try {
    state = await openPeerLinkState(dataDir, { bus, report: (m) => note(`kiln: ${m}`) });
  } catch (err) {
    throw new RemoteBuildSetupError(`cannot open the pairings in ${dataDir}: ${(err as Error).message}`);
  }
  let pairing: StoredPairing;
  try {
    pairing = resolvePairing(state.pairings.list(), a.server);
  } catch (err) {
    await state.receiverPeers.close();
    throw new RemoteBuildSetupError(`${(err as Error).message} (pairings in ${dataDir})`);
  }
  let localVersion = '';
  const clients = new PeerLinkClientManager({ identity: state.identity, store: state.pairings, bus });
  const { engine, remoteBuilds: remote } = createEngineWithRemoteBuilds(
    { ...engineOptions, bus },
    { store: state.pairings, clients, localEsphomeVersion: () => localVersion, startupGraceMs: 0, report: (m) => note(`kiln: ${m}`) },
  );
  remote.start();
  return {
    engine,
    pairing,
    async submit(s) {
      localVersion = await probeVersion(a.esphome).catch(() => '');
      clients.start();
      const pin = pairing.pin_sha256;
      const where = `${pairing.label || pairing.receiver_hostname} (${pairing.receiver_hostname}:${pairing.receiver_port})`;
      note(`kiln: connecting to build server ${where}…`);
      const connected = await waitForSession(engine, clients, pin, a.connectTimeoutMs ?? 15_000);
      // Not connected in time: submit anyway so the runner reports why, in its own words.
      if (connected) note(`kiln: connected to ${where}; compiling there`);
      // ApiErrors (bad configuration or port) reach `kiln build`'s usage-error path as they are.
      return remote.buildOn({ configuration: s.configuration, server: pin, port: s.port, bootloader: s.bootloader });
    },
    async stop() {
      remote.stop();
      await clients.stop();
      await state.pairings.flush();
      await state.receiverPeers.close();
    },
  };
}

function waitForSession(engine: JobEngine, clients: PeerLinkClientManager, pin: string, timeoutMs: number): Promise<boolean> {
  if (clients.connectedPins().includes(pin)) return Promise.resolve(true);
  return new Promise((resolveWait) => {
    const timer = setTimeout(() => finish(false), timeoutMs);
    const offOpen = engine.bus.on('peer_link_opened', (e) => e.pin === pin && finish(true));
    // An orphaned client (revoked, pin mismatch) will never connect: stop waiting at once.
    const offState = engine.bus.on('peer_link_state_changed', (e) => e.pin === pin && e.alert !== null && finish(false));
    function finish(ok: boolean): void {
      clearTimeout(timer);
      offOpen();
      offState();
      resolveWait(ok);
    }
  });
}

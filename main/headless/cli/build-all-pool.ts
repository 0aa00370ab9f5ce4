// The `--server` part of `kiln build-all`: the job engine built with the app's remote-build
// wiring (createEngineWithRemoteBuilds: remote runner, build-path picker, dispatch pool) over a
// view of the pairings holding only the named build servers, remote builds on for this run and
// this computer in the pool only with --local. The saved settings and pairings are not changed.
import { EventBus } from '../../core/events';
import type { EngineOptions, JobEngine } from '../../core/jobs/engine';
import { PeerLinkClientManager } from '../../core/peer-link/client-manager';
import { openPeerLinkState } from '../../core/peer-link/state';
import { pairingView } from '../../core/scheduler/pairing-view';
import { createEngineWithRemoteBuilds, resolvePairing } from '../../core/scheduler/remote-builds';

export interface PoolArgs {
  /** host:port, label, host or pin prefix of each build server. */
  servers: string[];
  includeLocal: boolean;
  dataDir: string;
  esphomeVersion: () => string;
  /** How long to wait for the sessions before starting anyway (default 15 s). */
  connectTimeoutMs?: number;
  note: (line: string) => void;
}

export interface AttachedPool {
  /** Not started: the caller starts and stops it. */
  readonly engine: JobEngine;
  /** Opens the sessions and waits (bounded) until every named server is connected. */
  connect(): Promise<void>;
  /** After `engine.stop()`. */
  stop(): Promise<void>;
}

export async function attachPool(engineOptions: EngineOptions, a: PoolArgs): Promise<AttachedPool> {
  const bus = engineOptions.bus ?? new EventBus();
  const state = await openPeerLinkState(a.dataDir, { bus, report: (m) => a.note(`kiln: ${m}`) }).catch((err: Error) => {
    throw new Error(`cannot open the pairings in ${a.dataDir}: ${err.message}`);
  });
  const pins = new Set<string>();
  const labels = new Map<string, string>();
  try {
    for (const spec of a.servers) {
      const p = resolvePairing(state.pairings.list(), spec);
      if (p.status !== 'approved') throw new Error(`build server ${p.label || p.receiver_hostname} is not approved yet`);
      pins.add(p.pin_sha256);
      labels.set(p.pin_sha256, `${p.label || p.receiver_hostname} (${p.receiver_hostname}:${p.receiver_port})`);
    }
  } catch (err) {
    await state.receiverPeers.close();
    throw new Error(`${(err as Error).message} (pairings in ${a.dataDir})`);
  }
  const store = pairingView(state.pairings, pins, { remote_builds_enabled: true, include_local_in_pool: a.includeLocal });
  const clients = new PeerLinkClientManager({ identity: state.identity, store, bus });
  const { engine, remoteBuilds } = createEngineWithRemoteBuilds(
    { ...engineOptions, bus },
    { store, clients, localEsphomeVersion: a.esphomeVersion, startupGraceMs: 0, report: (m) => a.note(`kiln: ${m}`) },
  );
  remoteBuilds.start();
  return {
    engine,
    async connect() {
      clients.start();
      a.note(`kiln: connecting to ${[...labels.values()].join(', ')}…`);
      const deadline = Date.now() + (a.connectTimeoutMs ?? 15_000);
      await new Promise<void>((done) => {
        const check = (): void => {
          const up = new Set(clients.connectedPins());
          if ([...pins].every((p) => up.has(p)) || Date.now() >= deadline) {
            offOpen();
            clearInterval(timer);
            done();
          }
        };
        const offOpen = bus.on('peer_link_opened', check);
        const timer = setInterval(check, 250);
        check();
      });
      const up = new Set(clients.connectedPins());
      for (const [pin, label] of labels) a.note(up.has(pin) ? `kiln: connected to ${label}` : `kiln: not connected to ${label} yet; it joins the pool when it connects`);
    },
    async stop() {
      remoteBuilds.stop();
      await clients.stop();
      await state.pairings.flush();
      await state.receiverPeers.close();
    },
  };
}

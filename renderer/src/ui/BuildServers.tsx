// Build servers: the sender side (paired servers, "Build servers on your network" found over mDNS, pair dialog,
// master switch) and this computer's build-server role (listener, fingerprint, pairing window, requests, senders).
import { useEffect, useState } from 'react';
import { BuildServerVersion } from './BuildServerVersion';
import type { BuildServerPairing, DiscoveredBuildServer, PendingPairRequest } from '../../../preload/contract';
import { useApp } from '../store/app';
import { useServers } from '../store/servers';
import { errorMessage, getBackend, refreshServers } from '../sync';
import { Dialog } from './Dialog';
import { Fingerprint } from './Fingerprint';
import { relativeTime } from './format';
import { useNow } from './useNow';

async function act(title: string, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    await refreshServers();
    return true;
  } catch (err) {
    useApp.getState().toast({ kind: 'error', title, body: errorMessage(err) });
    return false;
  }
}

export function BuildServers() {
  const hello = useApp((s) => (s.connection.state === 'open' ? s.connection.hello : null));
  useEffect(() => {
    void refreshServers().catch(() => undefined);
  }, []);
  useDiscovered();
  return (
    <div className="servers" data-testid="servers-screen">
      <SendBuilds />
      {hello?.capabilities.buildServerRole ? <BuildServerRole /> : null}
    </div>
  );
}

/**
 * Keeps "Build servers on your network" current while this screen is shown: fetched now and after every
 * reconnect, then replaced by each pushed list (the event carries the whole list).
 */
function useDiscovered(): void {
  useEffect(() => {
    const b = getBackend();
    const fetch = () =>
      void b.api.listDiscoveredBuildServers({}).then(
        (discovered) => useServers.getState().set({ discovered }),
        () => undefined,
      );
    fetch();
    const offEvent = b.on('discoveredBuildServersChanged', (discovered) => useServers.getState().set({ discovered }));
    const offConnected = b.onConnected(fetch);
    return () => {
      offEvent();
      offConnected();
    };
  }, []);
}

function SendBuilds() {
  const pairings = useServers((s) => s.pairings);
  const settings = useApp((s) => s.settings);
  const [confirmUnpair, setConfirmUnpair] = useState<BuildServerPairing | null>(null);
  const setRemote = (remoteBuildsEnabled: boolean) =>
    act('Could not change the setting', () => getBackend().api.updateSettings({ remoteBuildsEnabled }));
  return (
    <section className="card" aria-labelledby="send-builds-h">
      <div className="card-head">
        <h2 id="send-builds-h">Send builds to a build server</h2>
        <button type="button" className="btn primary" onClick={() => useApp.getState().set({ pairDialogOpen: true })} data-testid="open-pair-dialog">
          Pair with a build server
        </button>
      </div>
      <label className="switch">
        <input
          type="checkbox"
          checked={settings?.remoteBuildsEnabled ?? false}
          disabled={!settings}
          onChange={(e) => void setRemote(e.target.checked)}
          data-testid="remote-builds-toggle"
        />
        Auto-route installs to a paired build server
      </label>
      <h3>Paired build servers</h3>
      {pairings === null ? (
        <p className="muted">Loading…</p>
      ) : pairings.length === 0 ? (
        <div className="empty small" data-testid="no-build-servers">
          <p className="empty-title">No build servers paired</p>
          <p>
            Compiles run on this computer. To offload them to a faster machine, run Kiln there as a build server (<code>kiln receiver</code>, or turn on
            “This computer as a build server” in its window), open its pairing window, then pair with it here.
          </p>
        </div>
      ) : (
        <ul className="plain" data-testid="pairings">
          {pairings.map((p) => (
            <PairingRow key={p.pin} p={p} onUnpair={() => setConfirmUnpair(p)} />
          ))}
        </ul>
      )}
      <NetworkBuildServers />
      {confirmUnpair ? (
        <Dialog title="Unpair build server?" onClose={() => setConfirmUnpair(null)} testId="unpair-confirm">
          <p>
            Unpair <strong>{confirmUnpair.label}</strong> ({confirmUnpair.host}:{confirmUnpair.port})? Builds will no longer be sent there; pairing again needs its
            operator's approval.
          </p>
          <div className="actions">
            <button type="button" className="btn" onClick={() => setConfirmUnpair(null)} autoFocus>
              Cancel
            </button>
            <button
              type="button"
              className="btn danger"
              data-testid="unpair-confirm-btn"
              onClick={() =>
                void act('Unpair failed', () => getBackend().api.unpairBuildServer({ pin: confirmUnpair.pin })).then(() => setConfirmUnpair(null))
              }
            >
              Unpair
            </button>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}

/** Unpaired build servers advertised over mDNS (ui-and-users §5.1). Nothing here is trusted: Pair
 * runs the same preview handshake and fingerprint confirmation as a manual pair. */
function NetworkBuildServers() {
  const discovered = useServers((s) => s.discovered);
  // Connect to an advertised address when there is one: .local names need an OS mDNS resolver.
  const pair = (d: DiscoveredBuildServer) => {
    useServers.getState().set({ pairTarget: { host: d.addresses[0] ?? d.host, port: d.port } });
    useApp.getState().set({ pairDialogOpen: true });
  };
  return (
    <div data-testid="network-build-servers">
      <h3>Build servers on your network</h3>
      {discovered === null ? (
        <p className="muted">Loading…</p>
      ) : !discovered.enabled ? (
        <p className="muted" data-testid="discovery-off">
          Discovery is off (--no-mdns).
        </p>
      ) : discovered.servers.length === 0 ? (
        <p className="muted" data-testid="no-discovered">
          No unpaired build servers found on your network yet.
        </p>
      ) : (
        <ul className="plain" data-testid="discovered">
          {discovered.servers.map((d) => (
            <li key={d.instance} className="pairing" data-testid="discovered-row" data-instance={d.instance} data-pin={d.pin}>
              <div className="pairing-main">
                <strong>{d.name}</strong>
              </div>
              <div className="muted small">
                {d.host}:{d.port}
                {d.esphomeVersion ? ` · ESPHome ${d.esphomeVersion}` : ''}
              </div>
              <div className="pairing-actions">
                <button type="button" className="btn small primary" onClick={() => pair(d)} aria-label={`Pair with ${d.name}`} data-testid="discovered-pair">
                  Pair
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function PairingRow({ p, onUnpair }: { p: BuildServerPairing; onUnpair(): void }) {
  const state = p.status === 'pending' ? 'Pending' : p.connection === 'connected' ? 'Connected' : p.connection === 'connecting' ? 'Connecting…' : 'Disconnected';
  return (
    <li className="pairing" data-testid="pairing-row" data-pin={p.pin} data-connection={p.connection}>
      <div className="pairing-main">
        <strong>{p.label}</strong>
        <span className={`pill ${p.status === 'pending' ? 'pending' : p.connection}`} data-testid="pairing-state">
          {state}
        </span>
        {p.queue && p.connection === 'connected' ? (
          <span className="pill neutral" data-testid="pairing-queue">
            {p.queue.running ? 'busy' : 'idle'}
            {p.queue.queueDepth > 0 ? ` · ${p.queue.queueDepth} queued` : ''}
          </span>
        ) : null}
      </div>
      <div className="muted small">
        {p.host}:{p.port}
        <BuildServerVersion p={p} />
      </div>
      {p.connection === 'disconnected' && p.lastError ? <div className="error-text small">Last connection error: {p.lastError}</div> : null}
      <div className="pairing-actions">
        <label className="switch small" title="Use this server when auto-routing installs">
          <input
            type="checkbox"
            checked={p.enabled}
            onChange={(e) => void act('Could not change the server', () => getBackend().api.setBuildServerEnabled({ pin: p.pin, enabled: e.target.checked }))}
            aria-label={`Use ${p.label} for builds`}
          />
          Enabled
        </label>
        <button type="button" className="btn small danger" onClick={onUnpair} data-testid="unpair">
          Unpair
        </button>
      </div>
    </li>
  );
}

function BuildServerRole() {
  const role = useServers((s) => s.role);
  const win = useServers((s) => s.window);
  const [review, setReview] = useState<PendingPairRequest | null>(null);
  const [confirmRemove, setConfirmRemove] = useState<string | null>(null);
  const now = useNow(1000);
  const [holding, setHolding] = useState(false);

  // Leaving the screen releases our hold on the pairing window (it is refcounted per window).
  useEffect(() => {
    if (!holding) return;
    return () => {
      void getBackend().api.closePairingWindow({}).catch(() => undefined);
    };
  }, [holding]);

  if (!role) return null;
  const remaining = win && win.open ? Math.max(0, win.expiresInSeconds - Math.floor(Math.max(0, now - win.at) / 1000)) : 0;
  const mmss = `${Math.floor(remaining / 60)}:${String(remaining % 60).padStart(2, '0')}`;
  const open = async () => {
    if (await act('Could not open the pairing window', () => getBackend().api.openPairingWindow({}))) setHolding(true);
  };

  return (
    <section className="card" aria-labelledby="role-h" data-testid="role-section">
      <div className="card-head">
        <h2 id="role-h">This computer as a build server</h2>
        <span className={`pill ${role.enabled ? (role.listening ? 'connected' : 'disconnected') : 'neutral'}`} data-testid="listener-state">
          {role.enabled ? (role.listening ? `Listener active${role.port ? ` on port ${role.port}` : ''}` : 'Listener offline') : 'Disabled'}
        </span>
      </div>
      <label className="switch">
        <input
          type="checkbox"
          checked={role.enabled}
          onChange={(e) => void act('Could not change the build-server role', () => getBackend().api.setBuildServerRole({ enabled: e.target.checked }))}
          data-testid="role-toggle"
        />
        Let paired computers compile here
      </label>
      <p className="muted small">
        Other Kiln or ESPHome Device Builder installations on the network may compile their YAML here. A paired sender can run arbitrary code on this computer:
        pair only with machines you would give ssh access to.
      </p>
      {role.listenError ? <p className="error-text">{role.listenError}</p> : null}
      <details className="own-fingerprint" data-testid="role-fingerprint-box">
        <summary>This computer's own fingerprint (for senders pairing with it)</summary>
        <p className="muted small">
          Senders that pair with this computer compare this. It is not the fingerprint of a build server you pair with — that one appears in the pairing dialog.
        </p>
        <Fingerprint pin={role.identity.pin} testId="role-fingerprint" />
      </details>
      <div className="window-box" data-testid="pairing-window" data-open={win?.open ? 'true' : 'false'}>
        <h3>
          Pairing window <span className={`pill ${win?.open ? 'connected' : 'neutral'}`}>{win?.open ? `Open ${mmss}` : 'Closed'}</span>
        </h3>
        {win?.open ? (
          <div className="row-actions">
            <button type="button" className="btn" onClick={() => void act('Could not extend', () => getBackend().api.extendPairingWindow({}))} data-testid="window-extend">
              Extend
            </button>
            <button
              type="button"
              className="btn"
              onClick={() => void act('Could not close', () => getBackend().api.closePairingWindow({})).then(() => setHolding(false))}
              data-testid="window-close"
            >
              Close window
            </button>
          </div>
        ) : (
          <button type="button" className="btn primary" onClick={() => void open()} disabled={!role.enabled} data-testid="window-open">
            Open pairing window
          </button>
        )}
        <p className="muted small">New senders can only ask to pair while the window is open (5 minutes; Extend restarts it).</p>
      </div>
      <h3>Pairing requests</h3>
      {role.pending.length === 0 ? (
        <p className="muted">No waiting requests.</p>
      ) : (
        <ul className="plain" data-testid="pair-requests">
          {role.pending.map((r) => (
            <li key={r.dashboardId} className="pairing" data-testid="pair-request">
              <div className="pairing-main">
                <strong>{r.label || r.dashboardId}</strong> <span className="muted small">From IP {r.peerIp}</span>
              </div>
              <button type="button" className="btn small primary" onClick={() => setReview(r)} data-testid="review-request">
                Review
              </button>
            </li>
          ))}
        </ul>
      )}
      <h3>Paired senders</h3>
      {role.senders.length === 0 ? (
        <p className="muted">No paired senders yet.</p>
      ) : (
        <ul className="plain" data-testid="senders">
          {role.senders.map((s) => (
            <li key={s.dashboardId} className="pairing" data-testid="sender-row">
              <div className="pairing-main">
                <strong>{s.label || s.dashboardId}</strong>
                <span className={`pill ${s.connected ? 'connected' : 'disconnected'}`}>{s.connected ? 'Connected' : 'Disconnected'}</span>
              </div>
              <div className="muted small">
                Paired {relativeTime(s.pairedAt, now)} · From IP {s.peerIp || 'unknown'} · Dashboard ID {s.dashboardId}
              </div>
              <button type="button" className="btn small danger" onClick={() => setConfirmRemove(s.dashboardId)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {review ? (
        <Dialog title="Pairing request" onClose={() => setReview(null)} testId="review-dialog">
          <p className="warning">
            Accepting will let this sender run compile jobs on this host. Treat that as full code-execution access.
          </p>
          <ul>
            <li>The fingerprint below matches what the sender shows.</li>
            <li>Only accept senders you recognise.</li>
          </ul>
          <p>
            <strong>{review.label || review.dashboardId}</strong>
            <br />
            <span className="muted small">
              Dashboard ID {review.dashboardId} · From IP {review.peerIp}
            </span>
          </p>
          <Fingerprint pin={review.pin} testId="sender-fingerprint" />
          <div className="actions">
            <button
              type="button"
              className="btn"
              data-testid="reject-request"
              onClick={() => void act('Reject failed', () => getBackend().api.rejectPairRequest({ dashboardId: review.dashboardId })).then(() => setReview(null))}
            >
              Reject
            </button>
            <button
              type="button"
              className="btn danger"
              data-testid="accept-request"
              onClick={() =>
                void act('Accept failed', () => getBackend().api.approvePairRequest({ dashboardId: review.dashboardId })).then((ok) => {
                  if (ok) useApp.getState().toast({ kind: 'success', title: 'Pairing approved', body: review.label });
                  setReview(null);
                })
              }
            >
              Accept
            </button>
          </div>
        </Dialog>
      ) : null}
      {confirmRemove ? (
        <Dialog title="Remove sender?" onClose={() => setConfirmRemove(null)}>
          <p>The sender will no longer be able to build here and must pair again.</p>
          <div className="actions">
            <button type="button" className="btn" onClick={() => setConfirmRemove(null)} autoFocus>
              Cancel
            </button>
            <button
              type="button"
              className="btn danger"
              onClick={() => void act('Remove failed', () => getBackend().api.removeSender({ dashboardId: confirmRemove })).then(() => setConfirmRemove(null))}
            >
              Remove
            </button>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}

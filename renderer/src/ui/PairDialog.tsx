// Pair with a build server (ui-and-users §5.2): host:port → preview → confirm the server's
// fingerprint → send request → pending (showing OUR fingerprint for the server's operator) →
// paired. A pasted "host:port" is split automatically. Opened from a "Build servers on your network" row, the
// fields are pre-filled and the preview starts at once, straight to Confirm: the handshake and
// the fingerprint check are the same as for a typed address (nothing is trusted from mDNS).
import { useEffect, useRef, useState } from 'react';
import type { BuildServerPreview } from '../../../preload/contract';
import { useApp } from '../store/app';
import { useServers } from '../store/servers';
import { errorMessage, getBackend } from '../sync';
import { Dialog } from './Dialog';
import { Fingerprint } from './Fingerprint';

type Step =
  | { kind: 'input' }
  | { kind: 'confirm'; preview: BuildServerPreview }
  | { kind: 'sent'; pin: string; host: string; port: number }
  | { kind: 'done'; label: string };

/** "host", "host:port", "[v6]:port" → host and port (the port field when none is typed); null when invalid. */
export function splitHostPort(hostField: string, portField: string): { host: string; port: number } | null {
  const v = hostField.trim();
  const m = /^([^\s:[\]]+|\[[^\]]+\]):(\d{1,5})$/.exec(v);
  const host = m ? (m[1] ?? '').replace(/^\[(.*)\]$/, '$1') : v;
  const port = Number(m ? m[2] : portField);
  if (!host || /\s/.test(host) || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host, port };
}

export function PairDialog() {
  // A discovered row's target, taken once when the dialog opens.
  const [target] = useState(() => useServers.getState().pairTarget);
  const [step, setStep] = useState<Step>({ kind: 'input' });
  const [host, setHost] = useState(target?.host ?? '');
  const [port, setPort] = useState(target ? String(target.port) : '6055');
  const [label, setLabel] = useState('');
  const [pairingKey, setPairingKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [previewing, setPreviewing] = useState(false);
  const [error, setError] = useState('');
  const identity = useServers((s) => s.identity);
  const pairings = useServers((s) => s.pairings);
  const started = useRef(false);
  const close = () => {
    if (busy && !previewing) return; // refuses to close while sending; a stuck preview can be dismissed
    useApp.getState().set({ pairDialogOpen: false });
  };

  useEffect(() => {
    if (!target || started.current) return;
    started.current = true;
    useServers.getState().set({ pairTarget: null });
    // Once, for the target the dialog opened with; effects run after render, when runPreview exists.
    // eslint-disable-next-line react-hooks/immutability
    void runPreview(target.host, target.port);
  }, [target]);

  // Pending → approved arrives as a pairings refresh.
  useEffect(() => {
    if (step.kind !== 'sent') return;
    const p = pairings?.find((x) => x.pin === step.pin);
    if (p?.status === 'approved') {
      useApp.getState().toast({ kind: 'success', title: `Pairing with ${step.host}:${step.port} accepted`, body: '' });
      setStep({ kind: 'done', label: p.label });
    }
  }, [pairings, step]);

  // "host:port" typed or pasted into the host field is kept as typed and split on Continue, so
  // typing a port after the colon never jumps fields or loses digits.
  const onHost = (v: string) => setHost(v);

  const runPreview = async (h: string, p: number) => {
    setError('');
    setBusy(true);
    setPreviewing(true);
    try {
      const res = await getBackend().api.previewBuildServer({ host: h, port: p });
      setLabel(res.friendlyName || h);
      setStep({ kind: 'confirm', preview: res });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
      setPreviewing(false);
    }
  };

  const preview = async (e: React.FormEvent) => {
    e.preventDefault();
    setError('');
    const target = splitHostPort(host, port);
    if (!target) return setError('Enter a host name or IP and a port between 1 and 65535.');
    setHost(target.host);
    setPort(String(target.port));
    await runPreview(target.host, target.port);
  };

  const send = async (preview: BuildServerPreview) => {
    setError('');
    setBusy(true);
    try {
      const res = await getBackend().api.pairBuildServer({
        host: preview.host,
        port: preview.port,
        expectedPin: preview.pin,
        label: label.trim() || undefined,
        pairingKey: pairingKey.trim() || undefined,
      });
      if (res.status === 'approved') {
        useApp.getState().toast({ kind: 'success', title: `Pairing with ${preview.host}:${preview.port} accepted`, body: '' });
        setStep({ kind: 'done', label: res.pairing.label });
      } else {
        setStep({ kind: 'sent', pin: preview.pin, host: preview.host, port: preview.port });
      }
    } catch (err) {
      // The backend words it (closed window vs rejected pairing key, plain reachability).
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Pair with a build server" onClose={close} testId="pair-dialog">
      {step.kind === 'input' ? (
        <form className="form" onSubmit={(e) => void preview(e)}>
          <label className="field">
            <span>Hostname or IP</span>
            <input className="input" value={host} onChange={(e) => onHost(e.target.value)} placeholder="buildserver.lan, 10.0.0.5 or 10.0.0.5:6055" autoFocus data-testid="pair-host" />
          </label>
          <label className="field">
            <span>Port</span>
            <input className="input" value={port} onChange={(e) => setPort(e.target.value)} inputMode="numeric" data-testid="pair-port" />
          </label>
          {error ? <p className="error-text" role="alert">{error}</p> : null}
          <div className="actions">
            <button type="button" className="btn" onClick={close} data-testid="pair-input-cancel">
              Cancel
            </button>
            <button type="submit" className="btn primary" disabled={busy} data-testid="pair-continue">
              {busy ? 'Connecting…' : 'Continue'}
            </button>
          </div>
        </form>
      ) : null}
      {step.kind === 'confirm' ? (
        <div className="form" data-testid="pair-confirm">
          <p>
            Connected to <strong>{step.preview.host}:{step.preview.port}</strong>
            {step.preview.esphomeVersion ? ` (ESPHome ${step.preview.esphomeVersion})` : ''}. Check that the build server shows this fingerprint:
          </p>
          <h3 className="fp-title">The build server's fingerprint</h3>
          <Fingerprint pin={step.preview.pin} testId="server-fingerprint" />
          <p className="warning">A paired build server compiles your YAML and sees your secrets. Only pair with a machine you trust.</p>
          <label className="field">
            <span>Name for this build server</span>
            <input className="input" value={label} onChange={(e) => setLabel(e.target.value)} maxLength={128} data-testid="pair-label" />
          </label>
          {step.preview.requiresPairingKey ? (
            <label className="field">
              <span>Pairing key</span>
              <input className="input" value={pairingKey} onChange={(e) => setPairingKey(e.target.value)} placeholder="XXXX-XXXX-XXXX-XXXX" data-testid="pair-key" />
            </label>
          ) : null}
          {error ? <p className="error-text" role="alert">{error}</p> : null}
          <div className="actions">
            {target ? (
              <button type="button" className="btn" onClick={close} disabled={busy} data-testid="pair-cancel">
                Cancel
              </button>
            ) : (
              <button type="button" className="btn" onClick={() => setStep({ kind: 'input' })} disabled={busy}>
                Back
              </button>
            )}
            <button type="button" className="btn primary" onClick={() => void send(step.preview)} disabled={busy} data-testid="pair-send">
              {busy ? 'Sending…' : 'Send pair request'}
            </button>
          </div>
        </div>
      ) : null}
      {step.kind === 'sent' ? (
        <div className="form" data-testid="pair-sent">
          <p>
            Request sent. On the build server, open <strong>Build servers → This computer as a build server</strong> and click <strong>Accept</strong> after
            checking that it shows this computer's fingerprint:
          </p>
          {identity ? (
            <div className="own-fingerprint">
              <h3 className="fp-title">This computer's fingerprint (the build server checks this one)</h3>
              <Fingerprint pin={identity.pin} testId="own-fingerprint" />
            </div>
          ) : null}
          {identity ? <p className="muted small">Dashboard ID: {identity.dashboardId}</p> : null}
          <p className="muted">Waiting for approval…</p>
          <div className="actions">
            <button type="button" className="btn" onClick={close}>
              Close
            </button>
          </div>
        </div>
      ) : null}
      {step.kind === 'done' ? (
        <div className="form" data-testid="pair-done">
          <p>
            Paired with <strong>{step.label}</strong>. Installs now build there when it is free.
          </p>
          <div className="actions">
            <button type="button" className="btn primary" onClick={close} autoFocus>
              Done
            </button>
          </div>
        </div>
      ) : null}
    </Dialog>
  );
}

// Install dialog (ui-and-users §4): pick a configuration and a target, see where it will build,
// start; then follow the compile with its source line and "Build locally instead".
import { useMemo, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { Settings, BuildServerPairing } from '../../../preload/contract';
import { useApp, useDeviceNames } from '../store/app';
import { dependentOf, isActiveJob, useJobs } from '../store/jobs';
import { useServers } from '../store/servers';
import { errorMessage, getBackend } from '../sync';
import { Dialog } from './Dialog';
import { deviceLabel, sourceLine } from './format';
import { StatusBadge } from './TaskList';

export function whereItBuilds(settings: Settings | null, pairings: BuildServerPairing[] | null): string {
  const usable = (pairings ?? []).filter((p) => p.status === 'approved' && p.enabled);
  if (!settings?.remoteBuildsEnabled || usable.length === 0) return 'Builds on this computer.';
  const connected = usable.filter((p) => p.connection === 'connected');
  if (connected.length === 0) {
    return settings.versionPolicy === 'exact_required'
      ? 'Paired build servers are offline — the build waits for one to reconnect.'
      : 'Paired build servers are offline — builds on this computer.';
  }
  return `Builds on a paired build server (${connected.map((p) => p.label).join(', ')}) when one is free; the device is flashed from this computer.`;
}

export function InstallDialog() {
  const { dialog, configurations, settings, env } = useApp(
    useShallow((s) => ({ dialog: s.installDialog, configurations: s.configurations, settings: s.settings, env: s.env })),
  );
  const pairings = useServers((s) => s.pairings);
  const [configuration, setConfiguration] = useState(dialog?.configuration ?? '');
  const [method, setMethod] = useState<'ota' | 'serial'>('ota');
  const [serialPort, setSerialPort] = useState('');
  const [busy, setBusy] = useState(false);
  const [rebuild, setRebuild] = useState(false);
  const [error, setError] = useState('');
  const close = () => useApp.getState().set({ installDialog: null });
  const where = useMemo(() => whereItBuilds(settings, pairings), [settings, pairings]);

  if (!dialog) return null;
  if (dialog.jobId) return <InstallProgress jobId={dialog.jobId} onClose={close} />;

  const start = async (e: React.FormEvent) => {
    e.preventDefault();
    setError('');
    if (!configuration) return setError('Pick a configuration first.');
    if (method === 'serial' && !serialPort.trim()) return setError('Enter the serial port, e.g. /dev/ttyUSB0 or COM3.');
    setBusy(true);
    try {
      const job = await getBackend().api.install({ configuration, port: method === 'ota' ? 'OTA' : serialPort.trim(), ...(rebuild ? { rebuild: true } : {}) });
      useJobs.getState().upsert(job);
      useApp.getState().set({ installDialog: { configuration, jobId: job.job_id }, selectedJobId: job.job_id });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Install firmware" onClose={close} testId="install-dialog">
      {configurations && configurations.length === 0 ? (
        <div className="empty small">
          <p className="empty-title">No configurations yet</p>
          <p>
            Put ESPHome YAML files in <code>{env?.configDir ?? 'the config folder'}</code>, or drop a .yaml file onto this window to import it.
          </p>
        </div>
      ) : (
        <form onSubmit={(e) => void start(e)} className="form">
          {dialog.importedFrom && configuration === dialog.configuration ? (
            <p className="muted" data-testid="install-imported-from">
              Imported from <code>{dialog.importedFrom}</code>
            </p>
          ) : null}
          <label className="field">
            <span>Configuration</span>
            <select value={configuration} onChange={(e) => setConfiguration(e.target.value)} autoFocus data-testid="install-config">
              <option value="">Choose…</option>
              {(configurations ?? []).map((c) => (
                <option key={c.name} value={c.name}>
                  {c.friendlyName || c.deviceName || c.name} ({c.name}){c.error ? ' — ' + c.error : ''}
                </option>
              ))}
            </select>
          </label>
          <fieldset className="field">
            <legend>How do you want to install the firmware?</legend>
            <label className="radio">
              <input type="radio" name="method" checked={method === 'ota'} onChange={() => setMethod('ota')} data-testid="method-ota" />
              On the network (OTA)
            </label>
            <label className="radio">
              <input type="radio" name="method" checked={method === 'serial'} onChange={() => setMethod('serial')} data-testid="method-serial" />
              Plug into this computer (serial port)
            </label>
            {method === 'serial' ? (
              <input
                type="text"
                className="input"
                placeholder="/dev/ttyUSB0 or COM3"
                value={serialPort}
                onChange={(e) => setSerialPort(e.target.value)}
                aria-label="Serial port"
                data-testid="serial-port"
              />
            ) : null}
          </fieldset>
          <p className="muted" data-testid="install-where">
            {where}
          </p>
          <label className="small">
            <input type="checkbox" checked={rebuild} onChange={(e) => setRebuild(e.target.checked)} data-testid="install-rebuild" /> Rebuild anyway (when the firmware
            library has this build, Install flashes it without compiling)
          </label>
          {error ? (
            <p className="error-text" role="alert">
              {error}
            </p>
          ) : null}
          <div className="actions">
            <button type="button" className="btn" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="btn primary" disabled={busy} data-testid="install-start">
              {busy ? 'Starting…' : 'Install'}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

function InstallProgress({ jobId, onClose }: { jobId: string; onClose(): void }) {
  const job = useJobs((s) => s.byId[jobId]);
  const upload = useJobs((s) => dependentOf(s.byId, jobId));
  const liveLabel = useServers((s) => s.pairings?.find((p) => p.pin === job?.source_pin_sha256)?.label);
  const [switching, setSwitching] = useState<'idle' | 'busy' | 'failed'>('idle');
  const names = useDeviceNames();
  if (!job) return null;
  const current = job.status === 'completed' && upload ? upload : job;
  const remote = isActiveJob(job) && (job.source === 'remote' || job.source === 'remote_pending');
  const buildLocally = async () => {
    setSwitching('busy');
    try {
      const next = await getBackend().api.buildLocally({ jobId });
      useJobs.getState().upsert(next);
      useApp.getState().set({ installDialog: { configuration: next.configuration, jobId: next.job_id }, selectedJobId: next.job_id });
      setSwitching('idle');
    } catch {
      setSwitching('failed');
    }
  };
  const closeKeepRunning = () => {
    if (isActiveJob(current)) {
      useApp.getState().toast({ kind: 'info', title: 'Install continues in the background', body: 'Follow it in Firmware tasks.' });
    }
    onClose();
  };
  return (
    <Dialog title={`Installing ${deviceLabel(job, names)}`} onClose={closeKeepRunning} testId="install-progress">
      <p>
        {current === upload ? 'Uploading' : 'Compiling'} — <StatusBadge job={current} />
      </p>
      {current.status === 'running' && current.progress !== null ? (
        <span className="progress big" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={current.progress}>
          <span className="progress-fill" style={{ width: `${current.progress}%` }} />
        </span>
      ) : null}
      <p className="muted" data-testid="install-source">
        {sourceLine(job, liveLabel)}
        {remote ? (
          <>
            {' · '}
            <button type="button" className="link" disabled={switching === 'busy'} onClick={() => void buildLocally()} data-testid="dialog-build-locally">
              {switching === 'busy' ? 'Switching…' : 'Build locally instead'}
            </button>
          </>
        ) : null}
      </p>
      {switching === 'failed' ? <p className="error-text">Couldn't switch to a local build</p> : null}
      {current.status === 'failed' ? <p className="error-text">{current.error ?? 'Failed'}</p> : null}
      <div className="actions">
        <button type="button" className="btn" onClick={closeKeepRunning}>
          {isActiveJob(current) ? 'Hide' : 'Close'}
        </button>
      </div>
    </Dialog>
  );
}

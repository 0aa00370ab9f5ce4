// One toolchain install: phase, progress bar, Stop, and the full log on request.
import { useState } from 'react';
import type { ToolchainInstall } from '../../../preload/contract';
import { errorMessage, getBackend } from '../sync';
import { stopInstall } from './toolchain-actions';

const PHASE: Record<ToolchainInstall['phase'], string> = {
  python: 'Finding Python',
  venv: 'Creating the environment',
  resolving: 'Resolving',
  downloading: 'Downloading',
  installing: 'Installing',
  verifying: 'Checking',
  done: 'Done',
};

export function InstallProgress({ install }: { install: ToolchainInstall }) {
  const [log, setLog] = useState<string[] | null>(null);
  const pct = Math.round(install.fraction * 100);
  const label = install.version ? `ESPHome ${install.version}` : 'the latest ESPHome';
  return (
    <div className="toolchain-install" data-testid="toolchain-install" data-status={install.status}>
      {install.status === 'running' ? (
        <>
          <p>
            Installing {label}: <strong data-testid="toolchain-install-phase">{PHASE[install.phase]}</strong> — {install.message}
          </p>
          <span className="progress big" role="progressbar" aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100} aria-label={`Installing ${label}`}>
            <span className="progress-fill" style={{ width: `${pct}%` }} />
          </span>
        </>
      ) : install.status === 'done' ? (
        <p className="ok" role="status">
          {install.message}.
        </p>
      ) : install.status === 'cancelled' ? (
        <p role="status">Install stopped; nothing was left behind.</p>
      ) : (
        <p className="err" role="alert" data-testid="toolchain-install-error">
          Install failed: {install.error}
        </p>
      )}
      <div className="actions">
        {install.status === 'running' ? (
          <button type="button" className="btn small" onClick={() => void stopInstall(install.id)} data-testid="toolchain-install-stop">
            Stop
          </button>
        ) : null}
        <button
          type="button"
          className="btn small"
          onClick={() => {
            if (log) return setLog(null);
            getBackend()
              .api.getToolchainInstallLog({ id: install.id })
              .then((r) => setLog(r.lines), (err: unknown) => setLog([`Could not read the install log: ${errorMessage(err)}`]));
          }}
          data-testid="toolchain-install-log-toggle"
        >
          {log ? 'Hide log' : 'Show log'}
        </button>
      </div>
      {log ? (
        <pre className="toolchain-log" data-testid="toolchain-install-log">
          {log.join('\n')}
        </pre>
      ) : null}
    </div>
  );
}

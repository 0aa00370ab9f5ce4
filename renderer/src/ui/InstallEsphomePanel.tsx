// First run without ESPHome: one click installs it (a managed toolchain) with progress, instead
// of telling the user to run pip. Falls back to the old advice where Kiln cannot install it.
import { useEffect } from 'react';
import { useApp } from '../store/app';
import { latestInstall, useToolchains } from '../store/toolchains';
import { InstallProgress } from './InstallProgress';
import { refreshToolchains, startInstall } from './toolchain-actions';

export function InstallEsphomePanel() {
  const env = useApp((s) => s.env);
  const set = useApp((s) => s.set);
  const state = useToolchains((s) => s.state);
  const install = useToolchains((s) => latestInstall(s.installs));
  useEffect(() => {
    void refreshToolchains().catch(() => undefined);
  }, []);
  if (!env || env.esphome.found) return null;
  const running = install?.status === 'running';
  return (
    <div className="banner install-esphome" role="region" aria-label="Install ESPHome" data-testid="no-esphome">
      <p>
        <strong>ESPHome is not installed</strong> <span className="muted small">({env.esphome.error})</span>
      </p>
      {state && !state.available ? (
        <p>
          Install it (<code>pip install esphome</code>) or set the esphome command in{' '}
          <button type="button" className="link" onClick={() => set({ view: 'settings' })}>
            Settings
          </button>
          .
        </p>
      ) : (
        <>
          <p className="muted small">Kiln installs the latest ESPHome release for you, in its own folder; nothing else on this computer changes.</p>
          {state && !state.python.ok && state.python.detail ? (
            <p className="err" data-testid="no-python">
              {state.python.detail}
            </p>
          ) : null}
          {!running ? (
            <div className="actions">
              <button type="button" className="btn primary" onClick={() => void startInstall()} data-testid="install-esphome">
                Install ESPHome
              </button>
              <button type="button" className="link" onClick={() => set({ view: 'settings' })}>
                Other options (a version, an existing esphome)…
              </button>
            </div>
          ) : null}
          {install ? <InstallProgress install={install} /> : null}
        </>
      )}
    </div>
  );
}

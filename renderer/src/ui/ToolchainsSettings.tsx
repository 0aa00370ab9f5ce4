// Settings → Toolchains: installed ESPHome versions, the default, install, remove, update check.
// Changing the default is deliberate (every device's firmware depends on it): the window says
// what will change and asks, and the old version stays installed until removed.
import { useEffect, useState } from 'react';
import { useToolchains, latestInstall } from '../store/toolchains';
import { useApp } from '../store/app';
import { errorMessage, getBackend } from '../sync';
import { InstallProgress } from './InstallProgress';
import { refreshToolchains, runToolchainAction, startInstall } from './toolchain-actions';

const SOURCE: Record<string, string> = {
  explicit: 'the --esphome flag / KILN_ESPHOME',
  setting: 'the esphome command setting above',
  managed: 'the default toolchain',
  path: 'esphome on the PATH',
};

export function ToolchainsSettings() {
  const state = useToolchains((s) => s.state);
  const update = useToolchains((s) => s.update);
  const install = useToolchains((s) => latestInstall(s.installs));
  const [version, setVersion] = useState('');
  const [confirm, setConfirm] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [keep, setKeep] = useState('');

  useEffect(() => {
    void refreshToolchains().catch(() => undefined);
  }, []);
  useEffect(() => {
    if (state) setKeep(String(state.provisionKeep));
  }, [state]);

  if (!state) return null;
  if (!state.available) {
    return (
      <section className="card" data-testid="toolchains-settings">
        <h2>Toolchains</h2>
        <p className="muted">This Kiln does not manage ESPHome toolchains; it uses {SOURCE[state.effective.source]}.</p>
      </section>
    );
  }
  const current = state.defaultVersion;
  const running = install?.status === 'running';
  return (
    <section className="card" data-testid="toolchains-settings">
      <h2>Toolchains</h2>
      <p className="muted small">
        ESPHome versions Kiln installed, in <code>{state.root}</code>. Builds use <code data-testid="toolchains-effective">{state.effective.command.join(' ')}</code> ({SOURCE[state.effective.source]}). esphome on the PATH:{' '}
        {state.path.found ? state.path.version : 'not found'}.
      </p>
      {!state.python.ok && state.python.detail ? <p className="err">{state.python.detail}</p> : null}
      <table className="toolchains" data-testid="toolchains-list">
        <tbody>
          {state.toolchains.length === 0 ? (
            <tr>
              <td className="muted">No toolchains installed yet.</td>
            </tr>
          ) : null}
          {state.toolchains.map((t) => (
            <tr key={t.version} data-testid={`toolchain-${t.version}`}>
              <td>
                <strong>ESPHome {t.version}</strong> {t.isDefault ? <span className="badge">default</span> : null}
                {t.origin === 'provision' ? <span className="muted small"> installed for a sender&apos;s build</span> : null}
              </td>
              <td className="muted small">Python {t.pythonVersion}</td>
              <td className="actions">
                {!t.isDefault ? (
                  <>
                    <button type="button" className="btn small" onClick={() => setConfirm(t.version)} data-testid={`toolchain-use-${t.version}`}>
                      Make default
                    </button>
                    <button type="button" className="btn small danger" onClick={() => void runToolchainAction('Could not remove the toolchain', () => getBackend().api.removeToolchain({ version: t.version }))} data-testid={`toolchain-remove-${t.version}`}>
                      Remove
                    </button>
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {confirm ? (
        <div className="banner warn" role="alertdialog" aria-label="Change the default ESPHome" data-testid="toolchain-confirm">
          <p>
            Make ESPHome {confirm} the default? Every build from now on uses {confirm}
            {current ? ` instead of ${current}` : ''}, so the next firmware of each device is built by a different ESPHome. {current ? `ESPHome ${current} stays installed; you can switch back at any time.` : ''}
          </p>
          <div className="actions">
            <button
              type="button"
              className="btn primary"
              onClick={() => {
                const v = confirm;
                setConfirm(null);
                void runToolchainAction('Could not change the default', () => getBackend().api.setDefaultToolchain({ version: v }));
              }}
              data-testid="toolchain-confirm-yes"
            >
              Use ESPHome {confirm}
            </button>
            <button type="button" className="btn" onClick={() => setConfirm(null)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      <form
        className="form inline"
        onSubmit={(e) => {
          e.preventDefault();
          void startInstall(version.trim() || undefined);
        }}
      >
        <label className="field">
          <span>Install a version</span>
          <input className="input" value={version} onChange={(e) => setVersion(e.target.value)} placeholder="latest (e.g. 2026.10.0)" data-testid="toolchain-version" />
        </label>
        <button type="submit" className="btn" disabled={running} data-testid="toolchain-install-btn">
          Install
        </button>
      </form>
      {install ? <InstallProgress install={install} /> : null}
      <div className="actions">
        <button
          type="button"
          className="btn small"
          disabled={checking}
          onClick={() => {
            setChecking(true);
            getBackend()
              .api.checkToolchainUpdate({})
              .then(
                (update) => useToolchains.getState().set({ update }),
                (err: unknown) => useApp.getState().toast({ kind: 'error', title: 'Could not check for a newer ESPHome', body: errorMessage(err) }),
              )
              .finally(() => setChecking(false));
          }}
          data-testid="toolchain-check"
        >
          {checking ? 'Checking…' : 'Check for a newer ESPHome'}
        </button>
      </div>
      {update ? (
        <p className="small" role="status" data-testid="toolchain-update">
          {update.status === 'unknown'
            ? `Newest release: ${update.reason}.`
            : update.newer
              ? `ESPHome ${update.latest} is available${update.current ? ` (the default is ${update.current})` : ''}. Installing it changes nothing until you make it the default.`
              : `The default ESPHome ${update.current} is the newest release.`}
          {update.status === 'ok' && update.newer && !state.toolchains.some((t) => t.version === update.latest) ? (
            <>
              {' '}
              <button type="button" className="btn small" onClick={() => void startInstall(update.latest)} disabled={running}>
                Install {update.latest}
              </button>
            </>
          ) : null}
        </p>
      ) : null}
      <form
        className="form inline"
        onSubmit={(e) => {
          e.preventDefault();
          void runToolchainAction('Could not save', () => getBackend().api.setProvisionKeep({ keep: Number(keep) }));
        }}
      >
        <label className="field">
          <span>As a build server, keep this many ESPHome versions installed for senders (oldest unused removed)</span>
          <input className="input" type="number" min={1} max={50} value={keep} onChange={(e) => setKeep(e.target.value)} data-testid="toolchain-keep" />
        </label>
        <button type="submit" className="btn small">
          Save
        </button>
      </form>
    </section>
  );
}

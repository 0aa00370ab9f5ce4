// Settings: esphome command, config dir, remote-build routing, notifications, launch at login.
import { useEffect, useState } from 'react';
import { VERSION_POLICY_VALUES, type Settings, type VersionPolicy } from '../../../preload/contract';
import { useApp } from '../store/app';
import { errorMessage, getBackend } from '../sync';
import { LaunchAtLoginSetting } from './LaunchAtLoginSetting';
import { ToolchainsSettings } from './ToolchainsSettings';

const POLICY_TEXT: Record<VersionPolicy, string> = {
  any: 'Any version (default)',
  release: 'Same release line (YYYY.MM)',
  exact: 'Exact version, else build here',
  exact_required: 'Exact version required (never build here instead)',
};

export function SettingsView() {
  const settings = useApp((s) => s.settings);
  const env = useApp((s) => s.env);
  const [command, setCommand] = useState('');
  const [configDir, setConfigDir] = useState('');
  const [note, setNote] = useState('');

  useEffect(() => {
    if (!settings) return;
    setCommand(settings.esphomeCommand.join(' '));
    setConfigDir(settings.configDir);
  }, [settings]);

  if (!settings) return <p className="muted pad">Loading…</p>;

  const save = async (patch: Partial<Settings>) => {
    try {
      const r = await getBackend().api.updateSettings(patch);
      useApp.getState().set({ settings: r.settings });
      setNote(r.restartRequired ? 'Saved. Restart Kiln for this change to take effect.' : 'Saved.');
      if (patch.esphomeCommand) useApp.getState().set({ env: await getBackend().api.getEnvironment({}) });
    } catch (err) {
      setNote('');
      useApp.getState().toast({ kind: 'error', title: 'Could not save settings', body: errorMessage(err) });
    }
  };

  return (
    <div className="settings" data-testid="settings-screen">
      <section className="card">
        <h2>ESPHome</h2>
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            void save({ esphomeCommand: command.trim() ? command.trim().split(/\s+/) : [] });
          }}
        >
          <label className="field">
            <span>esphome command</span>
            <input className="input" value={command} onChange={(e) => setCommand(e.target.value)} placeholder="esphome" data-testid="esphome-command" />
          </label>
          <p className="muted small">
            In use: <code>{env?.esphome.command.join(' ') ?? '…'}</code>
            {env?.esphome.found ? ` — ESPHome ${env.esphome.version}${env.esphome.simulator ? ' (Kiln simulator)' : ''}` : env ? ` — not found: ${env.esphome.error}` : ''}
          </p>
          <div className="actions">
            <button type="submit" className="btn">
              Save command
            </button>
          </div>
        </form>
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            void save({ configDir: configDir.trim() });
          }}
        >
          <label className="field">
            <span>Configuration folder</span>
            <input className="input" value={configDir} onChange={(e) => setConfigDir(e.target.value)} data-testid="config-dir" />
          </label>
          <div className="actions">
            <button type="submit" className="btn">
              Save folder
            </button>
          </div>
        </form>
      </section>
      <ToolchainsSettings />
      <section className="card">
        <h2>Build servers</h2>
        <label className="switch">
          <input type="checkbox" checked={settings.remoteBuildsEnabled} onChange={(e) => void save({ remoteBuildsEnabled: e.target.checked })} />
          Auto-route installs to a paired build server
        </label>
        <label className="switch">
          <input type="checkbox" checked={settings.includeLocalInPool} onChange={(e) => void save({ includeLocalInPool: e.target.checked })} />
          Include this computer in the build pool (compile here when every server is busy)
        </label>
        <label className="field">
          <span>ESPHome version match</span>
          <select value={settings.versionPolicy} onChange={(e) => void save({ versionPolicy: e.target.value as VersionPolicy })}>
            {VERSION_POLICY_VALUES.map((v) => (
              <option key={v} value={v}>
                {POLICY_TEXT[v]}
              </option>
            ))}
          </select>
        </label>
      </section>
      <section className="card">
        <h2>Notifications</h2>
        <label className="switch">
          <input type="checkbox" checked={settings.notifications} onChange={(e) => void save({ notifications: e.target.checked })} data-testid="notifications-toggle" />
          Tell me when a job finishes or a build server disconnects
        </label>
      </section>
      <LaunchAtLoginSetting settings={settings} save={save} />
      {note ? (
        <p className="muted pad" role="status">
          {note}
        </p>
      ) : null}
    </div>
  );
}

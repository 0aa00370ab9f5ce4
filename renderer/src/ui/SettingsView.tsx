// Settings: esphome command, config folder, toolchains, remote-build routing, firmware library
// retention, notifications, launch at login. Each section is its own component (more sections
// plug in beside them). A change is checked by the backend before it is saved (the esphome
// command must run `version`, the folder must exist or be creatable); a setting that needs a
// restart says "after restart" and changes nothing else on screen until then; the "Saved"
// notice sits next to the button that saved.
import { useEffect, useState, type ReactNode } from 'react';
import { VERSION_POLICY_VALUES, type Settings, type SettingsUpdateResult, type VersionPolicy } from '../../../preload/contract';
import { useApp } from '../store/app';
import { errorMessage, getBackend } from '../sync';
import { LaunchAtLoginSetting } from './LaunchAtLoginSetting';
import { ToolchainsSettings } from './ToolchainsSettings';
import { FirmwareLibrarySettings } from './FirmwareLibrarySettings';

const POLICY_TEXT: Record<VersionPolicy, string> = {
  any: 'Any version (default)',
  release: 'Same release line (YYYY.MM)',
  exact: 'Exact version, else build here',
  exact_required: 'Exact version required (never build here instead)',
};

type Note = { kind: 'ok' | 'error'; text: string } | null;

/** Saves a patch; returns the notice to show beside the control that saved. */
async function save(patch: Partial<Settings>): Promise<Note> {
  try {
    const r: SettingsUpdateResult = await getBackend().api.updateSettings(patch);
    useApp.getState().set({ settings: r.settings });
    return { kind: 'ok', text: r.restartRequired ? 'Saved — takes effect after Kiln restarts.' : 'Saved.' };
  } catch (err) {
    return { kind: 'error', text: errorMessage(err) };
  }
}

function Notice({ note, testId }: { note: Note; testId: string }) {
  if (!note) return null;
  return (
    <span className={note.kind === 'ok' ? 'saved-note' : 'error-text small'} role={note.kind === 'ok' ? 'status' : 'alert'} data-testid={testId}>
      {note.text}
    </span>
  );
}

export function SettingsView({ extraSections }: { extraSections?: ReactNode } = {}) {
  const settings = useApp((s) => s.settings);
  if (!settings) return <p className="muted pad">Loading…</p>;
  return (
    <div className="settings" data-testid="settings-screen">
      <EsphomeSettings settings={settings} />
      <ToolchainsSettings />
      <RoutingSettings settings={settings} />
      <FirmwareLibrarySettings />
      <NotificationSettings settings={settings} />
      <LaunchAtLoginSetting
        settings={settings}
        save={async (patch) => {
          await save(patch);
        }}
      />
      {extraSections}
    </div>
  );
}

export function EsphomeSettings({ settings }: { settings: Settings }) {
  const env = useApp((s) => s.env);
  const [command, setCommand] = useState(settings.esphomeCommand.join(' '));
  const [configDir, setConfigDir] = useState(settings.configDir);
  useEffect(() => setCommand(settings.esphomeCommand.join(' ')), [settings.esphomeCommand]);
  useEffect(() => setConfigDir(settings.configDir), [settings.configDir]);

  const inUse = env?.esphome.command.join(' ') ?? '';
  const saved = settings.esphomeCommand.join(' ');
  const commandPending = saved !== '' && env !== null && saved !== inUse;
  const dirPending = env !== null && settings.configDir !== '' && settings.configDir !== env.configDir;

  return (
    <section className="card" aria-labelledby="set-esphome-h">
      <h2 id="set-esphome-h">ESPHome</h2>
      <SettingForm
        label="esphome command"
        value={command}
        onChange={setCommand}
        placeholder="esphome"
        testId="esphome-command"
        inUseTestId="esphome-in-use"
        inUse={inUse}
        inUseDetail={env?.esphome.found ? ` — ESPHome ${env.esphome.version}${env.esphome.simulator ? ' (Kiln simulator)' : ''}` : env ? ` — not found: ${env.esphome.error}` : ''}
        afterRestart={commandPending ? saved : null}
        saveLabel="Save command"
        saveTestId="save-esphome-command"
        onSave={async () => {
          const note = await save({ esphomeCommand: command.trim() ? command.trim().split(/\s+/) : [] });
          // Applied live (no restart needed): the environment now names the new command.
          if (note?.kind === 'ok') useApp.getState().set({ env: await getBackend().api.getEnvironment({}).catch(() => useApp.getState().env) });
          return note;
        }}
      />
      <SettingForm
        label="Configuration folder"
        value={configDir}
        onChange={setConfigDir}
        testId="config-dir"
        inUseTestId="config-dir-in-use"
        inUse={env?.configDir ?? ''}
        afterRestart={dirPending ? settings.configDir : null}
        saveLabel="Save folder"
        saveTestId="save-config-dir"
        onSave={() => save({ configDir: configDir.trim() })}
      />
    </section>
  );
}

interface SettingFormProps {
  label: string;
  value: string;
  onChange(value: string): void;
  placeholder?: string;
  /** The input's test id; the notice's is `<testId>-note`. */
  testId: string;
  inUseTestId: string;
  /** What the running backend uses now ("" while unknown). */
  inUse: string;
  inUseDetail?: string;
  /** The saved value when it differs from what is in use (it applies after a restart). */
  afterRestart: string | null;
  saveLabel: string;
  saveTestId: string;
  onSave(): Promise<Note>;
}

/** One text setting: the field, what is in use (and what applies after restart), Save with its notice. */
function SettingForm(p: SettingFormProps) {
  const [note, setNote] = useState<Note>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="form"
      onSubmit={(e) => void (async () => {
        e.preventDefault();
        setBusy(true);
        setNote(null);
        setNote(await p.onSave());
        setBusy(false);
      })()}
    >
      <label className="field">
        <span>{p.label}</span>
        <input className="input" value={p.value} onChange={(e) => p.onChange(e.target.value)} placeholder={p.placeholder} data-testid={p.testId} />
      </label>
      <p className="muted small" data-testid={p.inUseTestId}>
        In use: <code>{p.inUse || '…'}</code>
        {p.inUseDetail}
        {p.afterRestart !== null ? (
          <>
            {' '}
            · After restart: <code>{p.afterRestart}</code>
          </>
        ) : null}
      </p>
      <div className="actions">
        <Notice note={note} testId={`${p.testId}-note`} />
        <button type="submit" className="btn" disabled={busy} data-testid={p.saveTestId}>
          {busy ? 'Checking…' : p.saveLabel}
        </button>
      </div>
    </form>
  );
}

export function RoutingSettings({ settings }: { settings: Settings }) {
  const [note, setNote] = useState<Note>(null);
  const set = async (patch: Partial<Settings>) => setNote(await save(patch));
  return (
    <section className="card" aria-labelledby="set-routing-h">
      <h2 id="set-routing-h">Build servers</h2>
      <label className="switch">
        <input type="checkbox" checked={settings.remoteBuildsEnabled} onChange={(e) => void set({ remoteBuildsEnabled: e.target.checked })} />
        Auto-route installs to a paired build server
      </label>
      <label className="switch">
        <input type="checkbox" checked={settings.includeLocalInPool} onChange={(e) => void set({ includeLocalInPool: e.target.checked })} />
        Include this computer in the build pool (compile here when every server is busy)
      </label>
      <label className="field">
        <span>ESPHome version match</span>
        <select value={settings.versionPolicy} onChange={(e) => void set({ versionPolicy: e.target.value as VersionPolicy })}>
          {VERSION_POLICY_VALUES.map((v) => (
            <option key={v} value={v}>
              {POLICY_TEXT[v]}
            </option>
          ))}
        </select>
      </label>
      <Notice note={note} testId="routing-note" />
    </section>
  );
}

export function NotificationSettings({ settings }: { settings: Settings }) {
  const [note, setNote] = useState<Note>(null);
  return (
    <section className="card" aria-labelledby="set-notify-h">
      <h2 id="set-notify-h">Notifications</h2>
      <label className="switch">
        <input
          type="checkbox"
          checked={settings.notifications}
          onChange={(e) => void save({ notifications: e.target.checked }).then(setNote)}
          data-testid="notifications-toggle"
        />
        Tell me when a job finishes or a build server disconnects
      </label>
      <Notice note={note} testId="notifications-note" />
    </section>
  );
}

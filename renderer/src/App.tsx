// The window: header with navigation, connection and esphome state; the tasks view (devices,
// task list, log), build servers, settings; dialogs, toasts and the drop overlay.
import { useEffect } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useApp, type View } from './store/app';
import { useJobs, isActiveJob } from './store/jobs';
import { BuildServers } from './ui/BuildServers';
import { Configurations } from './ui/Configurations';
import { Dialog } from './ui/Dialog';
import { installDropHandlers, useReplacePrompt } from './ui/drop';
import { InstallDialog } from './ui/InstallDialog';
import { InstallEsphomePanel } from './ui/InstallEsphomePanel';
import { LogPanel } from './ui/LogPanel';
import { PairDialog } from './ui/PairDialog';
import { SettingsView } from './ui/SettingsView';
import { StartingBanner } from './ui/StartingBanner';
import { TaskList } from './ui/TaskList';
import { Toasts } from './ui/Toasts';

const VIEWS: Array<{ id: View; label: string }> = [
  { id: 'tasks', label: 'Tasks' },
  { id: 'servers', label: 'Build servers' },
  { id: 'settings', label: 'Settings' },
];

export function App() {
  const { view, env, selectedJobId, installDialog, pairDialogOpen, dragging, set } = useApp(
    useShallow((s) => ({
      view: s.view,
      connection: s.connection,
      env: s.env,
      selectedJobId: s.selectedJobId,
      installDialog: s.installDialog,
      pairDialogOpen: s.pairDialogOpen,
      dragging: s.dragging,
      set: s.set,
    })),
  );
  const activeCount = useJobs((s) => Object.values(s.byId).filter(isActiveJob).length);

  useEffect(() => installDropHandlers(), []);

  return (
    <div className="app">
      <header className="app-header">
        <h1 className="brand">Kiln</h1>
        <nav aria-label="Main">
          {VIEWS.map((v) => (
            <button
              key={v.id}
              type="button"
              className={`nav-btn${view === v.id ? ' active' : ''}`}
              aria-current={view === v.id ? 'page' : undefined}
              onClick={() => set({ view: v.id })}
              data-testid={`nav-${v.id}`}
            >
              {v.label}
              {v.id === 'tasks' && activeCount > 0 ? (
                <span className="count" aria-label={`${activeCount} firmware task(s) active`}>
                  {activeCount}
                </span>
              ) : null}
            </button>
          ))}
        </nav>
        <div className="header-right">
          {env?.esphome.found ? (
            <span className="muted small" data-testid="esphome-version">
              ESPHome {env.esphome.version}
            </span>
          ) : null}
          {env?.esphome.simulator ? (
            <span className="badge sim" title="Jobs run with Kiln's esphome simulator, not the real ESPHome" data-testid="simulator-badge">
              simulator
            </span>
          ) : null}
        </div>
      </header>
      <ConnectionBanner />
      <StartingBanner />
      <InstallEsphomePanel />
      <main className={`main view-${view}`} tabIndex={-1}>
        {view === 'tasks' ? (
          <div className="tasks-layout">
            <div className="left-col">
              <Configurations />
              <TaskList />
            </div>
            <div className="right-col">
              {selectedJobId ? (
                <LogPanel key={selectedJobId} jobId={selectedJobId} />
              ) : (
                <div className="empty" data-testid="no-selection">
                  <p className="empty-title">Select a task to see its output</p>
                  <p>Use Import YAML… or drop ESPHome .yaml files anywhere on this window to import them and install.</p>
                </div>
              )}
            </div>
          </div>
        ) : view === 'servers' ? (
          <BuildServers />
        ) : (
          <SettingsView />
        )}
      </main>
      {installDialog ? <InstallDialog key={installDialog.configuration + (installDialog.jobId ? ':job' : '')} /> : null}
      {pairDialogOpen ? <PairDialog /> : null}
      <ReplacePrompt />
      {dragging ? (
        <div className="drop-overlay" aria-hidden="true" data-testid="drop-overlay">
          <div className="drop-card">
            <strong>Drop to import</strong>
            <span>ESPHome .yaml files — one or several</span>
          </div>
        </div>
      ) : null}
      <Toasts />
    </div>
  );
}

/** "Replace the existing file?" for an import whose name is taken (the app's dialog, not confirm()). */
function ReplacePrompt() {
  const ask = useReplacePrompt((s) => s.ask);
  if (!ask) return null;
  return (
    <Dialog title="Replace the existing file?" onClose={() => ask.answer(false)} testId="replace-prompt">
      <p>
        A configuration named <code>{ask.name}</code> already exists. Replace it with the imported file? The old file is overwritten.
      </p>
      <div className="actions">
        <button type="button" className="btn" onClick={() => ask.answer(false)} data-testid="replace-keep" autoFocus>
          Keep the existing file
        </button>
        <button type="button" className="btn danger" onClick={() => ask.answer(true)} data-testid="replace-confirm">
          Replace
        </button>
      </div>
    </Dialog>
  );
}

function ConnectionBanner() {
  const c = useApp((s) => s.connection);
  if (c.state === 'open') return null;
  if (c.state === 'connecting' && c.attempt <= 1) return null;
  const text =
    c.state === 'refused'
      ? `The Kiln backend refused this window: ${c.error}`
      : c.state === 'lost'
        ? `Connection to the Kiln backend lost (${c.error}). Reconnecting…`
        : 'Connecting to the Kiln backend…';
  return (
    <div className={`banner ${c.state === 'refused' ? 'error' : 'warn'}`} role="alert" data-testid="connection-banner" data-state={c.state}>
      {text}
    </div>
  );
}

// The configurations in the config dir: search, sorted by the shown name, Compile / Install and a
// per-device actions menu; "Import YAML…" (several files at once) beside drag-and-drop; empty
// states for a newcomer.
import { useEffect, useMemo, useRef, useState } from 'react';
import type { ConfigurationEntry } from '../../../preload/contract';
import { useApp, useDeviceNames } from '../store/app';
import { useJobs } from '../store/jobs';
import { errorMessage, getBackend } from '../sync';
import { importFiles } from './drop';
import { FirmwareBadge, FirmwareBuilds, useFirmwareStatuses } from './FirmwareStatus';
import { BatchPanel, FleetActions, useBatch } from './FleetBatch';

export const shownName = (c: ConfigurationEntry): string => c.friendlyName || c.deviceName || c.name.replace(/\.ya?ml$/i, '');

export function Configurations() {
  const configurations = useApp((s) => s.configurations);
  const env = useApp((s) => s.env);
  const [query, setQuery] = useState('');
  const batch = useBatch();
  // A batch's device counts as done once its build is in the library: re-read then.
  const firmware = useFirmwareStatuses(batch ? `${batch.id}:${batch.done}` : '');
  const names = useDeviceNames();
  const [buildsOf, setBuildsOf] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const compile = async (configuration: string) => {
    try {
      const job = await getBackend().api.compile({ configuration });
      useJobs.getState().upsert(job);
      useApp.getState().set({ selectedJobId: job.job_id });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Could not start the compile', body: errorMessage(err) });
    }
  };
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return (configurations ?? [])
      .filter((c) => !q || [shownName(c), c.name, c.deviceName, c.platform].some((v) => v.toLowerCase().includes(q)))
      .sort((a, b) => shownName(a).localeCompare(shownName(b), undefined, { sensitivity: 'base', numeric: true }));
  }, [configurations, query]);

  return (
    <section className="configs" aria-labelledby="configs-h">
      <div className="toolbar">
        <h2 id="configs-h">Devices</h2>
        <div className="toolbar-actions">
          <button type="button" className="btn small" onClick={() => picker.current?.click()} data-testid="import-yaml">
            Import YAML…
          </button>
          <input
            ref={picker}
            type="file"
            accept=".yaml,.yml"
            multiple
            hidden
            onChange={(e) => {
              const files = Array.from(e.target.files ?? []);
              e.target.value = '';
              if (files.length > 0) void importFiles(files);
            }}
            data-testid="import-yaml-input"
          />
          <button type="button" className="btn small" onClick={() => useApp.getState().set({ installDialog: { configuration: '' } })} data-testid="open-install">
            Install…
          </button>
        </div>
      </div>
      {configurations && configurations.length > 0 ? <FleetActions configurations={configurations} firmware={firmware} batch={batch} /> : null}
      <BatchPanel batch={batch} names={names} />
      {configurations === null ? (
        <p className="muted pad">Loading…</p>
      ) : configurations.length === 0 ? (
        <div className="empty small" data-testid="no-configurations">
          <p className="empty-title">No configurations yet</p>
          <p>
            Kiln builds the ESPHome YAML files in <code>{env?.configDir ?? 'your config folder'}</code>. Use <strong>Import YAML…</strong>, drop a{' '}
            <code>.yaml</code> file anywhere on this window, or copy files into that folder.
          </p>
        </div>
      ) : (
        <>
          {configurations.length > 3 ? (
            <div className="device-search">
              <input
                type="search"
                className="input small"
                placeholder={`Search ${configurations.length} devices`}
                aria-label="Search devices"
                value={query}
                onChange={(e) => setQuery(e.target.value)}
                data-testid="device-search"
              />
            </div>
          ) : null}
          {shown.length === 0 ? <p className="muted pad">No device matches “{query}”.</p> : null}
          <ul className="plain config-list" data-testid="configurations">
            {shown.map((c) => (
              <li key={c.name} className="config" data-testid="configuration" data-name={c.name}>
                <span className="config-name">
                  <strong>{shownName(c)}</strong>
                  <span className="muted small">
                    {c.name}
                    {c.platform ? ` · ${c.platform}` : ''}
                  </span>
                  {c.error ? <span className="error-text small">{c.error}</span> : null}
                  {c.reading ? <span className="muted small" data-testid="config-reading">reading…</span> : null}
                  <FirmwareBadge status={firmware[c.name]} />
                </span>
                <span className="config-actions">
                  <button type="button" className="btn small" onClick={() => void compile(c.name)} aria-label={`Compile ${shownName(c)}`} data-testid="compile">
                    Compile
                  </button>
                  <button
                    type="button"
                    className="btn small primary"
                    onClick={() => useApp.getState().set({ installDialog: { configuration: c.name } })}
                    aria-label={`Install ${shownName(c)}`}
                    data-testid="install"
                  >
                    Install
                  </button>
                  <button type="button" className="btn small" onClick={() => setBuildsOf(buildsOf === c.name ? null : c.name)} aria-label={`Kept builds of ${shownName(c)}`} data-testid="show-builds">
                    Builds
                  </button>
                  <DeviceMenu config={c} onShowBuilds={() => setBuildsOf(c.name)} />
                </span>
                {buildsOf === c.name ? <FirmwareBuilds configuration={c.name} onClose={() => setBuildsOf(null)} /> : null}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/**
 * "⋯" per device: Clean build files, Logs of the last job, Download firmware (opens the device's
 * kept builds, where each image downloads). Keyboard: arrows, Escape returns focus.
 */
function DeviceMenu({ config, onShowBuilds }: { config: ConfigurationEntry; onShowBuilds: () => void }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  const lastJob = useJobs((s) =>
    Object.values(s.byId)
      .filter((j) => j.configuration === config.name && !j.replaced_by && !j.remote_peer)
      .sort((a, b) => b.created_at.localeCompare(a.created_at))[0],
  );
  useEffect(() => {
    if (!open) return;
    menu.current?.querySelector<HTMLElement>('[role="menuitem"]:not([disabled])')?.focus();
    const onDown = (e: MouseEvent) => {
      if (!menu.current?.contains(e.target as Node) && e.target !== button.current) setOpen(false);
    };
    document.addEventListener('mousedown', onDown);
    return () => document.removeEventListener('mousedown', onDown);
  }, [open]);
  const close = () => {
    setOpen(false);
    button.current?.focus();
  };
  const onKey = (e: React.KeyboardEvent) => {
    const items = Array.from(menu.current?.querySelectorAll<HTMLElement>('[role="menuitem"]:not([disabled])') ?? []);
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      items[(i + (e.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length]?.focus();
    } else if (e.key === 'Tab') {
      setOpen(false);
    }
  };
  const clean = async () => {
    close();
    try {
      const job = await getBackend().api.clean({ configuration: config.name });
      useJobs.getState().upsert(job);
      useApp.getState().set({ selectedJobId: job.job_id });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Could not clean the build files', body: errorMessage(err) });
    }
  };
  return (
    <span className="menu-wrap">
      <button
        ref={button}
        type="button"
        className="btn small"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`More actions for ${shownName(config)}`}
        onClick={() => setOpen((o) => !o)}
        data-testid="device-menu"
      >
        ⋯
      </button>
      {open ? (
        <div className="menu" role="menu" aria-label={`Actions for ${shownName(config)}`} ref={menu} onKeyDown={onKey} data-testid="device-menu-list">
          <button type="button" role="menuitem" className="menu-item" onClick={() => void clean()} data-testid="menu-clean">
            Clean build files
          </button>
          <button
            type="button"
            role="menuitem"
            className="menu-item"
            disabled={!lastJob}
            onClick={() => {
              close();
              if (lastJob) useApp.getState().set({ view: 'tasks', selectedJobId: lastJob.job_id });
            }}
            data-testid="menu-last-log"
          >
            {lastJob ? 'Logs of the last job' : 'Logs of the last job (none yet)'}
          </button>
          <button
            type="button"
            role="menuitem"
            className="menu-item"
            onClick={() => {
              close();
              onShowBuilds();
            }}
            data-testid="menu-download-firmware"
          >
            Download firmware…
          </button>
        </div>
      ) : null}
    </span>
  );
}

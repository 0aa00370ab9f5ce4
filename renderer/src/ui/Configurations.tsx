// The configurations in the config dir, with Install / Compile; empty states for a newcomer.
import { useApp } from '../store/app';
import { useJobs } from '../store/jobs';
import { errorMessage, getBackend } from '../sync';

export function Configurations() {
  const configurations = useApp((s) => s.configurations);
  const env = useApp((s) => s.env);
  const compile = async (configuration: string) => {
    try {
      const job = await getBackend().api.compile({ configuration });
      useJobs.getState().upsert(job);
      useApp.getState().set({ selectedJobId: job.job_id });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Could not start the compile', body: errorMessage(err) });
    }
  };
  return (
    <section className="configs" aria-labelledby="configs-h">
      <div className="toolbar">
        <h2 id="configs-h">Devices</h2>
        <button type="button" className="btn small" onClick={() => useApp.getState().set({ installDialog: { configuration: '' } })} data-testid="open-install">
          Install…
        </button>
      </div>
      {configurations === null ? (
        <p className="muted pad">Loading…</p>
      ) : configurations.length === 0 ? (
        <div className="empty small" data-testid="no-configurations">
          <p className="empty-title">No configurations yet</p>
          <p>
            Kiln builds the ESPHome YAML files in <code>{env?.configDir ?? 'your config folder'}</code>. Drop a <code>.yaml</code> file anywhere on this window to
            import it, or copy files into that folder.
          </p>
        </div>
      ) : (
        <ul className="plain config-list" data-testid="configurations">
          {configurations.map((c) => (
            <li key={c.name} className="config" data-testid="configuration" data-name={c.name}>
              <span className="config-name">
                <strong>{c.friendlyName || c.deviceName || c.name}</strong>
                <span className="muted small">
                  {c.name}
                  {c.platform ? ` · ${c.platform}` : ''}
                </span>
                {c.error ? <span className="error-text small">{c.error}</span> : null}
              </span>
              <span className="config-actions">
                <button type="button" className="btn small" onClick={() => void compile(c.name)} aria-label={`Compile ${c.name}`} data-testid="compile">
                  Compile
                </button>
                <button
                  type="button"
                  className="btn small primary"
                  onClick={() => useApp.getState().set({ installDialog: { configuration: c.name } })}
                  aria-label={`Install ${c.name}`}
                  data-testid="install"
                >
                  Install
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

// "Build all" / "Update all" in the device list (issue 15): the two actions with how many devices
// they would queue (disabled with the reason when none), "Build all with ESPHome X" after the
// default ESPHome changed, and the batch summary — "12 of 30 done · 1 failed · about 4 min left",
// a progress bar, Stop, and the failed devices as buttons to their log. The batch lives in the
// backend (getBatch / batchChanged), so every window shows the same one.
import { useEffect, useState } from 'react';
import type { BatchKind, BatchSummary, ConfigurationEntry, DeviceFirmwareStatus } from '../../../preload/contract';
import { useApp } from '../store/app';
import { errorMessage, getBackend } from '../sync';

/** The backend's batch: fetched on every (re)connect, then kept by batchChanged events. */
export function useBatch(): BatchSummary | null {
  const [batch, setBatch] = useState<BatchSummary | null>(null);
  const open = useApp((s) => s.connection.state === 'open');
  useEffect(() => {
    if (!open) return;
    let live = true;
    const b = getBackend();
    let fromEvent = false;
    const off = b.on('batchChanged', ({ batch: next }) => {
      fromEvent = true;
      setBatch(next);
    });
    b.api
      .getBatch({})
      .then((s) => live && !fromEvent && setBatch(s))
      .catch(() => undefined); // no library in this mode: no batch
    return () => {
      live = false;
      off();
    };
  }, [open]);
  return batch;
}

const KIND: Record<BatchKind, { title: string; verb: string }> = {
  build: { title: 'Build all', verb: 'compile' },
  update: { title: 'Update all', verb: 'install over the air' },
};

export function etaText(s: BatchSummary): string {
  if (s.etaSeconds === null) return 'estimating time left';
  if (s.etaSeconds < 60) return 'less than a minute left';
  const min = Math.round(s.etaSeconds / 60);
  return min >= 90 ? `about ${Math.round(min / 60)} h left` : `about ${min} min left`;
}

export function summaryText(s: BatchSummary): string {
  // A stopped device is not "done": it is counted on its own.
  const parts = [`${s.done - s.cancelled} of ${s.total} done`];
  if (s.failed > 0) parts.push(`${s.failed} failed`);
  if (s.cancelled > 0) parts.push(`${s.cancelled} stopped`);
  if (s.state === 'running') parts.push(etaText(s));
  if (s.state === 'stopping') parts.push('stopping…');
  return parts.join(' · ');
}

async function start(kind: BatchKind, esphomeVersion?: string): Promise<void> {
  try {
    await getBackend().api.startBatch({ kind, ...(esphomeVersion ? { esphomeVersion } : {}) });
  } catch (err) {
    useApp.getState().toast({ kind: 'error', title: `Could not start ${KIND[kind].title}`, body: errorMessage(err) });
  }
}

/** What each action would queue, asked from the backend (its rule, one place) whenever `key` changes. */
function usePreview(key: unknown): Record<BatchKind, number> | null {
  const [counts, setCounts] = useState<Record<BatchKind, number> | null>(null);
  useEffect(() => {
    let live = true;
    const api = getBackend().api;
    Promise.all([api.previewBatch({ kind: 'build' }), api.previewBatch({ kind: 'update' })])
      .then(([build, update]) => live && setCounts({ build: build.configurations.length, update: update.configurations.length }))
      .catch(() => live && setCounts(null)); // no library in this mode: no actions
    return () => {
      live = false;
    };
  }, [key]);
  return counts;
}

/** The toolbar actions. `firmware`: statuses by configuration (FirmwareStatus.tsx); a new object = re-read. */
export function FleetActions({ configurations, firmware, batch }: { configurations: ConfigurationEntry[]; firmware: Record<string, DeviceFirmwareStatus>; batch: BatchSummary | null }) {
  const version = useApp((s) => s.env?.esphome.version ?? '');
  const counts = usePreview(firmware);
  const esphomeChanged = configurations.filter((c) => !c.error && firmware[c.name]?.status === 'esphome-changed').length;
  const busy = batch !== null && (batch.state === 'running' || batch.state === 'stopping');
  if (!counts) return null;
  const reasonOf = (kind: BatchKind): string =>
    busy ? `${KIND[batch.kind].title} is running` : counts[kind] > 0 ? '' : kind === 'build' ? 'Every device is up to date' : 'Every device is up to date and flashed';
  const reason = reasonOf('build') && reasonOf('update') ? (busy ? reasonOf('build') : reasonOf('update')) : reasonOf('build') || reasonOf('update');
  const devices = (n: number): string => `${n} device${n === 1 ? '' : 's'}`;
  return (
    <div className="fleet-actions" role="group" aria-label="Every device at once" data-testid="fleet-actions">
      {(['build', 'update'] as const).map((kind) => (
        <button
          key={kind}
          type="button"
          className="btn small"
          disabled={reasonOf(kind) !== ''}
          aria-describedby={reasonOf(kind) ? 'fleet-reason' : undefined}
          title={reasonOf(kind) || `${KIND[kind].verb.charAt(0).toUpperCase()}${KIND[kind].verb.slice(1)}: ${devices(counts[kind])}`}
          onClick={() => void start(kind)}
          data-testid={`batch-${kind}`}
        >
          {KIND[kind].title} ({counts[kind]})
        </button>
      ))}
      {esphomeChanged > 0 && version && !busy ? (
        <button type="button" className="btn small primary" onClick={() => void start('build', version)} data-testid="batch-build-version" title={`${esphomeChanged} device${esphomeChanged === 1 ? ' was' : 's were'} built with another ESPHome version`}>
          Build all with ESPHome {version}
        </button>
      ) : null}
      {reason ? (
        <span id="fleet-reason" className="muted small" data-testid="fleet-reason">
          {reason}
        </span>
      ) : null}
    </div>
  );
}

/** The running (or last) batch. Dismissing a finished one hides it until the next. */
export function BatchPanel({ batch, names }: { batch: BatchSummary | null; names: Record<string, string> }) {
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [stopping, setStopping] = useState(false);
  if (!batch || dismissed === batch.id) return null;
  const active = batch.state === 'running' || batch.state === 'stopping';
  const failed = batch.items.filter((i) => i.state === 'failed');
  const stop = async () => {
    setStopping(true);
    try {
      await getBackend().api.stopBatch({ batchId: batch.id });
    } catch (err) {
      useApp.getState().toast({ kind: 'error', title: 'Could not stop the batch', body: errorMessage(err) });
    } finally {
      setStopping(false);
    }
  };
  const title = `${KIND[batch.kind].title}${batch.esphomeVersion ? ` (ESPHome ${batch.esphomeVersion})` : ''}`;
  const outcome = batch.state === 'done' ? (batch.failed > 0 ? 'finished with failures' : 'finished') : batch.state === 'stopped' ? 'stopped' : '';
  return (
    <section className={`batch-panel${failed.length > 0 ? ' has-failures' : ''}`} aria-label={`${KIND[batch.kind].title} progress`} data-testid="batch-panel" data-state={batch.state}>
      <div className="banner-title">
        <strong>{title}</strong>
        {outcome ? <span className="muted small">{outcome}</span> : null}
        <span className="batch-actions">
          {active ? (
            <button type="button" className="btn small danger" onClick={() => void stop()} disabled={stopping || batch.state === 'stopping'} data-testid="batch-stop">
              Stop
            </button>
          ) : (
            <button type="button" className="btn small" onClick={() => setDismissed(batch.id)} aria-label={`Dismiss the ${KIND[batch.kind].title} summary`} data-testid="batch-dismiss">
              Dismiss
            </button>
          )}
        </span>
      </div>
      <p className="small" role="status" aria-live="polite" data-testid="batch-summary">
        {summaryText(batch)}
        {batch.running > 0 ? ` · ${batch.running} running` : ''}
      </p>
      <span className="progress" role="progressbar" aria-label={`${KIND[batch.kind].title}: ${batch.done} of ${batch.total} devices done`} aria-valuemin={0} aria-valuemax={batch.total} aria-valuenow={batch.done}>
        <span className="progress-fill" style={{ width: `${batch.total ? (100 * batch.done) / batch.total : 0}%` }} />
      </span>
      {failed.length > 0 ? (
        <ul className="plain batch-failures" aria-label="Failed devices" data-testid="batch-failures">
          {failed.map((i) => (
            <li key={i.configuration}>
              <button
                type="button"
                className="link-button small error-text"
                disabled={!i.jobId}
                onClick={() => useApp.getState().set({ view: 'tasks', selectedJobId: i.jobId })}
                aria-label={`Open the log of ${names[i.configuration] || i.configuration}`}
                data-testid="batch-failed-device"
                title={i.error}
              >
                {names[i.configuration] || i.configuration}
                {i.error ? `: ${(i.error.split('\n')[0] ?? '').slice(0, 140)}` : ''}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

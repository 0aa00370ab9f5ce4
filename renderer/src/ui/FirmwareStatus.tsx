// Firmware library in the device list (issue 15): each device's status (up to date, config
// changed, ESPHome changed, never built — and when/where its build was made), and per device the
// kept builds with "Flash this build" (roll back, no compile) and Download: the desktop app asks
// where to save (native dialog); a browser is told to use the download link and fetches it.
// Statuses are re-read whenever a job completes or the configuration list changes.
import { useEffect, useState } from 'react';
import type { DeviceFirmwareStatus, FirmwareBuild, FirmwareStatus } from '../../../preload/contract';
import { useApp } from '../store/app';
import { useJobs } from '../store/jobs';
import { errorMessage, getBackend } from '../sync';
import { relativeTime } from './format';

const LABEL: Record<FirmwareStatus, string> = {
  'up-to-date': 'Up to date',
  'config-changed': 'Configuration changed',
  'esphome-changed': 'ESPHome changed',
  'never-built': 'Never built',
};

/** All statuses by configuration; refreshed after every completed job and when `refreshKey` changes. */
export function useFirmwareStatuses(refreshKey = ''): Record<string, DeviceFirmwareStatus> {
  const configurations = useApp((s) => s.configurations);
  const completed = useJobs((s) => Object.values(s.byId).filter((j) => j.status === 'completed').length);
  const [byName, setByName] = useState<Record<string, DeviceFirmwareStatus>>({});
  useEffect(() => {
    let live = true;
    getBackend()
      .api.getFirmwareStatus({})
      .then((all) => live && setByName(Object.fromEntries(all.map((s) => [s.configuration, s]))))
      .catch(() => undefined); // no library in this mode: no badges
    return () => {
      live = false;
    };
  }, [configurations, completed, refreshKey]);
  return byName;
}

const where = (b: FirmwareBuild): string => (b.builtOn === 'local' ? 'this computer' : b.builtOnLabel);

export function FirmwareBadge({ status }: { status: DeviceFirmwareStatus | undefined }) {
  // "now" is read once per mount (render stays pure); the badge re-mounts when its status changes.
  const [now] = useState(() => Date.now());
  if (!status) return null;
  const b = status.build;
  const title = b ? `Built ${new Date(b.builtAt).toLocaleString()} on ${where(b)}, ESPHome ${b.esphomeVersion}` : 'No build of this device in the firmware library';
  return (
    <span className={`badge fw-${status.status}`} data-testid="firmware-status" data-status={status.status} title={title}>
      {LABEL[status.status]}
      {b ? ` · built ${relativeTime(b.builtAt, now)} on ${where(b)}` : ''}
    </span>
  );
}

function sessionToken(): string | null {
  try {
    return sessionStorage.getItem('kiln.token');
  } catch {
    return null;
  }
}

/** Browser download: the token goes in a header, the file is saved from a blob. */
async function download(build: FirmwareBuild, kind: 'ota' | 'factory', fileName: string): Promise<void> {
  const token = sessionToken();
  const res = await fetch(`/firmware/${build.id}/${kind}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!res.ok) throw new Error((await res.text()).trim() || `HTTP ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Download: the backend saves it where the user picks (desktop), or says to use the link (browser). */
async function saveImage(build: FirmwareBuild, kind: 'ota' | 'factory', fileName: string): Promise<string> {
  const r = await getBackend().api.saveFirmwareAs({ buildId: build.id, kind });
  if (r.outcome === 'use-download-link') {
    await download(build, kind, fileName);
    return '';
  }
  return r.outcome === 'saved' ? `Saved ${r.path}` : '';
}

/** The kept builds of one device (opened from the device menu). */
export function FirmwareBuilds({ configuration, onClose }: { configuration: string; onClose: () => void }) {
  const [builds, setBuilds] = useState<FirmwareBuild[] | null>(null);
  const [error, setError] = useState('');
  const [saved, setSaved] = useState('');
  useEffect(() => {
    getBackend()
      .api.listFirmwareBuilds({ configuration })
      .then(setBuilds)
      .catch((err) => setError(errorMessage(err)));
  }, [configuration]);
  const flash = async (b: FirmwareBuild) => {
    try {
      const job = await getBackend().api.flashFirmwareBuild({ configuration, buildId: b.id });
      useJobs.getState().upsert(job);
      useApp.getState().set({ selectedJobId: job.job_id });
      onClose();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <div className="firmware-builds" data-testid="firmware-builds">
      <div className="toolbar">
        <strong>Kept builds</strong>
        <button type="button" className="btn small" onClick={onClose}>
          Close
        </button>
      </div>
      {error ? (
        <p className="error-text small" role="alert">
          {error}
        </p>
      ) : null}
      {saved ? (
        <p className="saved-note small" role="status" data-testid="firmware-saved">
          {saved}
        </p>
      ) : null}
      {builds === null ? <p className="muted small">Loading…</p> : builds.length === 0 ? <p className="muted small">No kept builds yet: Compile or Install this device.</p> : null}
      <ul className="plain">
        {(builds ?? []).map((b) => (
          <li key={b.id} data-testid="firmware-build" data-build={b.id}>
            <span className="small">
              {new Date(b.builtAt).toLocaleString()} · ESPHome {b.esphomeVersion} · {where(b)}
              {b.pinned ? ' · pinned' : ''}
            </span>
            <span className="config-actions">
              <button type="button" className="btn small" onClick={() => void flash(b)} data-testid="flash-build">
                Flash this build
              </button>
              {b.images.map((im) => (
                <button
                  key={im.kind}
                  type="button"
                  className="btn small"
                  onClick={() => {
                    setError('');
                    setSaved('');
                    void saveImage(b, im.kind, im.fileName).then(setSaved, (err) => setError(errorMessage(err)));
                  }}
                  data-testid={`download-${im.kind}`}
                  title={im.fileName}
                >
                  Download {im.kind === 'ota' ? 'OTA image' : 'factory image'}
                </button>
              ))}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

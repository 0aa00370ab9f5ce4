// Settings → Firmware library: how many builds are kept per device and the library's total size
// limit, with the size it uses now. Checked here for an immediate message and again by the
// backend (its refusal is shown the same way); a saved change prunes the library at once.
import { useEffect, useState } from 'react';
import { FIRMWARE_KEEP_MAX, FIRMWARE_KEEP_MIN, FIRMWARE_MAX_BYTES_MAX, FIRMWARE_MAX_BYTES_MIN, type FirmwareRetention } from '../../../preload/contract';
import { errorMessage, getBackend } from '../sync';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
type Unit = 'MiB' | 'GiB';

export function sizeText(bytes: number): string {
  if (bytes >= GIB) return `${+(bytes / GIB).toFixed(2)} GiB`;
  if (bytes >= MIB) return `${+(bytes / MIB).toFixed(1)} MiB`;
  return `${+(bytes / 1024).toFixed(1)} KiB`;
}

/** The form's message for a value out of range, or '' (same words as the backend's refusal). */
export function retentionProblem(keep: string, size: string, unit: Unit): string {
  const n = Number(keep);
  if (!/^\d+$/.test(keep.trim()) || n < FIRMWARE_KEEP_MIN || n > FIRMWARE_KEEP_MAX) {
    return `Keep the last N builds per device: enter a whole number from ${FIRMWARE_KEEP_MIN} to ${FIRMWARE_KEEP_MAX}.`;
  }
  const bytes = Math.round(Number(size) * (unit === 'GiB' ? GIB : MIB));
  if (size.trim() === '' || !Number.isFinite(bytes) || bytes < FIRMWARE_MAX_BYTES_MIN || bytes > FIRMWARE_MAX_BYTES_MAX) {
    return `Total size limit: enter a size from ${sizeText(FIRMWARE_MAX_BYTES_MIN)} to ${sizeText(FIRMWARE_MAX_BYTES_MAX)}.`;
  }
  return '';
}

function split(bytes: number): { size: string; unit: Unit } {
  return bytes % GIB === 0 ? { size: String(bytes / GIB), unit: 'GiB' } : { size: String(+(bytes / MIB).toFixed(1)), unit: 'MiB' };
}

export function FirmwareLibrarySettings() {
  const [current, setCurrent] = useState<FirmwareRetention | null>(null);
  const [unavailable, setUnavailable] = useState('');
  const [keep, setKeep] = useState('');
  const [size, setSize] = useState('');
  const [unit, setUnit] = useState<Unit>('GiB');
  const [note, setNote] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const show = (r: FirmwareRetention) => {
    setCurrent(r);
    setKeep(String(r.keepPerDevice));
    const s = split(r.maxBytes);
    setSize(s.size);
    setUnit(s.unit);
  };
  useEffect(() => {
    getBackend()
      .api.getFirmwareRetention({})
      .then(show)
      .catch((err) => setUnavailable(errorMessage(err)));
  }, []);

  if (unavailable) return null; // no firmware library in this mode
  if (!current) return null;
  return (
    <section className="card" aria-labelledby="set-fwlib-h" data-testid="firmware-library-settings">
      <h2 id="set-fwlib-h">Firmware library</h2>
      <form
        className="form"
        noValidate
        onSubmit={(e) => void (async () => {
          e.preventDefault();
          const problem = retentionProblem(keep, size, unit);
          if (problem) return setNote({ kind: 'error', text: `${problem} Nothing was saved.` });
          setBusy(true);
          setNote(null);
          try {
            const r = await getBackend().api.setFirmwareRetention({ keepPerDevice: Number(keep), maxBytes: Math.round(Number(size) * (unit === 'GiB' ? GIB : MIB)) });
            show(r);
            setNote({ kind: 'ok', text: 'Saved.' });
          } catch (err) {
            setNote({ kind: 'error', text: errorMessage(err) });
          } finally {
            setBusy(false);
          }
        })()}
      >
        <label className="field">
          <span>Keep the last N builds per device</span>
          <input className="input" type="number" min={FIRMWARE_KEEP_MIN} max={FIRMWARE_KEEP_MAX} step={1} value={keep} onChange={(e) => setKeep(e.target.value)} data-testid="fw-keep" />
        </label>
        <label className="field">
          <span>Total size limit</span>
          <span className="row">
            <input className="input" type="number" min={0} step="any" value={size} onChange={(e) => setSize(e.target.value)} data-testid="fw-max-size" />
            <select className="input" value={unit} onChange={(e) => setUnit(e.target.value as Unit)} data-testid="fw-max-unit" aria-label="Size unit">
              <option value="MiB">MiB</option>
              <option value="GiB">GiB</option>
            </select>
          </span>
        </label>
        <p className="muted small" data-testid="fw-used">
          In use: {sizeText(current.usedBytes)} of {sizeText(current.maxBytes)}. Pinned builds are always kept; the oldest others go first.
        </p>
        <div className="actions">
          {note ? (
            <span className={note.kind === 'ok' ? 'saved-note' : 'error-text small'} role={note.kind === 'ok' ? 'status' : 'alert'} data-testid="fw-retention-note">
              {note.text}
            </span>
          ) : null}
          <button type="submit" className="btn" disabled={busy} data-testid="save-fw-retention">
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </section>
  );
}

// On a build-server card: which ESPHome it has, whether it builds this machine's version in a
// toolchain (provisions), and a warning when a mismatch means its firmware differs from a local build.
import type { BuildServerPairing } from '../../../preload/contract';
import { useApp } from '../store/app';

export function BuildServerVersion({ p }: { p: BuildServerPairing }) {
  const local = useApp((s) => (s.env?.esphome.found ? s.env.esphome.version : ''));
  if (!p.esphomeVersion) return null;
  const differs = local !== '' && p.esphomeVersion !== local;
  return (
    <span data-testid="pairing-esphome">
      {` · ESPHome ${p.esphomeVersion}`}
      {p.autoProvision ? <span className="muted" data-testid="pairing-provisions">{differs ? ` · builds with your ESPHome ${local} (installs it there)` : ' · installs senders’ versions'}</span> : null}
      {differs && !p.autoProvision ? (
        <span className="warn-text" role="note" data-testid="pairing-version-warning">
          {` · differs from yours (${local}) and cannot install yours: firmware built there will differ from a local build`}
        </span>
      ) : null}
    </span>
  );
}

// "Starting Kiln…" while the first connection waits for the backend. The desktop window opens at
// once and its backend may need seconds (the esphome version probe, the build-server listener);
// the page's hello is answered when the backend is attached (main/electron/deferred-rpc.ts).
// Shown only after a short delay, so a normal start (tens of ms) does not flash it.
import { useEffect, useState } from 'react';
import { useApp } from '../store/app';

export const STARTING_DELAY_MS = 400;

export function StartingBanner() {
  const first = useApp((s) => s.connection.state === 'connecting' && s.connection.attempt <= 1);
  const [late, setLate] = useState(false);
  useEffect(() => {
    if (!first) {
      setLate(false);
      return;
    }
    const t = setTimeout(() => setLate(true), STARTING_DELAY_MS);
    return () => clearTimeout(t);
  }, [first]);
  if (!first || !late) return null;
  return (
    <div className="banner warn" role="status" data-testid="starting-banner">
      Starting Kiln…
    </div>
  );
}

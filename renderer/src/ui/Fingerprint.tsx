// The 7-emoji fingerprint of a pin (ui-and-users §5.3), names as hover titles and one combined
// aria-label, hex one click away. Uses the peer-link's pure fingerprint module so both sides of
// a pairing show exactly the same pictures.
import { useState } from 'react';
import { emojiFingerprint, emojiNames, groupedHex } from '../../../main/core/peer-link/fingerprint';

export function Fingerprint({ pin, testId }: { pin: string; testId?: string }) {
  const [showHex, setShowHex] = useState(false);
  if (!pin) return <span className="muted">…</span>;
  const emoji = emojiFingerprint(pin);
  return (
    <div className="fingerprint" data-testid={testId} data-pin={pin}>
      <div className="emoji-row" role="img" aria-label={emojiNames(pin)} lang="en" data-testid={testId ? `${testId}-emoji` : undefined}>
        {emoji.map((e, i) => (
          <span key={i} className="emoji" title={e.name}>
            {e.emoji}
          </span>
        ))}
      </div>
      <div className="emoji-names muted">{emojiNames(pin)}</div>
      <button type="button" className="link small" onClick={() => setShowHex(!showHex)} aria-expanded={showHex}>
        {showHex ? 'Hide hex bytes' : 'Show hex bytes'}
      </button>
      {showHex ? <code className="hex" data-testid={testId ? `${testId}-hex` : undefined}>{groupedHex(pin)}</code> : null}
    </div>
  );
}

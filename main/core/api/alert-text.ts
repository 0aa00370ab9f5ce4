// How a pairing's last error and orphan alert read in the UI (ui-and-users §5.5).

export function formatLastError(e: { reason: string; detail: string }): string {
  return e.detail ? `${e.reason}: ${e.detail}` : e.reason;
}

/** Orphan alerts stop reconnecting; the UI says why (ui-and-users §5.5). */
export function alertText(alert: 'pin_mismatch' | 'peer_revoked' | 'superseded', last: { reason: string; detail: string } | null): string {
  const why = alert === 'pin_mismatch' ? "the build server's identity changed (pin mismatch): re-pair after checking its fingerprint" : alert === 'peer_revoked' ? 'the build server removed this pairing' : 'superseded by another connection of this app';
  return last ? `${why} (${formatLastError(last)})` : why;
}

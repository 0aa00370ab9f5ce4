// Protocol constants of the peer-link (peer-link-protocol.md). Values are upstream's newest.

export const PEER_LINK_PATH = '/remote-build/peer-link';
export const PEER_LINK_DEFAULT_PORT = 6055;
/** How many ports after the default the listener tries when the default is taken. */
export const PEER_LINK_PORT_ATTEMPTS = 20;

/** Inbound cap of one session frame, ciphertext bytes, checked before decrypt (§6.1). */
export const APP_FRAME_MAX_BYTES = 61440;
/** One-shot (handshake + response) max inbound message, offloader side (§1). */
export const ONE_SHOT_MAX_BYTES = 64 * 1024;
/**
 * WebSocket-level hard cap on the listener. Larger than the protocol caps so an oversize session
 * frame is still read and answered with terminate{malformed_frame}; anything beyond this the ws
 * library drops on its own (close 1009).
 */
export const LISTENER_WS_MAX_PAYLOAD = 256 * 1024;

export const TCP_CONNECT_TIMEOUT_MS = 10_000;
export const HANDSHAKE_READ_TIMEOUT_MS = 10_000;
export const ONE_SHOT_TIMEOUT_MS = 10_000;
export const PAIR_STATUS_TIMEOUT_MS = 3_600_000;

export const HEARTBEAT_INTERVAL_MS = 30_000;
export const HEARTBEAT_DEAD_AFTER_MS = 90_000;

export const PAIRING_WINDOW_IDLE_MS = 300_000;
export const PAIRING_KEY_WINDOW_MS = 900_000;

export const RECONNECT_BASE_MS = 1_000;
export const RECONNECT_CAP_MS = 30_000;

export const LABEL_MAX_CHARS = 128;
export const VERSION_MAX_CHARS = 64;

export const INTENTS = ['preview', 'pair_request', 'pair_status', 'peer_link', 'connect_back'] as const;
export type Intent = (typeof INTENTS)[number];

export const INTENT_RESPONSES = ['ok', 'approved', 'pending', 'rejected', 'no_pairing_window'] as const;
export type IntentResponseKind = (typeof INTENT_RESPONSES)[number];

/** RejectReason (§4.5). Additive upstream: unknown values must be tolerated. */
export const REJECT_REASONS = [
  'no_approved_peer',
  'pin_mismatch',
  'pending_not_approved',
  'bad_dashboard_id',
  'bad_intent',
  'rebind_in_progress',
  'already_connected',
  'probe_failed',
  'bad_endpoint',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Wire `terminate.reason` values (§12). */
export const TERMINATE_REASONS = ['superseded', 'heartbeat_timeout', 'server_shutting_down', 'malformed_frame', 'client_stopped'] as const;
export type TerminateReason = (typeof TERMINATE_REASONS)[number];

export function isTerminateReason(value: string): value is TerminateReason {
  return (TERMINATE_REASONS as readonly string[]).includes(value);
}

export const DASHBOARD_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidDashboardId(value: unknown): value is string {
  return typeof value === 'string' && DASHBOARD_ID_PATTERN.test(value);
}

export const MDNS_SERVICE_TYPE = 'esphomebuilder';

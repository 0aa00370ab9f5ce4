// Part of the API contract (preload/contract.ts re-exports it): dependency-free types only.
import type { QueueState } from '../contract';

export interface Identity {
  /** SHA-256 of our static peer-link key, lowercase hex (the "pin"). */
  pin: string;
  dashboardId: string;
  label: string;
}

export interface BuildServerPreview {
  host: string;
  port: number;
  pin: string;
  friendlyName: string;
  esphomeVersion: string;
  requiresPairingKey: boolean;
}

export type PeerConnectionState = 'connected' | 'connecting' | 'disconnected';

/** Sender side: one paired (or pending) build server. */
export interface BuildServerPairing {
  pin: string;
  host: string;
  port: number;
  /** Local name for the server (user-chosen, else its friendly name, else host). */
  label: string;
  friendlyName: string;
  status: 'pending' | 'approved';
  enabled: boolean;
  connection: PeerConnectionState;
  /** "Last connection error: …" while disconnected; "" otherwise. */
  lastError: string;
  esphomeVersion: string;
  /** It builds this machine's ESPHome version in a toolchain of it when its own differs. */
  autoProvision: boolean;
  /** Last queue_status the server pushed, null until the first one. */
  queue: QueueState | null;
  /** ISO-8601. */
  pairedAt: string;
}

/**
 * Sender side: a build server found over mDNS (peer-link §16) that is not paired yet and is not
 * this app. Every field comes from the LAN unverified; the pin is a hint (trust comes from the
 * preview handshake and the user's confirmation).
 */
export interface DiscoveredBuildServer {
  /** mDNS instance name, unique on the link (row key). */
  instance: string;
  /** Advertised friendly name, else the instance name. */
  name: string;
  /** SRV target host (e.g. esphome-builder-ab12cd34.local). */
  host: string;
  /** The peer-link port (TXT remote_build_port). */
  port: number;
  /** Validated addresses, IPv4 first (what the Pair button connects to when present). */
  addresses: string[];
  /** "" when not advertised. */
  esphomeVersion: string;
  serverVersion: string;
  /** TXT pin_sha256, "" when not advertised. */
  pin: string;
}

/** `enabled: false` = this backend does not browse (`--no-mdns`, `KILN_MDNS=0`, no peer-link). */
export interface DiscoveredBuildServers {
  enabled: boolean;
  servers: DiscoveredBuildServer[];
}

export interface PairRequestResult {
  status: 'approved' | 'pending';
  pairing: BuildServerPairing;
}

/** Build-server side: a request waiting in the inbox. */
export interface PendingPairRequest {
  dashboardId: string;
  pin: string;
  label: string;
  peerIp: string;
  /** ISO-8601. */
  requestedAt: string;
}

/** Build-server side: an approved sender. */
export interface PairedSender {
  dashboardId: string;
  pin: string;
  label: string;
  peerIp: string;
  pairedAt: string;
  connected: boolean;
}

export interface PairingWindowState {
  open: boolean;
  expiresInSeconds: number;
}

export interface BuildServerRoleState {
  enabled: boolean;
  /** Listener bound ("Listener active"); false with enabled = "Listener offline". */
  listening: boolean;
  port: number | null;
  listenError: string;
  identity: Identity;
  window: PairingWindowState;
  pending: PendingPairRequest[];
  senders: PairedSender[];
  queue: QueueState;
}

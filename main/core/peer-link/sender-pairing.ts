// Offloader pairing flow (peer-link-protocol.md §5.4, ui-and-users.md §5.2): preview → the user
// confirms the fingerprint → pair_request (pin re-checked: TOCTOU guard) → approved, or pending
// with a pair_status long-poll in the background. Errors are ApiErrors worded for the UI.
import { ApiError } from '../errors';
import type { EventBus } from '../events';
import { PAIR_STATUS_TIMEOUT_MS, RECONNECT_BASE_MS, RECONNECT_CAP_MS } from './constants';
import { pairRequest, pairStatus, preview, type OneShotOptions } from './client';
import { PeerLinkPinMismatchError, PeerLinkTimeoutError } from './errors';
import { emojiFingerprint, groupedHex, isPin, type PinEmoji } from './fingerprint';
import type { PeerLinkIdentity } from './identity';
import type { IntentResponse } from './intents';
import type { PairingStore, StoredPairing } from './pairing-store';
import { backoffDelay } from './client-manager';

export interface PreviewInfo {
  host: string;
  port: number;
  pin: string;
  emoji: PinEmoji[];
  hex: string;
  friendly_name: string;
  esphome_version: string;
  requires_pairing_key: boolean;
}

export interface SendPairRequestArgs {
  host: string;
  port: number;
  /** The pin the user confirmed after preview. */
  previewedPin: string;
  /** Local name for the receiver (stored on the pairing). */
  receiverLabel: string;
  /** How this sender introduces itself to the build server. */
  label: string;
  labelAuto?: boolean;
  pairingKey?: string;
}

export interface OffloaderPairingOptions {
  identity: PeerLinkIdentity;
  store: PairingStore;
  bus: EventBus;
  friendlyName?: () => string;
  /** Per one-shot call (tests shorten these). */
  timeoutMs?: number;
  pairStatusTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  retryBaseMs?: number;
  retryCapMs?: number;
  prologue?: Uint8Array;
  debug?: (msg: string) => void;
}

export const FINGERPRINT_CHANGED_MESSAGE =
  "The receiver's fingerprint changed since you confirmed it. Someone may be impersonating it, or it was reset; check it again before pairing.";

/**
 * Plain words for why a build server could not be reached (issue 16): what the user can check,
 * never the ws:// URL or the errno; the raw reason stays in `data.detail` for logs and support.
 */
export function unreachableMessage(host: string, port: number, raw: string): string {
  const at = `${host}:${port}`;
  if (/ECONNREFUSED/.test(raw)) return `Nothing is listening at ${at} — is the build server running?`;
  const http = /answered HTTP (\d+) instead of a WebSocket upgrade/.exec(raw);
  if (http) return `${at} is a web page (such as a Kiln window), not a build-server port. The build-server port is usually 6055.`;
  if (/ENOTFOUND|EAI_AGAIN|EAI_NONAME/.test(raw)) return `No computer called "${host}" was found on the network — check the name, or use its IP address.`;
  if (/EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|timed? ?out|did not answer|in time/i.test(raw)) return `${at} did not answer — check the address and that the build server is on this network.`;
  if (/ECONNRESET|closed the connection|handshake failed|text frame/i.test(raw)) return `${at} answered, but not as a build server — check the port (usually 6055).`;
  return `Could not connect to ${at} — check the address and that the build server is running.`;
}

function unreachable(host: string, port: number, err: Error): ApiError {
  return new ApiError('unavailable', unreachableMessage(host, port, err.message), { detail: err.message });
}

export const PAIRING_KEY_REJECTED_MESSAGE = 'Pairing key rejected — check the key shown by the build server.';
export const NO_PAIRING_WINDOW_MESSAGE =
  "The build server isn't accepting pair requests right now. On the build server, open Build servers → This computer as a build server and click Open pairing window.";

function validateTarget(host: string, port: number): void {
  if (typeof host !== 'string' || host.trim() === '' || host.length > 255) throw new ApiError('invalid_args', 'Enter the build server\'s host name or IP address');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ApiError('invalid_args', 'Port must be a number between 1 and 65535');
}

export class OffloaderPairingFlow {
  private readonly polls = new Map<string, AbortController>();

  constructor(private readonly o: OffloaderPairingOptions) {}

  private oneShot(timeoutMs?: number, signal?: AbortSignal): OneShotOptions {
    return { identity: this.o.identity, timeoutMs, handshakeTimeoutMs: this.o.handshakeTimeoutMs, prologue: this.o.prologue, signal };
  }

  /** Step 1: handshake `preview` and return the receiver's fingerprint for confirmation. */
  async preview(host: string, port: number): Promise<PreviewInfo> {
    validateTarget(host, port);
    let r;
    try {
      r = await preview(host.trim(), port, this.oneShot(this.o.timeoutMs));
    } catch (err) {
      throw unreachable(host, port, err as Error);
    }
    if (r.pin === this.o.identity.pin) throw new ApiError('invalid_args', `${host}:${port} is this app's own build server`);
    return {
      host: host.trim(),
      port,
      pin: r.pin,
      emoji: emojiFingerprint(r.pin),
      hex: groupedHex(r.pin),
      friendly_name: r.response.friendly_name,
      esphome_version: r.response.esphome_version,
      requires_pairing_key: r.response.requires_pairing_key === true,
    };
  }

  /**
   * Step 2: send the pair request. `approved` stores the pairing at once (the client manager
   * connects); `pending` stores a RAM-only pending row and starts the pair_status long-poll,
   * whose outcome arrives as `pairings_changed` (approved / declined).
   */
  async request(args: SendPairRequestArgs): Promise<{ status: 'approved' | 'pending'; pairing: StoredPairing }> {
    validateTarget(args.host, args.port);
    if (!isPin(args.previewedPin)) throw new ApiError('invalid_args', 'previewedPin is not a pin_sha256');
    let response: IntentResponse;
    let staticKey: Buffer;
    try {
      ({ response, staticKey } = await pairRequest(
        args.host,
        args.port,
        {
          expectedPin: args.previewedPin,
          dashboardId: this.o.store.dashboardId,
          label: args.label,
          labelAuto: args.labelAuto,
          pairingKey: args.pairingKey,
          friendlyName: this.o.friendlyName?.(),
        },
        this.oneShot(this.o.timeoutMs),
      ));
    } catch (err) {
      if (err instanceof PeerLinkPinMismatchError) throw new ApiError('precondition_failed', FINGERPRINT_CHANGED_MESSAGE, { expected_pin: err.expectedPin, observed_pin: err.observedPin });
      throw unreachable(args.host, args.port, err as Error);
    }
    const row = (status: 'approved' | 'pending'): StoredPairing => ({
      receiver_hostname: args.host,
      receiver_port: args.port,
      pin_sha256: args.previewedPin,
      static_x25519_pub: staticKey,
      label: args.receiverLabel.trim().slice(0, 128) || response.friendly_name || args.host,
      paired_at: Date.now() / 1000,
      status,
      esphome_version: response.esphome_version,
      enabled: true,
    });
    switch (response.intent_response) {
      case 'approved': {
        const pairing = await this.store(row('approved'));
        return { status: 'approved', pairing };
      }
      case 'pending': {
        const pairing = await this.store(row('pending'));
        this.startPoll(pairing);
        return { status: 'pending', pairing };
      }
      case 'no_pairing_window':
        // A build server in pairing-key mode answers a wrong key the same way (so a refused source
        // and a wrong key look alike on the wire); we sent a key, so the key is what to check.
        if (args.pairingKey) throw new ApiError('no_pairing_window', PAIRING_KEY_REJECTED_MESSAGE, { reason: 'pairing_key' });
        throw new ApiError('no_pairing_window', NO_PAIRING_WINDOW_MESSAGE);
      default:
        throw new ApiError('invalid_args', `The build server refused the pair request (${response.reason ?? response.intent_response})`);
    }
  }

  /** Stops waiting for a pending request and forgets it. */
  async cancel(pin: string): Promise<void> {
    this.polls.get(pin)?.abort();
    this.polls.delete(pin);
    if (this.o.store.get(pin)?.status === 'pending') await this.o.store.remove(pin);
  }

  /** Stops every background poll (shutdown); pending rows are RAM-only and simply vanish. */
  stop(): void {
    for (const c of this.polls.values()) c.abort();
    this.polls.clear();
  }

  private async store(p: StoredPairing): Promise<StoredPairing> {
    await this.o.store.put(p);
    return this.o.store.get(p.pin_sha256)!;
  }

  private startPoll(pairing: StoredPairing): void {
    this.polls.get(pairing.pin_sha256)?.abort();
    const ctl = new AbortController();
    this.polls.set(pairing.pin_sha256, ctl);
    void this.poll(pairing, ctl).finally(() => {
      if (this.polls.get(pairing.pin_sha256) === ctl) this.polls.delete(pairing.pin_sha256);
    });
  }

  private async poll(pairing: StoredPairing, ctl: AbortController): Promise<void> {
    const pin = pairing.pin_sha256;
    let failures = 0;
    const deadline = Date.now() + (this.o.pairStatusTimeoutMs ?? PAIR_STATUS_TIMEOUT_MS);
    while (!ctl.signal.aborted) {
      let response: IntentResponse;
      try {
        ({ response } = await pairStatus(
          pairing.receiver_hostname,
          pairing.receiver_port,
          { expectedPin: pin, dashboardId: this.o.store.dashboardId },
          this.oneShot(Math.max(1, deadline - Date.now()), ctl.signal),
        ));
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (err instanceof PeerLinkPinMismatchError || err instanceof PeerLinkTimeoutError || Date.now() >= deadline) {
          await this.decline(pin, err instanceof PeerLinkPinMismatchError ? 'fingerprint_changed' : 'expired');
          return;
        }
        // Receiver restarting or unreachable: try again (its PENDING row is RAM-only, so a
        // restarted receiver answers rejected and this ends).
        failures += 1;
        await new Promise((r) => setTimeout(r, backoffDelay(failures, this.o.retryBaseMs ?? RECONNECT_BASE_MS, this.o.retryCapMs ?? RECONNECT_CAP_MS)));
        continue;
      }
      if (ctl.signal.aborted) return;
      if (response.intent_response === 'approved') {
        const current = this.o.store.get(pin);
        if (current?.status === 'pending') await this.o.store.put({ ...current, status: 'approved', esphome_version: response.esphome_version || current.esphome_version });
        return;
      }
      if (response.intent_response === 'pending') continue;
      await this.decline(pin, response.reason ?? response.intent_response);
      return;
    }
  }

  private async decline(pin: string, why: string): Promise<void> {
    if (this.o.store.get(pin)?.status === 'pending') {
      await this.o.store.remove(pin);
      this.o.bus.emit('pairings_changed', { pin, change: 'declined' });
      this.o.debug?.(`pair request to ${pin.slice(0, 8)} declined: ${why}`);
    }
  }
}

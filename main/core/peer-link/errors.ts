// Typed errors of the peer-link. Messages are written for people: the UI shows them as-is.

export class PeerLinkError extends Error {
  override name = 'PeerLinkError';
}

/** Could not reach the receiver (DNS, TCP, WebSocket upgrade). */
export class PeerLinkConnectError extends PeerLinkError {
  override name = 'PeerLinkConnectError';
}

export class PeerLinkTimeoutError extends PeerLinkError {
  override name = 'PeerLinkTimeoutError';
}

/** The handshake or the response broke the protocol (bad tag, bad JSON, early close…). */
export class PeerLinkProtocolError extends PeerLinkError {
  override name = 'PeerLinkProtocolError';
}

/** The responder's static key is not the one we pinned (checked right after msg2). */
export class PeerLinkPinMismatchError extends PeerLinkError {
  override name = 'PeerLinkPinMismatchError';
  constructor(
    readonly expectedPin: string,
    readonly observedPin: string,
    message = `The receiver's identity changed: expected fingerprint ${expectedPin.slice(0, 16)}…, observed ${observedPin.slice(0, 16)}…`,
  ) {
    super(message);
  }
}

/** getSession(pin) when no session with that build server is open. */
export class PeerLinkNoSessionError extends PeerLinkError {
  override name = 'PeerLinkNoSessionError';
  constructor(
    readonly pin: string,
    detail: string,
  ) {
    super(`No open peer-link session with build server ${pin.slice(0, 16)}…: ${detail}`);
  }
}

/** send() on a session that has ended; pending requests fail with this. */
export class PeerLinkSessionClosedError extends PeerLinkError {
  override name = 'PeerLinkSessionClosedError';
  constructor(
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`peer-link session closed (${reason}${detail ? `: ${detail}` : ''})`);
  }
}

/** An outgoing frame whose ciphertext would exceed the 61440-byte cap. */
export class PeerLinkFrameTooLargeError extends PeerLinkError {
  override name = 'PeerLinkFrameTooLargeError';
}

/** The receiver hung up right after msg3 without a response: it did not accept our identity. */
export class PeerLinkAuthRejectedError extends PeerLinkProtocolError {
  override name = 'PeerLinkAuthRejectedError';
}

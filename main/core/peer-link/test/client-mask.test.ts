// RFC 6455 §5.3: every frame a client sends is masked with a fresh, unpredictable 32-bit key.
// Read off the wire: a plain ws server taps the raw TCP bytes of the client's handshake frames.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { waitUntil } from '../../../../test/support/wait-until';
import { dialIntent } from '../client';
import { identityFromPrivateKey } from '../identity';
import { must } from '../../../../test/support/must';

let server: WebSocketServer;
const masks: Buffer[] = [];

/** The masking key of each client frame in `raw` (RFC 6455 §5.2 framing). */
function frameMasks(raw: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 2 <= raw.length) {
    const masked = (must(raw[at + 1]) & 0x80) !== 0;
    let len = must(raw[at + 1]) & 0x7f;
    let head = 2;
    if (len === 126) {
      len = raw.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      len = Number(raw.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (!masked) {
      out.push(Buffer.alloc(0));
      at += head + len;
      continue;
    }
    out.push(Buffer.from(raw.subarray(at + head, at + head + 4)));
    at += head + 4 + len;
  }
  return out;
}

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws, req) => {
    // The first data after the upgrade is the client's Noise msg1 frame; answer nothing and close.
    req.socket.once('data', (chunk: Buffer) => {
      masks.push(...frameMasks(chunk));
      ws.terminate();
    });
  });
  await new Promise((r) => server.once('listening', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('peer-link client WebSocket masking', () => {
  it('masks every frame with a non-zero key that changes from frame to frame', async () => {
    const { port } = server.address() as AddressInfo;
    const identity = identityFromPrivateKey(randomBytes(32));
    for (let i = 0; i < 4; i++) {
      await dialIntent({ host: '127.0.0.1', port, identity, intent: 'preview', handshakeTimeoutMs: 2000 }).catch(() => undefined);
    }
    await waitUntil(() => masks.length >= 4, { what: 'four client frames' });
    for (const m of masks) {
      expect(m.length, 'frame sent unmasked').toBe(4);
      expect(m.equals(Buffer.alloc(4)), 'all-zero masking key').toBe(false);
    }
    expect(new Set(masks.map((m) => m.toString('hex'))).size).toBe(masks.length);
  });
});

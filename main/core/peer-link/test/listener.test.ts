// Listener transport rules (peer-link-protocol.md §1, §18): path, headers, port fall-forward and
// handshake-stage misbehaviour that must end the connection with nothing recorded.
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EventBus } from '../../events';
import { PEER_LINK_PATH } from '../constants';
import { HandshakeState } from '../noise';
import { startPeerLinkListener } from '../listener';
import { captureEvents, newIdentity, startReceiver, type BuildServerFixture } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(over: Parameters<typeof startReceiver>[0] = {}): Promise<BuildServerFixture> {
  const rx = await startReceiver(over);
  cleanups.push(() => rx.stop());
  return rx;
}

function connect(port: number, path = PEER_LINK_PATH): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function closedWithin(ws: WebSocket, ms: number): Promise<{ code: number; after: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('not closed in time')), ms);
    ws.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, after: Date.now() - t0 });
    });
  });
}

describe('peer-link listener', () => {
  it('answers plain HTTP and other paths with 404 and no Server header', async () => {
    const rx = await receiver();
    const res = await new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: rx.port, path: '/' }, (r) => {
        r.resume();
        resolve({ status: r.statusCode!, headers: r.headers });
      })
        .on('error', reject)
        .end();
    });
    expect(res.status).toBe(404);
    expect(res.headers.server).toBeUndefined();
    await expect(connect(rx.port, '/other')).rejects.toThrow(/404/);
    // The upgrade response itself carries no Server header either.
    const ws = new WebSocket(`ws://127.0.0.1:${rx.port}${PEER_LINK_PATH}`);
    const upgradeHeaders = await new Promise<Record<string, unknown>>((resolve) => ws.once('upgrade', (r) => resolve(r.headers)));
    expect(upgradeHeaders.server).toBeUndefined();
    ws.terminate();
  });

  it('falls forward to the next free port when the requested one is taken and reports the bound port', async () => {
    const blockers: Server[] = [];
    cleanups.push(() => Promise.all(blockers.map((b) => new Promise<void>((r) => b.close(() => r())))).then(() => undefined));
    // Find a port p where p is free to take for the blocker.
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    blockers.push(blocker);
    const taken = (blocker.address() as { port: number }).port;
    const rx = await receiver({ port: taken, portAttempts: 20 });
    expect(rx.port).toBeGreaterThan(taken);
    expect(rx.port).toBeLessThan(taken + 20);
    const ws = await connect(rx.port);
    ws.terminate();
    // With a single attempt allowed, a taken port is an error.
    await expect(startPeerLinkListener({ identity: newIdentity(), pairing: rx.pairing, bus: new EventBus(), host: '127.0.0.1', port: taken, portAttempts: 1, esphomeVersion: () => '' })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  describe('handshake-stage misbehaviour closes the connection, nothing recorded', () => {
    const misbehaviours: Array<[string, (ws: WebSocket) => void]> = [
      ['text frame as msg1', (ws) => ws.send('{"intent":"preview"}')],
      ['garbage shorter than an ephemeral key', (ws) => ws.send(Buffer.from('hello'))],
      ['oversize msg1 (70 KiB)', (ws) => ws.send(Buffer.alloc(70 * 1024, 3))],
      ['nothing at all (read timeout)', () => undefined],
      [
        'truncated handshake: msg1 then silence',
        (ws) => {
          const hs = new HandshakeState({ initiator: true, staticKeyPair: newIdentity() });
          ws.send(hs.writeMessage(Buffer.from('{"intent":"pair_request"}')));
        },
      ],
      [
        'msg3 that fails authentication',
        (ws) => {
          const hs = new HandshakeState({ initiator: true, staticKeyPair: newIdentity() });
          ws.send(hs.writeMessage(Buffer.from('{"intent":"pair_request"}')));
          ws.once('message', () => ws.send(Buffer.alloc(120, 9)));
        },
      ],
      [
        'text frame as msg3',
        (ws) => {
          const hs = new HandshakeState({ initiator: true, staticKeyPair: newIdentity() });
          ws.send(hs.writeMessage(Buffer.from('{"intent":"pair_request"}')));
          ws.once('message', () => ws.send('{"dashboard_id":"x"}'));
        },
      ],
    ];
    for (const [name, act] of misbehaviours) {
      it(name, async () => {
        const rx = await receiver({ handshakeTimeoutMs: 150 });
        rx.pairing.openWindow('ui');
        const events = captureEvents(rx.bus, ['pair_request_received', 'pair_status_changed', 'receiver_session_opened']);
        const ws = await connect(rx.port);
        const closed = closedWithin(ws, 2000);
        act(ws);
        const { after } = await closed;
        if (name.includes('timeout') || name.includes('silence')) expect(after).toBeGreaterThanOrEqual(140);
        expect(events).toEqual([]);
        expect(rx.pairing.pending()).toEqual([]);
        expect(rx.listener.sessions.size).toBe(0);
      });
    }
  });

  it('one misbehaving connection does not disturb another handshake in progress', async () => {
    const rx = await receiver({ handshakeTimeoutMs: 300 });
    const bad = await connect(rx.port);
    bad.send('text!');
    const { preview } = await import('../client');
    const r = await preview('127.0.0.1', rx.port, { identity: newIdentity() });
    expect(r.response.intent_response).toBe('ok');
    await waitUntil(() => bad.readyState === WebSocket.CLOSED);
  });
});

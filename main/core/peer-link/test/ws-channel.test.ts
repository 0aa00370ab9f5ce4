import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { WsChannel } from '../ws-channel';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

describe('WsChannel sends', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  async function pair(): Promise<{ client: WsChannel; server: WsChannel }> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const serverWs = new Promise<WebSocket>((r) => wss.once('connection', (ws) => r(ws)));
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    const server = new WsChannel(await serverWs);
    cleanups.push(() => {
      ws.terminate();
      wss.close();
    });
    return { client: new WsChannel(ws), server };
  }

  it('a burst sent in one tick (socket corked until the next tick) arrives as separate messages, in order, byte-exact', async () => {
    const { client, server } = await pair();
    const got: Buffer[] = [];
    server.attach({ onFrame: (f) => got.push(f.data), onClose: () => undefined });
    const frames = Array.from({ length: 600 }, (_, i) => randomBytes(1 + ((i * 37) % 300)));
    const sends = frames.map((f) => client.send(f));
    await Promise.all(sends);
    await waitUntil(() => got.length === frames.length, { timeoutMs: 5000, what: 'all frames' });
    got.forEach((g, i) => expect(g.equals(must(frames[i])), `frame ${i}`).toBe(true));
  });

  it('both directions, interleaved bursts and awaited sends', async () => {
    const { client, server } = await pair();
    const atServer: Buffer[] = [];
    const atClient: Buffer[] = [];
    server.attach({ onFrame: (f) => atServer.push(f.data), onClose: () => undefined });
    client.attach({ onFrame: (f) => atClient.push(f.data), onClose: () => undefined });
    const expected: string[] = [];
    for (let round = 0; round < 20; round++) {
      const burst: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) {
        const tag = `${round}.${i}`;
        expected.push(tag);
        burst.push(client.send(Buffer.from(tag)), server.send(Buffer.from(tag)));
      }
      await Promise.all(burst);
    }
    await waitUntil(() => atServer.length === expected.length && atClient.length === expected.length, { timeoutMs: 5000, what: 'both sides' });
    expect(atServer.map(String)).toEqual(expected);
    expect(atClient.map(String)).toEqual(expected);
  });

  it('rejects once the connection is closed', async () => {
    const { client } = await pair();
    client.terminate();
    await waitUntil(() => client.isClosed, { timeoutMs: 2000, what: 'closed' });
    await expect(client.send(Buffer.from('x'))).rejects.toThrow(/not open/);
  });
});

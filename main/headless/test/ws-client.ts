// Node test client for /rpc: the renderer's RpcClient over a `ws` socket.
import WebSocket from 'ws';
import { RpcClient, type ClientChannel } from '../../../renderer/src/backend/rpc-client';

export interface OpenedClient {
  ws: WebSocket;
  client: RpcClient;
  closed: Promise<{ code: number; reason: string }>;
  raw: unknown[];
}

export function openClient(url: string, headers: Record<string, string> = {}): Promise<OpenedClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const raw: unknown[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (d) => raw.push(JSON.parse(d.toString())));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('open', () => {
      const channel: ClientChannel = {
        send: (m) => ws.send(JSON.stringify(m)),
        onMessage: (fn) => {
          const h = (d: WebSocket.RawData) => fn(JSON.parse(d.toString()));
          ws.on('message', h);
          return () => ws.off('message', h);
        },
        onClose: (fn) => {
          const h = (code: number, reason: Buffer) => fn({ code, reason: reason.toString() });
          ws.on('close', h);
          return () => ws.off('close', h);
        },
        close: () => ws.close(),
      };
      resolve({ ws, client: new RpcClient(channel), closed, raw });
    });
  });
}

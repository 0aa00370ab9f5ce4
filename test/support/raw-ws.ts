// A raw TCP WebSocket client for hostile-input tests: does the HTTP upgrade by hand and then
// writes any bytes, including frames no well-behaved library would produce (invalid UTF-8 text,
// reserved opcodes, unmasked client frames, lengths over the server's maxPayload).
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { must } from './must';

export interface RawWs {
  socket: Socket;
  /** Everything the server sent after the upgrade response. */
  received: Buffer[];
  closed: Promise<void>;
}

/** Opens `path` on 127.0.0.1:port with a hand-written upgrade; resolves after the 101. */
export function rawUpgrade(port: number, path = '/rpc', extraHeaders: Record<string, string> = {}): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return void received.push(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = head.subarray(0, head.indexOf('\r\n')).toString();
      if (!status.includes(' 101 ')) return reject(new Error(`upgrade refused: ${status}`));
      upgraded = true;
      if (head.length > end + 4) received.push(head.subarray(end + 4));
      resolve({ socket, received, closed });
    });
    socket.once('close', () => {
      if (!upgraded) reject(new Error('closed before upgrade'));
    });
    const headers = {
      Host: `127.0.0.1:${port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      'Sec-WebSocket-Version': '13',
      ...extraHeaders,
    };
    socket.write(`GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
  });
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer;
  /** Client frames must be masked; false writes an unmasked one. Default true. */
  mask?: boolean;
  fin?: boolean;
  rsv?: number;
  /** Announced length (default payload.length); larger than the payload sends a truncated frame. */
  length?: number;
}

/** One WebSocket frame as bytes, exactly as specified (valid or not). */
export function frame(spec: FrameSpec): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  const len = spec.length ?? payload.length;
  const mask = spec.mask ?? true;
  const b0 = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | (spec.opcode & 0x0f);
  const parts: Buffer[] = [];
  if (len < 126) parts.push(Buffer.from([b0, (mask ? 0x80 : 0) | len]));
  else if (len < 65536) {
    const h = Buffer.alloc(4);
    h[0] = b0;
    h[1] = (mask ? 0x80 : 0) | 126;
    h.writeUInt16BE(len, 2);
    parts.push(h);
  } else {
    const h = Buffer.alloc(10);
    h[0] = b0;
    h[1] = (mask ? 0x80 : 0) | 127;
    h.writeBigUInt64BE(BigInt(len), 2);
    parts.push(h);
  }
  if (mask) {
    const key = randomBytes(4);
    const masked = Buffer.from(payload);
    for (const [i, b] of masked.entries()) masked[i] = b ^ must(key[i & 3]);
    parts.push(key, masked);
  } else parts.push(payload);
  return Buffer.concat(parts);
}

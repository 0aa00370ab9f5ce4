// Issue 11 defect 1: a real `kiln serve` child must survive malformed WebSocket frames sent to
// /rpc before authentication (and after), and keep serving other clients. Before the fix the
// first of these killed the process ("Invalid WebSocket frame" with no 'error' listener).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../../preload/contract';
import { SIM_CMD, spawnKiln, type KilnChild } from '../../../test/e2e-remote/helpers';
import { frame, rawUpgrade } from '../../../test/support/raw-ws';
import { waitUntil } from '../../../test/support/wait-until';
import { openClient } from './ws-client';
import { must } from '../../../test/support/must';

let child: KilnChild;
let port = 0;
let token = '';
const dirs: string[] = [];

beforeAll(async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'kiln-serve-frames-'));
  dirs.push(configDir);
  child = spawnKiln(['serve', '--config-dir', configDir, '--port', '0', '--no-mdns', '--esphome', SIM_CMD], { ESPHOME_SIM_SPEED: '0' });
  const line = await waitUntil(() => child.out.find((l) => l.startsWith('KILN_SERVE_URL=')), { timeoutMs: 60_000, what: () => `kiln serve ready:\n${child.text()}` });
  const url = new URL(line.slice('KILN_SERVE_URL='.length));
  port = Number(url.port);
  token = url.hash.slice('#token='.length);
}, 90_000);

afterAll(async () => {
  if (child && child.proc.exitCode === null) {
    child.proc.kill('SIGTERM');
    await child.exit;
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function stillServes(): Promise<void> {
  expect(child.proc.exitCode, child.text()).toBeNull();
  const c = await openClient(`ws://127.0.0.1:${port}/rpc`);
  const hello = (await c.client.call('hello', { protocol: PROTOCOL_VERSION, token })) as { protocol: number };
  expect(hello.protocol).toBe(PROTOCOL_VERSION);
  c.ws.close();
}

const HOSTILE: Array<[string, Buffer]> = [
  ['a text frame with invalid UTF-8', frame({ opcode: 1, payload: Buffer.from([0x7b, 0xff, 0xfe, 0xfd]) })],
  ['a reserved opcode (0x3)', frame({ opcode: 3, payload: Buffer.from('x') })],
  ['a reserved control opcode (0xB)', frame({ opcode: 0xb })],
  ['a frame announcing more than maxPayload', frame({ opcode: 2, length: 64 * 1024 * 1024, payload: Buffer.alloc(16) })],
  ['an unmasked client frame', frame({ opcode: 1, mask: false, payload: Buffer.from('{"t":"req"}') })],
  ['RSV bits set without an extension', frame({ opcode: 1, rsv: 7, payload: Buffer.from('{}') })],
  ['a fragmented control frame', frame({ opcode: 9, fin: false })],
  ['a close frame with an invalid code', frame({ opcode: 8, payload: Buffer.from([0x03, 0xe7]) })],
];

describe('kiln serve survives malformed frames on /rpc (issue 11 defect 1)', () => {
  for (const [what, bytes] of HOSTILE) {
    it(`before authentication: ${what}`, async () => {
      const raw = await rawUpgrade(port);
      raw.socket.write(bytes);
      await raw.closed; // the server drops that connection only
      await stillServes();
    }, 30_000);
  }

  it('after authentication: invalid UTF-8 and a reserved opcode on an authenticated socket', async () => {
    for (const bad of [must(HOSTILE[0])[1], must(HOSTILE[1])[1]]) {
      const raw = await rawUpgrade(port);
      raw.socket.write(frame({ opcode: 1, payload: Buffer.from(JSON.stringify({ t: 'req', id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION, token } })) }));
      await waitUntil(() => Buffer.concat(raw.received).includes('"ok":true'), { what: 'hello answer' });
      raw.socket.write(bad);
      await raw.closed;
      await stillServes();
    }
  }, 30_000);

  it('a client that resets the TCP connection mid-frame', async () => {
    const raw = await rawUpgrade(port);
    raw.socket.write(frame({ opcode: 1, length: 1000, payload: Buffer.from('{"t":') }));
    raw.socket.resetAndDestroy();
    await raw.closed;
    await stillServes();
  }, 30_000);

  it('plain HTTP garbage on the listener', async () => {
        const s = connect(port, '127.0.0.1');
    const closed = new Promise((r) => s.once('close', r));
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('error', () => undefined);
    await new Promise((r, j) => {
      s.once('connect', r);
      s.once('error', j);
    });
    s.write('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n');
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    await stillServes();
  }, 30_000);
});

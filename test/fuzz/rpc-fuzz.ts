// Fuzzer for the RPC server of a running `kiln serve` (pre- and post-authentication): random,
// malformed, wrong-typed and valid-but-hostile requests over real WebSockets, plus malformed
// WebSocket frames over raw TCP. Seeded: input #i is generated from (seed, i) alone.
//
// Outcome per input: a crash is the server process gone or the control session (a separate,
// authenticated client asking getJobs throughout) no longer answered. A request with a usable id
// on an authenticated connection must get exactly one answer; otherwise the server may close
// that connection (which counts as handled, not as a crash).
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../preload/contract';
import { schemas } from '../../main/core/api/schemas';
import { frame, rawUpgrade } from '../support/raw-ws';
import { Rng } from './prng';
import { nastyString, nastyValue } from './values';

export interface RpcFuzzOptions {
  port: number;
  token: string;
  seed: number;
  count: number;
  /** Is the server still alive (e.g. the child has not exited)? */
  alive: () => boolean;
  log?: (line: string) => void;
}

export interface RpcFuzzStats {
  seed: number;
  inputs: number;
  preAuth: number;
  postAuth: number;
  rawFrames: number;
  answered: number;
  unanswered: number;
  connections: number;
  closedByServer: number;
  controlCalls: number;
  crashes: number;
  firstFailure: string | null;
  ms: number;
}

const METHODS = Object.keys(schemas);
const KEY_POOL = ['configuration', 'jobId', 'port', 'pin', 'enabled', 'name', 'content', 'overwrite', 'tail', 'before', 'max', 'status', 'host', 'label', 'key', 'dashboardId', 'forceLocal', 'bootloader', 'protocol', 'token', 'client', 'esphomeCommand', 'notifications', 'configDir', 'remoteBuildsEnabled', 'includeLocalInPool', 'versionPolicy', 'pairingKey'];

function params(r: Rng): unknown {
  switch (r.int(6)) {
    case 0:
      return undefined;
    case 1:
      return {};
    case 2:
      return nastyValue(r);
    default: {
      // Near-valid: known keys with values of the right or a wrong type.
      const o: Record<string, unknown> = {};
      for (let i = 1 + r.int(3); i > 0; i--) {
        const k = r.pick(KEY_POOL);
        o[k] = r.bool(0.5)
          ? nastyValue(r)
          : k === 'content'
            ? `esphome:\n  name: ${nastyString(r).replace(/[^a-z0-9-]/gi, '') || 'x'}\n${r.bool(0.2) ? '[' .repeat(r.int(200)) : ''}`
            : ['tail', 'before', 'max', 'port'].includes(k) && r.bool()
              ? r.int(300000) - 100
              : nastyString(r);
      }
      return o;
    }
  }
}

/** One generated text/binary message for the RPC channel. */
function message(r: Rng, authed: boolean, token: string): { data: string | Buffer; binary: boolean; id: number | null } {
  const k = r.int(20);
  if (k === 0) return { data: r.bytes(r.int(64)), binary: true, id: null };
  if (k === 1) return { data: r.bytes(r.int(64)).toString('utf8'), binary: false, id: null };
  if (k === 2) return { data: JSON.stringify(nastyValue(r)), binary: false, id: null };
  if (k === 3) return { data: '{"t":"req","id":1,"method":"getJobs","params":' + '['.repeat(r.int(5000)), binary: false, id: null };
  if (k === 4 && !authed) {
    const bad = { protocol: r.bool() ? PROTOCOL_VERSION : r.int(5), token: r.bool(0.3) ? token.slice(0, r.int(token.length)) : nastyString(r) };
    return { data: JSON.stringify({ t: 'req', id: 1, method: 'hello', params: bad }), binary: false, id: null };
  }
  const id = r.bool(0.9) ? 1 + r.int(1_000_000) : (r.pick([-1, 0.5, 2 ** 60, '7', null]) as number);
  const method = r.bool(0.85) ? r.pick(METHODS) : nastyString(r);
  const msg: Record<string, unknown> = { t: r.bool(0.97) ? 'req' : nastyString(r), id, method, params: params(r) };
  if (r.bool(0.05)) msg[r.pick(['__proto__', 'extra', 'constructor'])] = nastyValue(r);
  // Never replay the real hello with the right token after auth: that path is the control's.
  if (method === 'hello' && authed) msg.params = { protocol: PROTOCOL_VERSION, token };
  const answerable = authed && msg.t === 'req' && Number.isSafeInteger(id) && typeof method === 'string';
  return { data: JSON.stringify(msg), binary: false, id: answerable ? (id) : null };
}

/** One malformed frame (after the upgrade) for the raw-TCP part. */
function badFrame(r: Rng): Buffer {
  switch (r.int(9)) {
    case 0:
      return frame({ opcode: 1, payload: Buffer.concat([Buffer.from('{"t":"req"'), Buffer.from([0xc0 + r.int(64), r.int(128)])]) });
    case 1:
      return frame({ opcode: r.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: r.bytes(r.int(20)) });
    case 2:
      return frame({ opcode: r.pick([1, 2]), length: 4 * 1024 * 1024 + 1 + r.int(1 << 30), payload: r.bytes(8) });
    case 3:
      return frame({ opcode: 1, mask: false, payload: Buffer.from('{"t":"req","id":1,"method":"hello","params":{}}') });
    case 4:
      return frame({ opcode: 1, rsv: 1 + r.int(7), payload: r.bytes(r.int(20)) });
    case 5:
      return frame({ opcode: r.pick([8, 9, 10]), fin: false, payload: r.bytes(r.int(10)) });
    case 6:
      return frame({ opcode: 9, payload: r.bytes(126 + r.int(100)) }); // control frame > 125 bytes
    case 7:
      return frame({ opcode: 0, payload: r.bytes(r.int(20)) }); // continuation without a start
    default:
      return r.bytes(1 + r.int(200)); // bytes that are not a frame at all
  }
}

interface Conn {
  ws: WebSocket;
  pending: Map<number, number>;
  closed: boolean;
}

function connect(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc`, { maxPayload: 64 * 1024 * 1024 });
    const c: Conn = { ws, pending: new Map(), closed: false };
    ws.on('message', (d) => {
      let m: { t?: string; id?: number };
      try {
        m = JSON.parse(d.toString());
      } catch {
        return;
      }
      if (m.t === 'res' && typeof m.id === 'number') {
        const n = c.pending.get(m.id) ?? 0;
        if (n <= 1) c.pending.delete(m.id);
        else c.pending.set(m.id, n - 1);
      }
    });
    ws.on('close', () => (c.closed = true));
    ws.on('error', () => undefined);
    ws.once('open', () => resolve(c));
    ws.once('unexpected-response', () => reject(new Error('upgrade refused')));
    ws.once('error', reject);
  });
}

async function call(c: Conn, id: number, method: string, p: unknown, timeoutMs = 15_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${method} not answered in ${timeoutMs} ms`)), timeoutMs);
    const h = (d: WebSocket.RawData) => {
      const m = JSON.parse(d.toString()) as { t: string; id: number; ok: boolean; result?: unknown; error?: { message: string } };
      if (m.t === 'res' && m.id === id) {
        clearTimeout(t);
        c.ws.off('message', h);
        if (m.ok) resolve(m.result);
        else reject(new Error(m.error?.message ?? 'error'));
      }
    };
    c.ws.on('message', h);
    c.ws.send(JSON.stringify({ t: 'req', id, method, params: p }));
  });
}

const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
};

export async function fuzzRpc(o: RpcFuzzOptions): Promise<RpcFuzzStats> {
  const t0 = Date.now();
  const root = new Rng(o.seed);
  const s: RpcFuzzStats = { seed: o.seed, inputs: 0, preAuth: 0, postAuth: 0, rawFrames: 0, answered: 0, unanswered: 0, connections: 0, closedByServer: 0, controlCalls: 0, crashes: 0, firstFailure: null, ms: 0 };
  const fail = (why: string) => {
    s.firstFailure ??= why;
  };
  const control = await connect(o.port);
  await call(control, 1, 'hello', { protocol: PROTOCOL_VERSION, token: o.token, client: 'fuzz-control' });
  let controlId = 2;
  const checkControl = async (at: number) => {
    s.controlCalls++;
    try {
      await call(control, controlId++, 'getJobs', {});
    } catch (err) {
      s.crashes++;
      fail(`input ${at}: control session stopped answering (${(err as Error).message})`);
    }
  };

  let i = 0;
  while (i < o.count && s.crashes === 0) {
    const r = root.fork(i);
    const kind = r.int(10);
    if (kind < 3) {
      // Raw TCP, malformed frame, before or after hello.
      const authed = r.bool(0.4);
      try {
        const raw = await rawUpgrade(o.port);
        s.connections++;
        if (authed) {
          raw.socket.write(frame({ opcode: 1, payload: Buffer.from(JSON.stringify({ t: 'req', id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION, token: o.token } })) }));
          await until(() => Buffer.concat(raw.received).includes('"id":1'), 5000);
        }
        raw.socket.write(badFrame(r));
        s.rawFrames++;
        s.inputs++;
        if (authed) s.postAuth++;
        else s.preAuth++;
        i++;
        if (await until(() => raw.socket.destroyed || raw.socket.readableEnded, 5000)) s.closedByServer++;
        raw.socket.destroy();
      } catch (err) {
        if (!o.alive()) {
          s.crashes++;
          fail(`input ${i}: server gone (${(err as Error).message})`);
        }
      }
    } else {
      // A WebSocket session: pre-auth garbage, or hello then a batch of requests.
      const authed = kind >= 7;
      let c: Conn;
      try {
        c = await connect(o.port);
      } catch (err) {
        s.crashes++;
        fail(`input ${i}: cannot connect (${(err as Error).message})`);
        break;
      }
      s.connections++;
      if (authed) await call(c, 0, 'hello', { protocol: PROTOCOL_VERSION, token: o.token, client: 'fuzz' }).catch((e: Error) => fail(`hello failed: ${e.message}`));
      const batch = authed ? 1 + r.int(24) : 1 + r.int(5);
      for (let b = 0; b < batch && i < o.count && !c.closed; b++, i++) {
        const m = message(root.fork(i), authed, o.token);
        if (m.id !== null) c.pending.set(m.id, (c.pending.get(m.id) ?? 0) + 1);
        c.ws.send(m.data, { binary: m.binary });
        s.inputs++;
        if (authed) s.postAuth++;
        else s.preAuth++;
      }
      const expected = [...c.pending.values()].reduce((a, b) => a + b, 0);
      await until(() => c.pending.size === 0 || c.closed, 20_000);
      const left = [...c.pending.values()].reduce((a, b) => a + b, 0);
      s.answered += expected - left;
      if (c.closed) s.closedByServer++;
      else if (left > 0) {
        s.unanswered += left;
        fail(`input ${i}: ${left} request(s) on an open authenticated connection never answered`);
      }
      c.ws.terminate();
    }
    if (!o.alive()) {
      s.crashes++;
      fail(`input ${i}: server process exited`);
      break;
    }
    if (s.connections % 50 === 0) await checkControl(i);
    if (o.log && s.connections % 500 === 0) o.log(`[fuzz:rpc] seed ${o.seed}: ${s.inputs}/${o.count} inputs, ${s.connections} connections`);
  }
  await checkControl(i);
  control.ws.terminate();
  s.ms = Date.now() - t0;
  return s;
}

// Peer-link fuzz suite (issue 11, reliability): seeded generated inputs against the frame
// decoder, receiver sessions with the submit intake, the chunk assembler, tar validation, and a
// real listener + build server over real sockets while another sender's session must stay
// unaffected. The normal suite runs a short pass (a few seconds); `npm run fuzz` runs the long
// one (KILN_FUZZ_LONG=1, 100,000+ inputs). KILN_FUZZ_SEED=<n> replays a run.
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitUntil } from '../../../../test/support/wait-until';
import { submitJob } from '../sender-jobs';
import { PEER_LINK_PATH } from '../constants';
import { HandshakeState } from '../noise';
import { WsChannel } from '../ws-channel';
import { bundleFor } from '../../build-server/test/tar-helpers';
import { newIdentity, startStack, type ReceiverStack } from '../../build-server/test/harness';
import { anyValue, fuzzSeed, hostilePlaintext, hostileTarball, Rng, submitFrames } from './fuzz/gen';
import { fuzzAssembler, fuzzDecoder, fuzzSession, fuzzTar, sampleBundles, type TargetResult } from './fuzz/targets';

const LONG = process.env.KILN_FUZZ_LONG === '1';
const N = LONG ? { decoder: 100_000, session: 100_000, assembler: 100_000, tar: 20_000, extractEvery: 20, listener: 3_000 } : { decoder: 3_000, session: 800, assembler: 3_000, tar: 200, extractEvery: 20, listener: 150 };
const seed = fuzzSeed();
const results: TargetResult[] = [];
// Printed first so a failure can be replayed with KILN_FUZZ_SEED.
console.log(`[peer-link fuzz] seed ${seed} (${LONG ? 'long' : 'short'} run; replay with KILN_FUZZ_SEED=${seed})`);

afterAll(() => {
  const total = results.reduce((n, r) => n + r.inputs, 0);
  const crashes = results.reduce((n, r) => n + r.crashes, 0);
  for (const r of results) console.log(`[peer-link fuzz] ${r.target}: ${r.inputs} inputs, ${r.crashes} crashes, ${r.ms} ms, ${JSON.stringify(r.outcomes)}`);
  console.log(`[peer-link fuzz] seed ${seed}: ${total} inputs, ${crashes} crashes`);
  if (process.env.KILN_FUZZ_REPORT) writeFileSync(process.env.KILN_FUZZ_REPORT, JSON.stringify({ seed, long: LONG, total, crashes, results }, null, 2));
});

function check(r: TargetResult): void {
  results.push(r);
  expect(r.firstCrash ?? '', `seed ${seed}`).toBe('');
  expect(r.crashes).toBe(0);
}

describe(`peer-link fuzz (seed ${seed})`, () => {
  it('frame decoder, validators and intent parsers', () => {
    check(fuzzDecoder(new Rng(seed), N.decoder));
  });

  it('receiver sessions with the submit intake', async () => {
    const rng = new Rng(seed + 1);
    check(await fuzzSession(rng, N.session, await sampleBundles(rng)));
  }, LONG ? 3_600_000 : 60_000);

  it('chunk assembler', () => {
    check(fuzzAssembler(new Rng(seed + 2), N.assembler));
  });

  it('tar validation', async () => {
    check(await fuzzTar(new Rng(seed + 3), N.tar, N.extractEvery));
  }, LONG ? 3_600_000 : 60_000);

  it('real listener + build server: hostile peers over real sockets; another sender is unaffected', async () => {
    process.env.ESPHOME_SIM_SPEED = '0';
    const stack = await startStack();
    try {
      check(await fuzzListener(new Rng(seed + 4), N.listener, stack));
    } finally {
      await stack.stop();
    }
  }, LONG ? 3_600_000 : 60_000);
});

async function rawDial(port: number): Promise<{ ws: WebSocket; channel: WsChannel }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${PEER_LINK_PATH}`, { maxPayload: 1 << 20 });
  ws.on('error', () => undefined);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('close', () => rej(new Error('closed before open')));
  });
  return { ws, channel: new WsChannel(ws) };
}

function closedOrTimeout(ws: WebSocket, ms: number): Promise<boolean> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    ws.once('close', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

async function fuzzListener(rng: Rng, n: number, stack: ReceiverStack): Promise<TargetResult> {
  const t0 = performance.now();
  const r: TargetResult = { target: 'real listener + build server (real sockets)', inputs: 0, crashes: 0, outcomes: {}, ms: 0 };
  const bump = (k: string): void => void (r.outcomes[k] = (r.outcomes[k] ?? 0) + 1);
  const good = await stack.connect('Good sender');
  const hostile = newIdentity();
  const hostileId = 'hostile-sender-0000000000';
  stack.store.put({ dashboard_id: hostileId, pin_sha256: hostile.pin, static_x25519_pub: Buffer.from(hostile.publicKey), label: 'Hostile', paired_at: 1, peer_ip: '127.0.0.1', connect_back_port: 0, friendly_name: '', ha_addon: false });
  await stack.store.flush();
  const tarballs: Buffer[] = [];
  for (let i = 0; i < 6; i++) tarballs.push(await hostileTarball(rng));
  tarballs.push(await bundleFor('kitchen.yaml'));

  while (r.inputs < n) {
    const kind = rng.int(5);
    let conn: { ws: WebSocket; channel: WsChannel };
    try {
      conn = await rawDial(stack.port);
    } catch {
      bump('dial refused');
      continue;
    }
    const { ws, channel } = conn;
    try {
      if (kind === 0) {
        // pre-auth garbage as msg1: random, text, oversize
        r.inputs += 1;
        const k = rng.int(3);
        if (k === 0) ws.send(rng.bytes(rng.int(200)));
        else if (k === 1) ws.send(rng.str(50));
        else ws.send(Buffer.alloc(70_000 + rng.int(1000)));
        bump((await closedOrTimeout(ws, 3000)) ? 'pre-auth closed' : 'pre-auth still open');
        continue;
      }
      const hs = new HandshakeState({ initiator: true, staticKeyPair: kind === 1 ? newIdentity() : hostile });
      const intent = kind === 1 ? rng.pick(['preview', 'pair_request', 'pair_status', 'peer_link', 'connect_back', 'bogus']) : 'peer_link';
      const msg1 = kind === 1 && rng.chance(0.3) ? hostilePlaintext(rng) : Buffer.from(JSON.stringify({ intent }));
      await channel.send(hs.writeMessage(msg1));
      hs.readMessage(await channel.read(5000));
      const payload = kind === 1 ? (rng.chance(0.5) ? hostilePlaintext(rng) : Buffer.from(JSON.stringify({ dashboard_id: anyValue(rng), label: anyValue(rng), pairing_key: anyValue(rng) }))) : Buffer.from(JSON.stringify({ dashboard_id: hostileId }));
      await channel.send(hs.writeMessage(payload));
      const ciphers = hs.transport();
      r.inputs += 1;
      const resp = JSON.parse(ciphers.recv.decrypt(await channel.read(5000)).toString()) as { intent_response: string };
      bump(`intent → ${resp.intent_response}`);
      if (resp.intent_response !== 'ok') continue;
      // An application session from an approved but hostile sender.
      channel.attach({ onFrame: () => undefined, onClose: () => undefined });
      const frames: Buffer[] = [];
      for (let i = 1 + rng.int(30); i > 0; i--) {
        const k = rng.int(10);
        if (k < 5) frames.push(ciphers.send.encrypt(hostilePlaintext(rng)));
        else if (k < 9) for (const f of submitFrames(rng, `h${rng.int(100)}`, rng.pick(tarballs), 1 + rng.int(8192))) frames.push(ciphers.send.encrypt(Buffer.from(JSON.stringify(f))));
        else frames.push(rng.bytes(rng.int(100)));
      }
      for (const f of frames) {
        if (ws.readyState !== WebSocket.OPEN) break;
        r.inputs += 1;
        await new Promise<void>((res) => ws.send(f, { binary: true }, () => res()));
      }
      bump('session episode');
    } catch (e) {
      bump(`client side: ${(e as Error).name}`);
    } finally {
      ws.terminate();
    }
  }
  // The other sender's session is untouched and still gets its work done.
  if (good.closed || good.session.closed) {
    r.crashes += 1;
    r.firstCrash = `the good sender's session closed: ${JSON.stringify(good.closed)}`;
  } else {
    const ack = await submitJob(good.session, { jobId: 'good00000001', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: await bundleFor('kitchen.yaml') });
    if (!ack.accepted) {
      r.crashes += 1;
      r.firstCrash = `the good sender's submit was refused: ${ack.reason}`;
    }
    await waitUntil(() => stack.engine.getJobs().find((j) => j.remote_job_id === 'good00000001'), { what: 'the good sender’s job' });
  }
  r.ms = Math.round(performance.now() - t0);
  return r;
}

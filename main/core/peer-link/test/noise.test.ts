import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CipherState, HandshakeState, NoiseError, type NoisePatternName } from '../noise';
import { generateX25519KeyPair, x25519KeyPairFromPrivate } from '../x25519';
import { must } from '../../../../test/support/must';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: Array<{ payload: string; ciphertext: string }>;
}

// A copy of ../shared/vectors/noise-25519-chachapoly-sha256.json (cacophony), kept with the tests.
const VECTORS_FILE = new URL('./fixtures/noise-25519-chachapoly-sha256.json', import.meta.url);
const vectors = (JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { vectors: Vector[] }).vectors;
const hex = (s: string) => Buffer.from(s, 'hex');

function parties(v: Vector) {
  const pattern = /^Noise_([A-Z]+)_/.exec(v.protocol_name)![1] as NoisePatternName;
  const init = new HandshakeState({
    pattern,
    initiator: true,
    prologue: hex(v.init_prologue),
    staticKeyPair: v.init_static ? x25519KeyPairFromPrivate(hex(v.init_static)) : undefined,
    ephemeralPrivateKey: hex(v.init_ephemeral),
  });
  const resp = new HandshakeState({
    pattern,
    initiator: false,
    prologue: hex(v.resp_prologue),
    staticKeyPair: v.resp_static ? x25519KeyPairFromPrivate(hex(v.resp_static)) : undefined,
    ephemeralPrivateKey: hex(v.resp_ephemeral),
  });
  return { init, resp };
}

describe('Noise test vectors (cacophony)', () => {
  for (const name of ['Noise_XX_25519_ChaChaPoly_SHA256', 'Noise_XN_25519_ChaChaPoly_SHA256', 'Noise_NN_25519_ChaChaPoly_SHA256']) {
    const v = vectors.find((x) => x.protocol_name === name)!;

    it(`${name}: every ciphertext and the handshake hash, written by each side and read by the other`, () => {
      expect(v).toBeDefined();
      expect(v.messages).toHaveLength(6);
      const { init, resp } = parties(v);
      let initT: { send: CipherState; recv: CipherState } | undefined;
      let respT: { send: CipherState; recv: CipherState } | undefined;
      v.messages.forEach((m, i) => {
        const fromInitiator = i % 2 === 0;
        const [writer, reader] = fromInitiator ? [init, resp] : [resp, init];
        let ct: Buffer;
        let pt: Buffer;
        if (!writer.complete) {
          ct = writer.writeMessage(hex(m.payload));
          pt = reader.readMessage(ct);
          if (init.complete && resp.complete) {
            initT = init.transport();
            respT = resp.transport();
            expect(init.handshakeHash.toString('hex')).toBe(v.handshake_hash);
            expect(resp.handshakeHash.toString('hex')).toBe(v.handshake_hash);
          }
        } else {
          const [w, r] = fromInitiator ? [initT!, respT!] : [respT!, initT!];
          ct = w.send.encrypt(hex(m.payload));
          pt = r.recv.decrypt(ct);
        }
        expect(ct.toString('hex'), `message ${i} ciphertext`).toBe(m.ciphertext);
        expect(pt.toString('hex'), `message ${i} payload`).toBe(m.payload);
      });
      expect(initT).toBeDefined();
    });
  }

  it('XX: the responder learns the initiator static key from msg3 and vice versa from msg2', () => {
    const v = vectors.find((x) => x.protocol_name === 'Noise_XX_25519_ChaChaPoly_SHA256')!;
    const { init, resp } = parties(v);
    resp.readMessage(init.writeMessage());
    expect(resp.remoteStaticKey).toBeUndefined();
    init.readMessage(resp.writeMessage());
    expect(init.remoteStaticKey!.equals(x25519KeyPairFromPrivate(hex(v.resp_static!)).publicKey)).toBe(true);
    resp.readMessage(init.writeMessage());
    expect(resp.remoteStaticKey!.equals(x25519KeyPairFromPrivate(hex(v.init_static!)).publicKey)).toBe(true);
  });
});

describe('Noise XX with the wire configuration (empty prologue, random ephemerals)', () => {
  it('handshakes with the §2.1 sizes and carries transport messages both ways', () => {
    const a = generateX25519KeyPair();
    const b = generateX25519KeyPair();
    const init = new HandshakeState({ initiator: true, staticKeyPair: a });
    const resp = new HandshakeState({ initiator: false, staticKeyPair: b });
    const intent = Buffer.from('{"intent":"preview"}');
    const msg1 = init.writeMessage(intent);
    expect(msg1.length).toBe(32 + intent.length);
    expect(msg1.subarray(32).equals(intent)).toBe(true); // msg1 payload is plaintext
    expect(resp.readMessage(msg1).equals(intent)).toBe(true);
    const msg2 = resp.writeMessage();
    expect(msg2.length).toBe(96);
    init.readMessage(msg2);
    const msg3 = init.writeMessage(Buffer.from('{}'));
    expect(msg3.length).toBe(48 + 2 + 16);
    resp.readMessage(msg3);
    expect(init.handshakeHash.equals(resp.handshakeHash)).toBe(true);
    const it1 = init.transport();
    const rt = resp.transport();
    for (let i = 0; i < 3; i++) {
      expect(rt.recv.decrypt(it1.send.encrypt(Buffer.from(`o${i}`))).toString()).toBe(`o${i}`);
      expect(it1.recv.decrypt(rt.send.encrypt(Buffer.from(`r${i}`))).toString()).toBe(`r${i}`);
    }
    expect(it1.send.nonce).toBe(3n);
  });

  it('a prologue mismatch fails authentication at msg2', () => {
    const init = new HandshakeState({ initiator: true, staticKeyPair: generateX25519KeyPair(), prologue: Buffer.from('a') });
    const resp = new HandshakeState({ initiator: false, staticKeyPair: generateX25519KeyPair() });
    resp.readMessage(init.writeMessage());
    expect(() => init.readMessage(resp.writeMessage())).toThrow(NoiseError);
  });

  it('a tampered transport message is rejected and does not advance the nonce', () => {
    const k = Buffer.alloc(32, 7);
    const tx = new CipherState(k);
    const rx = new CipherState(k);
    const ct = tx.encrypt(Buffer.from('hello'));
    const bad = Buffer.from(ct);
    bad[0] = must(bad[0]) ^ 1;
    expect(() => rx.decrypt(bad)).toThrow(NoiseError);
    expect(rx.nonce).toBe(0n);
    expect(rx.decrypt(ct).toString()).toBe('hello');
    expect(() => rx.decrypt(Buffer.alloc(5))).toThrow(NoiseError);
  });

  it('a truncated msg2 is a NoiseError, not a crash', () => {
    const init = new HandshakeState({ initiator: true, staticKeyPair: generateX25519KeyPair() });
    const resp = new HandshakeState({ initiator: false, staticKeyPair: generateX25519KeyPair() });
    resp.readMessage(init.writeMessage());
    expect(() => init.readMessage(resp.writeMessage().subarray(0, 40))).toThrow(NoiseError);
  });
});

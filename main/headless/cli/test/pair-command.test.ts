// `kiln pair` over injected I/O against a real peer-link listener on 127.0.0.1 (the CLI child
// process path is covered by test/e2e-remote): pending → accepted / declined / interrupted,
// refusal to confirm, the key requirement, and the endpoint parser.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../../core/events';
import { emojiNames, emojiString, groupedHex } from '../../../core/peer-link/fingerprint';
import { identityFromPrivateKey } from '../../../core/peer-link/identity';
import { startPeerLinkListener, type PeerLinkListener } from '../../../core/peer-link/listener';
import { ReceiverPairing } from '../../../core/peer-link/build-server-pairing';
import { ApprovedSenderStore } from '../../../core/peer-link/approved-senders';
import { generateX25519KeyPair } from '../../../core/peer-link/x25519';
import { pair, parseEndpoint, parsePairArgs, type PairArgs, type PairIo } from '../pair-command';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Server {
  listener: PeerLinkListener;
  pairing: ReceiverPairing;
  pin: string;
}

async function server(mode: 'window' | 'key' | 'closed'): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-pair-srv-'));
  const bus = new EventBus();
  const store = ApprovedSenderStore.inDataDir(dir, { debounceMs: 5, report: () => undefined });
  const pairing = new ReceiverPairing({ store, bus, report: () => undefined });
  const identity = identityFromPrivateKey(generateX25519KeyPair().privateKey);
  if (mode === 'window') pairing.openWindow('test');
  if (mode === 'key') pairing.armKeyMode({ key: 'ABCD-EFGH-JKMN-PQRS' });
  const listener = await startPeerLinkListener({ identity, pairing, bus, host: '127.0.0.1', port: 0, esphomeVersion: () => '2026.5.0', friendlyName: () => 'Attic box' });
  cleanups.push(async () => {
    await listener.close();
    pairing.closeWindow();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { listener, pairing, pin: identity.pin };
}

function io(answers: string[] = []): PairIo & { lines: string[]; errs: string[]; asked: string[]; abort: () => void } {
  const ctl = new AbortController();
  const lines: string[] = [];
  const errs: string[] = [];
  const asked: string[] = [];
  return {
    lines,
    errs,
    asked,
    abort: () => ctl.abort(),
    out: (l) => lines.push(l),
    err: (l) => errs.push(l),
    ask: async (q) => {
      asked.push(q);
      return answers.shift() ?? null;
    },
    interrupt: ctl.signal,
  };
}

function args(srv: Server, over: Partial<PairArgs> = {}): PairArgs {
  const dataDir = mkdtempSync(join(tmpdir(), 'kiln-pair-snd-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  return { host: '127.0.0.1', port: srv.listener.port, yes: false, dataDir, timeoutMs: 10_000, ...over };
}

function storedPins(dataDir: string): string[] {
  const file = join(dataDir, 'pairings.json');
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')).pairings.map((p: { pin_sha256: string }) => p.pin_sha256);
}

describe('kiln pair', () => {
  it('shows the fingerprint, asks, then waits until the admin accepts', async () => {
    const srv = await server('window');
    const a = args(srv);
    const t = io(['y']);
    const run = pair(a, t, { friendlyName: 'laptop', timeoutMs: 5000 });
    await waitUntil(() => srv.pairing.pending().length === 1 && t.lines.some((l) => l.startsWith('Waiting for the answer')));
    expect(t.lines).toContain(`  fingerprint      ${emojiString(srv.pin)}`);
    expect(t.lines).toContain(`                   ${emojiNames(srv.pin)}`);
    expect(t.lines).toContain(`  pin (sha256)     ${groupedHex(srv.pin)}`);
    expect(t.lines).toContain('  name             Attic box');
    expect(t.asked[0]).toMatch(/fingerprint/);
    expect(t.lines).toContain(`  this machine     laptop`);
    expect(must(srv.pairing.pending()[0]).label).toBe('laptop');
    expect(storedPins(a.dataDir)).toEqual([]); // pending rows are RAM-only
    await srv.pairing.approve(must(srv.pairing.pending()[0]).dashboard_id);
    expect(await run).toBe(0);
    expect(storedPins(a.dataDir)).toEqual([srv.pin]);
    expect(t.lines.some((l) => l.includes('accepted: paired with Attic box'))).toBe(true);
  });

  it('declined by the admin → exit 1, nothing stored', async () => {
    const srv = await server('window');
    const a = args(srv, { yes: true });
    const t = io();
    const run = pair(a, t, { timeoutMs: 5000 });
    await waitUntil(() => srv.pairing.pending().length === 1);
    srv.pairing.reject(must(srv.pairing.pending()[0]).dashboard_id);
    expect(await run).toBe(1);
    expect(t.errs.join('\n')).toContain('declined or removed');
    expect(storedPins(a.dataDir)).toEqual([]);
    expect(t.asked).toEqual([]); // --yes
  });

  it('Ctrl-C while waiting → exit 130, the request is forgotten', async () => {
    const srv = await server('window');
    const a = args(srv, { yes: true });
    const t = io();
    const run = pair(a, t, { timeoutMs: 5000 });
    await waitUntil(() => srv.pairing.pending().length === 1);
    t.abort();
    expect(await run).toBe(130);
    expect(storedPins(a.dataDir)).toEqual([]);
  });

  it('not confirmed → exit 1, no pair request was sent', async () => {
    const srv = await server('window');
    const a = args(srv);
    const t = io(['n']);
    expect(await pair(a, t, { timeoutMs: 5000 })).toBe(1);
    expect(srv.pairing.pending()).toEqual([]);
    expect(t.errs.join('\n')).toContain('not confirmed');
  });

  it('a key-mode server: --pairing-key approves at once; --yes without a key is a usage error', async () => {
    const srv = await server('key');
    const noKey = args(srv, { yes: true });
    const t1 = io();
    expect(await pair(noKey, t1, { timeoutMs: 5000 })).toBe(2);
    expect(t1.errs.join('\n')).toContain('--pairing-key');
    const withKey = args(srv, { yes: true, pairingKey: 'abcd efgh jkmn pqrs' });
    const t2 = io();
    expect(await pair(withKey, t2, { timeoutMs: 5000 })).toBe(0);
    expect(storedPins(withKey.dataDir)).toEqual([srv.pin]);
    expect(t2.lines.some((l) => l.startsWith('Paired with Attic box'))).toBe(true);
  });

  it('a wrong key or a closed window → exit 1 with the reason', async () => {
    const srv = await server('closed');
    const t = io();
    expect(await pair(args(srv, { yes: true }), t, { timeoutMs: 5000 })).toBe(1);
    expect(t.errs.join('\n')).toContain("isn't accepting pair requests");
  });

  it('unreachable → exit 1 with an actionable message', async () => {
    const t = io();
    const dataDir = mkdtempSync(join(tmpdir(), 'kiln-pair-snd-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    expect(await pair({ host: '127.0.0.1', port: 1, yes: true, dataDir, timeoutMs: 1000 }, t, { timeoutMs: 2000 })).toBe(1);
    expect(t.errs.join('\n')).toMatch(/Nothing is listening at 127\.0\.0\.1:1 — is the build server running\?/);
  });

  it('parses endpoints and options', () => {
    expect(parseEndpoint('buildserver.lan')).toEqual({ host: 'buildserver.lan', port: 6055 });
    expect(parseEndpoint('10.0.0.5:6056')).toEqual({ host: '10.0.0.5', port: 6056 });
    expect(parseEndpoint('[fe80::1]:7000')).toEqual({ host: 'fe80::1', port: 7000 });
    expect(parseEndpoint('fe80::1')).toEqual({ host: 'fe80::1', port: 6055 });
    expect(() => parseEndpoint('host:99999')).toThrow(/port/);
    expect(() => parseEndpoint('host:abc')).toThrow(/bad port/);
    const p = parsePairArgs(['h:1', '--yes', '--pairing-key', 'K', '--config-dir', '/x/cfg'], {}, '/');
    expect(p).toMatchObject({ host: 'h', port: 1, yes: true, pairingKey: 'K', dataDir: '/x/cfg/.kiln' });
    expect(parsePairArgs(['h', '--data-dir', 'd'], {}, '/w')).toMatchObject({ dataDir: '/w/d' });
    expect(parsePairArgs(['h'], { KILN_CONFIG_DIR: '/c' }, '/')).toMatchObject({ dataDir: '/c/.kiln' });
    expect(parsePairArgs(['--help'])).toBe('help');
    expect(() => parsePairArgs([])).toThrow(/missing/);
  });
});

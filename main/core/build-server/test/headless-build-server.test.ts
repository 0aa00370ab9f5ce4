// `kiln receiver` as a real child process (node --import tsx main/headless/cli/kiln.ts receiver),
// with this test process acting as the second Kiln (the offloader): key-mode pairing, refusal of a
// wrong key, a bundle built by the simulator compiled on the receiver, log and artifacts back,
// and a clean SIGTERM shutdown.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { buildBundle } from '../../esphome/bundle';
import { ApiError } from '../../errors';
import { PeerLinkClientManager } from '../../peer-link/client-manager';
import { emojiNames, emojiString, groupedHex } from '../../peer-link/fingerprint';
import { OffloaderPairingFlow } from '../../peer-link/sender-pairing';
import { downloadArtifacts, materializeArtifacts, submitJob } from '../../peer-link/sender-jobs';
import type { PeerMessage } from '../../peer-link/session';
import { openPeerLinkState, type PeerLinkState } from '../../peer-link/state';
import { senderKey } from '../filename';
import { extractTarGzSafely } from '../safe-tar';
import { REPO_ROOT, SIM } from './harness';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

interface Child {
  proc: ChildProcessWithoutNullStreams;
  out: string[];
  ready: { port: number; pin: string; pairing_key: string | null; data_dir: string };
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: Child[] = [];
const dirs: string[] = [];
let senderConfig: string;

async function tmp(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function startChild(args: string[], env: Record<string, string> = {}): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'main/headless/cli/kiln.ts', 'receiver', '--host', '127.0.0.1', '--port', '0', '--no-mdns', '--esphome', `${process.execPath} ${SIM}`, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ESPHOME_SIM_SPEED: '0', ESPHOME_NOGITIGNORE: '1', KILN_PAIRING_KEY: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let buf = '';
  proc.stdout.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    const parts = buf.split('\n');
    buf = parts.pop()!;
    out.push(...parts);
  });
  proc.stderr.on('data', (c: Buffer) => out.push(...c.toString('utf8').split('\n').map((l) => `[stderr] ${l}`)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const child = { proc, out, exit } as Child;
  children.push(child);
  const line = await waitUntil(() => out.find((l) => l.startsWith('KILN_RECEIVER_READY ')), { timeoutMs: 30_000, what: `receiver ready (output so far: ${out.join('\n')})` });
  child.ready = JSON.parse(line.slice('KILN_RECEIVER_READY '.length));
  return child;
}

async function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'main/headless/cli/kiln.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, KILN_DATA_DIR: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  return { code, out, err };
}

interface Offloader {
  state: PeerLinkState;
  flow: OffloaderPairingFlow;
  manager: PeerLinkClientManager;
  bus: EventBus;
}

async function offloader(): Promise<Offloader> {
  const dataDir = await tmp('kiln-offloader-');
  const bus = new EventBus();
  const state = await openPeerLinkState(dataDir, { bus, report: () => undefined });
  const flow = new OffloaderPairingFlow({ identity: state.identity, store: state.pairings, bus, timeoutMs: 5000 });
  const manager = new PeerLinkClientManager({ identity: state.identity, store: state.pairings, bus, backoffBaseMs: 50, backoffCapMs: 200 });
  return { state, flow, manager, bus };
}

beforeAll(async () => {
  senderConfig = await tmp('kiln-sender-cfg-');
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), senderConfig, { recursive: true });
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exit;
    }
  }
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('kiln receiver (child process)', () => {
  it('prints the banner with fingerprint, emoji names, grouped pin, key and port; refuses a wrong key; pairs with the right one', async () => {
    const dataDir = await tmp('kiln-rcv-');
    const child = await startChild(['--data-dir', dataDir, '--pairing-key', 'abcd-efgh-jkmn-pqrs']);
    const { port, pin, pairing_key } = child.ready;
    expect(pairing_key).toBe('ABCD-EFGH-JKMN-PQRS');
    const text = child.out.join('\n');
    expect(text).toContain(emojiString(pin));
    expect(text).toContain(emojiNames(pin));
    expect(text).toContain(groupedHex(pin));
    expect(text).toContain('ABCD-EFGH-JKMN-PQRS');
    expect(text).toContain(`127.0.0.1:${port}`);

    const o = await offloader();
    const info = await o.flow.preview('127.0.0.1', port);
    expect(info.pin).toBe(pin);
    expect(info.requires_pairing_key).toBe(true);
    const wrong = await o.flow.request({ host: '127.0.0.1', port, previewedPin: info.pin, receiverLabel: 'box', label: 'Tester', pairingKey: 'ZZZZ-ZZZZ-ZZZZ-ZZZZ' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ApiError);
    expect((wrong as ApiError).code).toBe('no_pairing_window');
    const ok = await o.flow.request({ host: '127.0.0.1', port, previewedPin: info.pin, receiverLabel: 'box', label: 'Tester', pairingKey: 'abcdefghjkmnpqrs' });
    expect(ok.status).toBe('approved');
    await waitUntil(() => child.out.some((l) => l.includes('paired with Tester')), { timeoutMs: 5000, what: 'paired line' });
    // the window closed: a second sender cannot pair with the same key
    const o2 = await offloader();
    const again = await o2.flow.request({ host: '127.0.0.1', port, previewedPin: pin, receiverLabel: 'box', label: 'Other', pairingKey: 'ABCD-EFGH-JKMN-PQRS' }).catch((e: unknown) => e);
    expect((again as ApiError).code).toBe('no_pairing_window');
    // approved senders persisted
    const peers = JSON.parse(await readFile(join(dataDir, 'receiver-peers.json'), 'utf8'));
    expect(JSON.stringify(peers)).toContain(o.state.dashboardId);

    child.proc.kill('SIGTERM');
    expect(await child.exit).toEqual({ code: 0, signal: null });
  });

  it('pairs, compiles a bundle with the simulator, streams the log back, serves artifacts; SIGTERM cancels a running job and ends sessions', async () => {
    const dataDir = await tmp('kiln-rcv-');
    const child = await startChild(['--data-dir', dataDir], { KILN_PAIRING_KEY: 'WXYZ-2345-6789-ABCD' });
    const { port, pin } = child.ready;
    expect(child.ready.pairing_key).toBe('WXYZ-2345-6789-ABCD');

    const o = await offloader();
    const info = await o.flow.preview('127.0.0.1', port);
    await o.flow.request({ host: '127.0.0.1', port, previewedPin: info.pin, receiverLabel: 'buildbox', label: 'Laptop', pairingKey: 'WXYZ-2345-6789-ABCD' });
    o.manager.start();
    const session = await waitUntil(() => {
      try {
        return o.manager.getSession(pin);
      } catch {
        return null;
      }
    }, { timeoutMs: 10_000, what: 'peer-link session' });
    const frames: PeerMessage[] = [];
    session.onMessage((m) => frames.push(m));
    const outputs: string[] = [];
    o.bus.on('offloader_job_output', (e) => e.job_id === '0123456789ab' && outputs.push(e.line));
    const statesSeen: string[] = [];
    o.bus.on('offloader_job_state_changed', (e) => e.job_id === '0123456789ab' && statesSeen.push(e.status));

    const bundle = await buildBundle([process.execPath, SIM], join(senderConfig, 'living-room.yaml'), join(senderConfig, '.b', 'lr.tar.gz'), { env: { ...process.env, ESPHOME_SIM_SPEED: '0' } });
    const ack = await submitJob(session, { jobId: '0123456789ab', configurationFilename: 'living-room.yaml', target: 'compile', bundle, deviceName: 'living-room', deviceFriendlyName: 'Living Room' });
    expect(ack.accepted).toBe(true);
    await waitUntil(() => statesSeen.includes('completed') || statesSeen.includes('failed'), { timeoutMs: 30_000, what: `job end (receiver output:\n${child.out.join('\n')})` });
    expect(statesSeen).toEqual(['running', 'completed']);
    expect(outputs.join('')).toContain('Successfully compiled program.');
    // the receiver printed the same job's output on its own stdout
    expect(child.out.some((l) => l.includes('Successfully compiled program.'))).toBe(true);
    expect(child.out.some((l) => l.includes('from Laptop: running'))).toBe(true);

    const dl = await downloadArtifacts(session, '0123456789ab');
    expect(dl.firmwareOffset).toBe('0x10000');
    const x = await tmp('kiln-x-');
    await extractTarGzSafely(dl.tarball, x, { maxUncompressedBytes: 1 << 28 });
    const receiverFw = join(dataDir, 'remote_builds', senderKey(o.state.dashboardId, o.state.identity.pin), '.esphome', 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.bin');
    expect((await readFile(join(x, '.pioenvs/living-room/firmware.bin'))).equals(await readFile(receiverFw))).toBe(true);
    const m = await materializeArtifacts({ tarball: dl.tarball, configDir: senderConfig, configuration: 'living-room.yaml' });
    expect((await readFile(m.firmwareBinPath)).equals(await readFile(receiverFw))).toBe(true);

    // A long build, then SIGTERM: the job ends cancelled on the wire, the session gets server_shutting_down.
    const hangYaml = (await readFile(join(senderConfig, 'living-room.yaml'), 'utf8')).replace('device: living-room', 'device: hang-room');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(senderConfig, 'hang-room.yaml'), `# sim: hang\n${hangYaml}`);
    const hangBundle = await buildBundle([process.execPath, SIM], join(senderConfig, 'hang-room.yaml'), join(senderConfig, '.b', 'hang.tar.gz'), { env: { ...process.env, ESPHOME_SIM_SPEED: '0' } });
    const closed: Array<{ reason: string }> = [];
    session.onClose((reason) => closed.push({ reason }));
    await submitJob(session, { jobId: 'feedfacecafe', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: hangBundle });
    await waitUntil(() => frames.some((f) => f.type === 'job_state_changed' && f.job_id === 'feedfacecafe' && f.status === 'running'), { timeoutMs: 15_000, what: 'hang job running' });
    child.proc.kill('SIGTERM');
    expect(await child.exit).toEqual({ code: 0, signal: null });
    const end = frames.find((f) => f.type === 'job_state_changed' && f.job_id === 'feedfacecafe' && f.status !== 'running');
    expect(end).toMatchObject({ status: 'cancelled' });
    await waitUntil(() => closed.length > 0, { timeoutMs: 5000, what: 'session closed' });
    expect(must(closed[0]).reason).toBe('server_shutting_down');
    await o.manager.stop();
    // the receiver's job file says cancelled, not running
    const jobs = JSON.parse(await readFile(join(dataDir, 'jobs.json'), 'utf8'));
    const list = Array.isArray(jobs) ? jobs : (jobs.jobs ?? []);
    expect(list.find((j: { remote_job_id: string }) => j.remote_job_id === 'feedfacecafe')?.status).toBe('cancelled');
  }, 90_000);

  it('with an approved sender and no key it opens no pairing window and prints no key', async () => {
    const dataDir = await tmp('kiln-rcv-');
    const first = await startChild(['--data-dir', dataDir, '--pairing-key', 'AAAA-BBBB-CCCC-DDDD']);
    const o = await offloader();
    await o.flow.request({ host: '127.0.0.1', port: first.ready.port, previewedPin: first.ready.pin, receiverLabel: 'b', label: 'L', pairingKey: 'AAAA-BBBB-CCCC-DDDD' });
    first.proc.kill('SIGTERM');
    expect((await first.exit).code).toBe(0);
    const second = await startChild(['--data-dir', dataDir]);
    expect(second.ready.pairing_key).toBeNull();
    expect(second.ready.pin).toBe(first.ready.pin);
    const o2 = await offloader();
    const r = await o2.flow.request({ host: '127.0.0.1', port: second.ready.port, previewedPin: second.ready.pin, receiverLabel: 'b', label: 'M', pairingKey: 'AAAA-BBBB-CCCC-DDDD' }).catch((e: unknown) => e);
    expect((r as ApiError).code).toBe('no_pairing_window');
    second.proc.kill('SIGTERM');
    expect((await second.exit).code).toBe(0);
  });

  // Issue 11 defect 12: an explicit key arms key mode even when senders exist; `senders` lists
  // and removes them. Defect 8 (receiver half): sender-chosen labels are printed without
  // control characters or escape sequences.
  it('an explicit key pairs a second sender; senders lists and removes; hostile labels print clean', async () => {
    const dataDir = await tmp('kiln-rcv-');
    const first = await startChild(['--data-dir', dataDir, '--pairing-key', 'AAAA-BBBB-CCCC-DDDD']);
    const o = await offloader();
    await o.flow.request({ host: '127.0.0.1', port: first.ready.port, previewedPin: first.ready.pin, receiverLabel: 'b', label: 'Alice', pairingKey: 'AAAA-BBBB-CCCC-DDDD' });
    first.proc.kill('SIGTERM');
    expect((await first.exit).code).toBe(0);

    const second = await startChild(['--data-dir', dataDir], { KILN_PAIRING_KEY: 'EEEE-FFFF-GGGG-HHHH' });
    expect(second.ready.pairing_key).toBe('EEEE-FFFF-GGGG-HHHH');
    const evil = 'Evil\x1b]0;pwned\x07\x1b[2J\x1b[31mRed\x1b[0m\rPassword: \u202e';
    const o2 = await offloader();
    const ok = await o2.flow.request({ host: '127.0.0.1', port: second.ready.port, previewedPin: second.ready.pin, receiverLabel: 'b', label: evil, pairingKey: 'eeee-ffff-gggg-hhhh' });
    expect(ok.status).toBe('approved');
    await waitUntil(() => second.out.some((l) => l.includes('paired with Evil')), { timeoutMs: 5000, what: 'paired line' });
    // the sender connects: its label is printed again
    o2.manager.start();
    await waitUntil(() => second.out.some((l) => l.includes('sender connected: Evil')), { timeoutMs: 10_000, what: 'connected line' });
    const printed = second.out.filter((l) => l.includes('Evil'));
    expect(printed.length).toBeGreaterThanOrEqual(2);
    for (const l of printed) {
      expect(l).not.toMatch(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e]/);
      expect(l).toContain('EvilRedPassword: ');
    }

    // list (from another process, while the server runs)
    const list = await cli(['receiver', 'senders', '--data-dir', dataDir]);
    expect(list.code).toBe(0);
    expect(list.out).toContain('Alice');
    expect(list.out).toContain(o.state.dashboardId);
    expect(list.out).toContain('EvilRedPassword: ');
    expect(list.out).toContain(o2.state.dashboardId);
    expect(list.out).not.toMatch(/\x1b/);
    // remove by label; unknown → exit 1
    expect((await cli(['receiver', 'senders', 'remove', 'Nobody', '--data-dir', dataDir])).code).toBe(1);
    const rm1 = await cli(['receiver', 'senders', 'remove', 'EvilRedPassword: ', '--data-dir', dataDir]);
    expect(rm1).toMatchObject({ code: 0 });
    expect(rm1.out).toContain(o2.state.dashboardId);
    // the running server revokes it: the session ends and the sender is gone from the file
    await waitUntil(() => second.out.some((l) => l.includes('was removed; ending its session')), { timeoutMs: 10_000, what: 'revocation line' });
    const after = await cli(['receiver', 'senders', '--data-dir', dataDir]);
    expect(after.out).toContain(o.state.dashboardId);
    expect(after.out).not.toContain(o2.state.dashboardId);
    await o2.manager.stop();
    second.proc.kill('SIGTERM');
    expect((await second.exit).code).toBe(0);
    const peers = JSON.parse(await readFile(join(dataDir, 'receiver-peers.json'), 'utf8'));
    expect(peers.peers.map((p: { dashboard_id: string }) => p.dashboard_id)).toEqual([o.state.dashboardId]);
  });

  it('rejects bad arguments with exit 2', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'main/headless/cli/kiln.ts', 'receiver', '--pairing-key', 'short'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain('--pairing-key must be 16 characters');
  });
});

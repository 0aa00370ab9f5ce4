// Done-criterion of the peer-link: two processes on one machine pair (preview → request →
// approve → session open) and keep the session alive through heartbeats. The receiver is a real
// child process (`node --import tsx demo-build-server.ts`); this test process is the offloader.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { PeerLinkClientManager } from '../client-manager';
import { emojiNames } from '../fingerprint';
import { OffloaderPairingFlow } from '../sender-pairing';
import { NoisePeerSession } from '../session';
import { openPeerLinkState } from '../state';
import { captureEvents, sleep, tempDir } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

const SCRIPT = fileURLToPath(new URL('../demo-build-server.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const HEARTBEAT_MS = 50;
const DEAD_AFTER_MS = 400;

type Line = Record<string, unknown> & { event: string };

describe('two processes pair and keep a session alive', () => {
  const rxDir = tempDir('kiln-2p-rx-');
  const offDir = tempDir('kiln-2p-off-');
  let child: ChildProcessWithoutNullStreams | undefined;
  const lines: Line[] = [];
  const stderr: string[] = [];
  let manager: PeerLinkClientManager | undefined;
  let flow: OffloaderPairingFlow | undefined;

  afterAll(async () => {
    flow?.stop();
    await manager?.stop();
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    rxDir.cleanup();
    offDir.cleanup();
  });

  const next = (event: string, pred: (l: Line) => boolean = () => true, timeoutMs = 10_000) =>
    waitUntil(() => lines.find((l) => l.event === event && pred(l)), { timeoutMs: timeoutMs, what: `child event ${event} (stderr: ${stderr.join('').slice(-500)})` });
  const send = (cmd: string) => child!.stdin.write(`${cmd}\n`);

  it('preview → request → approve → session open → heartbeats → clean stop', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--data-dir', rxDir.dir, '--host', '127.0.0.1', '--port', '0', '--heartbeat-ms', String(HEARTBEAT_MS), '--dead-after-ms', String(DEAD_AFTER_MS)], {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: child.stdout }).on('line', (l) => {
      try {
        lines.push(JSON.parse(l) as Line);
      } catch {
        stderr.push(`stdout: ${l}\n`);
      }
    });
    child.stderr.on('data', (d) => stderr.push(String(d)));
    const listening = await next('listening', () => true, 20_000);
    const port = listening.port as number;
    const receiverPin = listening.pin as string;
    expect(port).toBeGreaterThan(0);
    expect(listening.emoji).toBe(emojiNames(receiverPin));

    // Offloader: this process.
    const bus = new EventBus();
    const state = await openPeerLinkState(offDir.dir, { bus, report: () => undefined });
    manager = new PeerLinkClientManager({ identity: state.identity, store: state.pairings, bus, backoffBaseMs: 50, backoffCapMs: 400, heartbeatIntervalMs: HEARTBEAT_MS, heartbeatDeadAfterMs: DEAD_AFTER_MS });
    manager.start();
    flow = new OffloaderPairingFlow({ identity: state.identity, store: state.pairings, bus, retryBaseMs: 50, retryCapMs: 400 });
    const events = captureEvents(bus, ['peer_link_opened', 'peer_link_closed']);

    const info = await flow.preview('127.0.0.1', port);
    expect(info.pin).toBe(receiverPin);

    // Window closed: refused, nothing stored.
    await expect(flow.request({ host: '127.0.0.1', port, previewedPin: info.pin, receiverLabel: 'Child', label: 'Test process' })).rejects.toMatchObject({ code: 'no_pairing_window' });
    send('open-window');
    await next('pairing_window_changed', (l) => l.open === true);
    const res = await flow.request({ host: '127.0.0.1', port, previewedPin: info.pin, receiverLabel: 'Child', label: 'Test process' });
    expect(res.status).toBe('pending');
    const req = await next('pair_request_received');
    expect(req).toMatchObject({ dashboard_id: state.dashboardId, pin: state.identity.pin, label: 'Test process', peer_ip: '127.0.0.1' });

    send(`approve ${state.dashboardId}`);
    await waitUntil(() => events.find((e) => e.name === 'peer_link_opened'), { timeoutMs: 10_000, what: 'peer_link_opened' });
    expect(must(events[0]).payload).toMatchObject({ pin: receiverPin, label: 'Child', esphome_version: 'demo' });
    expect(state.pairings.get(receiverPin)).toMatchObject({ status: 'approved', esphome_version: 'demo' });
    await next('session_opened', (l) => l.dashboard_id === state.dashboardId);

    // Stay up for many heartbeat periods (3× the dead-after time, ~24 intervals).
    await sleep(DEAD_AFTER_MS * 3);
    const session = manager.getSession(receiverPin);
    expect(session.closed).toBe(false);
    const ours = (session as unknown as NoisePeerSession).stats;
    expect(ours.pingsSent).toBeGreaterThanOrEqual(10);
    expect(ours.pongsReceived).toBeGreaterThanOrEqual(10);
    const before = lines.length;
    send('sessions');
    const theirs = await waitUntil(() => lines.slice(before).find((l) => l.event === 'sessions'));
    const list = theirs.list as Array<{ dashboard_id: string; pin: string; closed: boolean; stats: { pingsSent: number; pongsReceived: number } }>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ dashboard_id: state.dashboardId, pin: state.identity.pin, closed: false });
    expect(must(list[0]).stats.pingsSent).toBeGreaterThanOrEqual(10);
    expect(must(list[0]).stats.pongsReceived).toBeGreaterThanOrEqual(10);
    expect(events.filter((e) => e.name === 'peer_link_closed')).toEqual([]);

    // Offloader stops: the receiver sees client_stopped. Then the receiver quits cleanly.
    await manager.stop();
    await next('session_closed', (l) => l.reason === 'client_stopped');
    send('quit');
    const code = await new Promise<number | null>((r) => (child!.exitCode !== null ? r(child!.exitCode) : child!.once('exit', (c) => r(c))));
    expect(code).toBe(0);
    expect(lines.some((l) => l.event === 'error')).toBe(false);
  }, 60_000);
});

// A minimal stand-alone peer-link receiver (no job engine): binds the listener and speaks JSON
// lines so a test or a person can drive pairing from another process.
//
//   node --import tsx main/core/peer-link/demo-build-server.ts --data-dir /tmp/rx [--host 127.0.0.1]
//        [--port 6055] [--heartbeat-ms 30000] [--dead-after-ms 90000] [--key-mode]
//
// stdout: one JSON object per line ({"event":"listening",...}, pair_request_received,
// session_opened, session_closed, sessions, error). stdin commands: open-window, close-window,
// approve <dashboard_id>, reject <dashboard_id>, sessions, quit.
import { createInterface } from 'node:readline';
import { EventBus } from '../events';
import { emojiNames, groupedHex } from './fingerprint';
import { startPeerLinkListener } from './listener';
import { ReceiverPairing } from './build-server-pairing';
import { NoisePeerSession } from './session';
import { openPeerLinkState } from './state';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function out(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(): Promise<void> {
  const dataDir = arg('data-dir');
  if (!dataDir) throw new Error('--data-dir is required');
  const bus = new EventBus();
  const state = await openPeerLinkState(dataDir, { report: (m) => out({ event: 'warning', message: m }) });
  const pairing = new ReceiverPairing({ store: state.receiverPeers, bus, report: (m) => out({ event: 'warning', message: m }) });
  const num = (name: string) => (arg(name) !== undefined ? Number(arg(name)) : undefined);
  const listener = await startPeerLinkListener({
    identity: state.identity,
    pairing,
    bus,
    host: arg('host'),
    port: num('port'),
    heartbeatIntervalMs: num('heartbeat-ms'),
    heartbeatDeadAfterMs: num('dead-after-ms'),
    esphomeVersion: () => 'demo',
    friendlyName: () => 'Kiln demo receiver',
  });
  bus.on('pair_request_received', (e) => out({ event: 'pair_request_received', ...e }));
  bus.on('pairing_window_changed', (e) => out({ event: 'pairing_window_changed', ...e }));
  bus.on('receiver_session_opened', (e) => out({ event: 'session_opened', ...e }));
  bus.on('receiver_session_closed', (e) => out({ event: 'session_closed', ...e }));
  const key = process.argv.includes('--key-mode') ? pairing.armKeyMode() : undefined;
  out({ event: 'listening', port: listener.port, pin: state.identity.pin, hex: groupedHex(state.identity.pin), emoji: emojiNames(state.identity.pin), pairing_key: key });

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await listener.close();
    await state.receiverPeers.close();
    pairing.closeWindow();
    out({ event: 'stopped' });
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, id = ''] = line.trim().split(/\s+/);
    void (async () => {
      try {
        switch (cmd) {
          case 'open-window':
            pairing.openWindow('demo');
            break;
          case 'close-window':
            pairing.closeWindow();
            break;
          case 'approve':
            out({ event: 'approved', peer: { ...(await pairing.approve(id)), static_x25519_pub: undefined } });
            break;
          case 'reject':
            pairing.reject(id);
            out({ event: 'rejected', dashboard_id: id });
            break;
          case 'sessions':
            out({
              event: 'sessions',
              list: listener.sessions.list().map((s) => ({ dashboard_id: s.dashboardId, pin: s.pin, closed: s.closed, stats: s instanceof NoisePeerSession ? s.stats : null })),
            });
            break;
          case 'quit':
            await stop(0);
            break;
          case '':
          case undefined:
            break;
          default:
            out({ event: 'error', message: `unknown command ${cmd}` });
        }
      } catch (err) {
        out({ event: 'error', message: (err as Error).message });
      }
    })();
  });
  rl.on('close', () => void stop(0));
}

main().catch((err) => {
  out({ event: 'error', message: (err as Error).message });
  process.exit(1);
});

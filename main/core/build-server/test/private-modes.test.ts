// Issue 11 defect 4: a sender's sources and secrets on the build server are private to the
// build server's user, whatever the umask and whatever modes the bundle's tar headers carry.
// Real receiver stack and real files; the umask is set to the common 022 for the test.
import { waitUntil } from '../../../../test/support/wait-until';
import { lstatSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { submitJob } from '../../peer-link/sender-jobs';
import { openPeerLinkState } from '../../peer-link/state';
import { startHeadlessReceiver } from '../../../headless/cli/receiver-command';
import { SIM, startStack, type ReceiverStack } from './harness';
import { bundleFor } from './tar-helpers';

let stack: ReceiverStack | null = null;
let oldUmask = 0;
const tmps: string[] = [];
beforeEach(() => {
  oldUmask = process.umask(0o022);
});
afterEach(async () => {
  process.umask(oldUmask);
  await stack?.stop();
  stack = null;
  for (const d of tmps.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Every path below `root` (root included) whose mode lets group or others in. */
function widePaths(root: string, skip: (path: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    if (skip(p)) return;
    const st = lstatSync(p);
    if ((st.mode & 0o077) !== 0) out.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(root);
  return out;
}

describe('private modes on the build server', () => {
  it('workspace dirs are 0700 and extracted files 0600 even when the tar says 0777/0666', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const bundle = await bundleFor('kitchen.yaml', 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n', [
      { name: 'secrets.yaml', data: 'wifi_password: hunter2\n', mode: 0o666 },
      { name: 'common/wifi.yaml', data: 'wifi: {}\n', mode: 0o777 },
    ]);
    const ack = await submitJob(s.session, { jobId: 'modes0000001', configurationFilename: 'kitchen.yaml', target: 'compile', bundle });
    expect(ack.accepted).toBe(true);
    await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === 'modes0000001'), { timeoutMs: 10_000, what: 'job enqueued' });
    const root = join(stack.dir, 'remote_builds');
    const ws = join(root, s.key);
    expect(readdirSync(join(ws, 'kitchen')).sort()).toEqual(['common', 'kitchen.yaml', 'manifest.json', 'secrets.yaml']);
    // What esphome itself writes under .esphome follows its own umask; the 0700 directories
    // above it keep other users out, so only Kiln-made entries are checked below it.
    expect(widePaths(root, (p) => p.includes(`${s.key}/.esphome/`))).toEqual([]);
    expect(lstatSync(join(ws, '.esphome')).mode & 0o777).toBe(0o700);
  });

  it('peer-link state (identity, receiver-peers.json, pairings) is 0600 in 0700 dirs', async () => {
    const base = await mkdtemp(join(tmpdir(), 'kiln-modes-'));
    tmps.push(base);
    const dataDir = join(base, 'a', 'b');
    const state = await openPeerLinkState(dataDir, { bus: new EventBus(), report: () => undefined });
    await state.receiverPeers.close();
    await state.pairings.flush();
    expect(readdirSync(dataDir).length).toBeGreaterThan(1);
    expect(widePaths(join(base, 'a'))).toEqual([]);
  });

  it('kiln receiver creates its data dir 0700', async () => {
    const base = await mkdtemp(join(tmpdir(), 'kiln-modes-'));
    tmps.push(base);
    const dataDir = join(base, 'srv', 'receiver');
    const lines: string[] = [];
    const rx = await startHeadlessReceiver(
      { dataDir, port: 0, host: '127.0.0.1', esphome: [process.execPath, SIM], mdns: false },
      { out: (l) => lines.push(l), err: (l) => lines.push(l) },
    );
    try {
      expect(widePaths(join(base, 'srv'), (p) => p.endsWith('/logs') || p.endsWith('jobs.json'))).toEqual([]);
    } finally {
      await rx.stop();
    }
  });
});

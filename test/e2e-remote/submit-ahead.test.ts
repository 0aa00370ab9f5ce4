// Submit ahead and steal back (issue 18 §2) with REAL processes: two `kiln receiver` children
// compiling with the esphome simulator (server H never finishes a build — `ESPHOME_SIM_SCENARIO=
// hang` —, server N builds normally) and a sender composed by createApp in this process. A job
// submitted ahead waits in a busy server's own queue:
//   - cancelled there, the server never runs it (its simulator log has no compile of it);
//   - a server that comes free takes it back (cancelled there, built on the free one);
//   - the busy server SIGKILLed (while the job waits in its queue, and while the previous job's
//     artifacts are still downloading) → every job is re-routed and completes; none stays RUNNING.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type KilnApp } from '../../main/core/app';
import type { FirmwareJob } from '../../main/core/jobs/model';
import { EventBus } from '../../main/core/events';
import { OffloaderPairingFlow } from '../../main/core/peer-link/sender-pairing';
import { openPeerLinkState } from '../../main/core/peer-link/state';
import { waitUntil } from '../support/wait-until';
import { isAlive, killQuietly, readSimLog, REPO_ROOT, SIM, startReceiver, type BuildServerChild } from './helpers';

const KEY_H = 'ABCD-EFGH-JKMN-PQRS';
const KEY_N = 'TVWX-YZ23-4567-89AB';

let root: string;
let configDir: string;
let hLog: string;
let nLog: string;
let h: BuildServerChild;
let n: BuildServerChild;
let app: KilnApp;
const savedEnv = { ...process.env };

async function pairByKey(senderData: string, port: number, key: string, label: string): Promise<void> {
  const bus = new EventBus();
  const state = await openPeerLinkState(senderData, { bus, report: () => undefined });
  try {
    const flow = new OffloaderPairingFlow({ identity: state.identity, store: state.pairings, bus, timeoutMs: 10_000 });
    const p = await flow.preview('127.0.0.1', port);
    const r = await flow.request({ host: '127.0.0.1', port, previewedPin: p.pin, receiverLabel: label, label: 'sender', pairingKey: key });
    if (r.status !== 'approved') throw new Error(`pairing with ${label} is ${r.status}`);
  } finally {
    await state.pairings.flush();
    await state.receiverPeers.close();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-e2e-ahead-'));
  configDir = join(root, 'config');
  hLog = join(root, 'h-sim.log');
  nLog = join(root, 'n-sim.log');
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
  process.env.ESPHOME_SIM_SPEED = '0';
  process.env.ESPHOME_SIM_LOG = join(root, 'sender-sim.log');
  process.env.ESPHOME_NOGITIGNORE = '1';
  [h, n] = await Promise.all([
    startReceiver(join(root, 'recv-h'), KEY_H, { ESPHOME_SIM_LOG: hLog, ESPHOME_SIM_SCENARIO: 'hang' }),
    startReceiver(join(root, 'recv-n'), KEY_N, { ESPHOME_SIM_LOG: nLog }),
  ]);
  const senderData = join(root, 'sender-data');
  // H is paired first: the oldest pairing wins ties.
  await pairByKey(senderData, h.ready.port, KEY_H, 'server-h');
  await pairByKey(senderData, n.ready.port, KEY_N, 'server-n');
  app = await createApp({
    configDir,
    dataDir: senderData,
    esphome: [process.execPath, SIM],
    report: () => undefined,
    peerLink: { buildServerRole: false, startupGraceMs: 0, backoffBaseMs: 100, backoffCapMs: 500 },
  });
  await waitUntil(() => [h.ready.pin, n.ready.pin].every((p) => app.peerLink!.clients.connectedPins().includes(p)), { timeoutMs: 20_000, what: 'sender sessions' });
}, 90_000);

afterAll(async () => {
  await app?.stop().catch(() => undefined);
  for (const r of [h, n]) {
    if (r && r.proc.exitCode === null && r.proc.signalCode === null) {
      r.proc.kill('SIGCONT');
      r.proc.kill('SIGTERM');
      await Promise.race([r.exit, new Promise((res) => setTimeout(res, 5000))]);
      killQuietly(r.proc.pid!);
    }
  }
  for (const log of [hLog, nLog, join(root, 'sender-sim.log')]) for (const e of readSimLog(log)) if (isAlive(e.pid)) killQuietly(e.pid);
  process.env = savedEnv;
  await rm(root, { recursive: true, force: true });
}, 30_000);

const pool = () => app.peerLink!.remoteBuilds.pool;
const job = (id: string): FirmwareJob => app.engine.getJob(id)!;
const compilesOf = (log: string, yaml: string) => readSimLog(log).filter((e) => e.role === 'main' && e.argv?.includes('compile') && e.argv.some((a) => a.endsWith(`/${yaml}`)));

async function device(name: string, extra = ''): Promise<string> {
  const base = await readFile(join(configDir, 'living-room.yaml'), 'utf8');
  await writeFile(join(configDir, `${name}.yaml`), `${base.replace('name: ${device}', `name: ${name}`)}\n${extra}`);
  return `${name}.yaml`;
}

function waitJob(id: string, timeoutMs = 60_000): Promise<FirmwareJob> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    app.engine.whenDone(id).finally(() => clearTimeout(t)),
    new Promise<FirmwareJob>((_, reject) => {
      t = setTimeout(() => reject(new Error(`job ${id} not done after ${timeoutMs} ms: ${JSON.stringify({ ...job(id), output: job(id)?.output.slice(-5) })}`)), timeoutMs);
    }),
  ]);
}

/** The job waits in `pin`'s queue, accepted there and not started. */
function waitingAheadOn(id: string, pin: string): Promise<unknown> {
  return waitUntil(() => pool().aheadJobs().some((a) => a.jobId === id && a.pin === pin && a.state === 'waiting'), {
    timeoutMs: 30_000,
    what: () => `${id} waiting ahead on ${pin.slice(0, 8)} (ahead: ${JSON.stringify(pool().aheadJobs().map((a) => [a.jobId, a.pin.slice(0, 8), a.state]))}; job ${JSON.stringify({ ...job(id), output: undefined })})`,
  });
}

/** Enabling waits for the session: a compile queued before it would be picked for this computer. */
async function setEnabled(pin: string, enabled: boolean): Promise<void> {
  await app.peerLink!.state.pairings.setEnabled(pin, enabled);
  if (enabled) await waitUntil(() => app.peerLink!.clients.connectedPins().includes(pin), { timeoutMs: 20_000, what: `session with ${pin.slice(0, 8)}` });
}

async function cancelAndSettle(id: string): Promise<void> {
  await app.engine.cancel(id);
  expect((await waitJob(id)).status).toBe('cancelled');
}

describe('submit ahead with real build servers', () => {
  it('cancel of a job waiting in a busy server\'s queue: cancel_job, and the server never runs it', async () => {
    await setEnabled(n.ready.pin, false);
    const a = app.engine.compile({ configuration: await device('ca-a') });
    await waitUntil(() => compilesOf(hLog, 'ca-a.yaml').length === 1, { timeoutMs: 30_000, what: 'a building on H' });
    const b = app.engine.compile({ configuration: await device('ca-b') });
    await waitingAheadOn(b.job_id, h.ready.pin);
    expect(job(b.job_id)).toMatchObject({ status: 'running', source: 'remote', source_pin_sha256: h.ready.pin });
    await cancelAndSettle(b.job_id);
    // H's build of a ends; had b still been in its queue, H would start it now.
    await cancelAndSettle(a.job_id);
    await waitUntil(() => pool().queueStatusOf(h.ready.pin)?.idle === true, { timeoutMs: 20_000, what: 'H idle' });
    expect(compilesOf(hLog, 'ca-b.yaml')).toHaveLength(0);
    expect(pool().aheadJobs()).toHaveLength(0);
  }, 120_000);

  it('steal back: a server that comes free takes the job still waiting in the busy server\'s queue', async () => {
    await setEnabled(n.ready.pin, false);
    const a = app.engine.compile({ configuration: await device('st-a') });
    await waitUntil(() => compilesOf(hLog, 'st-a.yaml').length === 1, { timeoutMs: 30_000, what: 'a building on H' });
    const c = app.engine.compile({ configuration: await device('st-c') });
    await waitingAheadOn(c.job_id, h.ready.pin);
    await setEnabled(n.ready.pin, true); // N is free now, nothing waits here
    const done = await waitJob(c.job_id);
    expect(done).toMatchObject({ status: 'completed', source: 'remote', source_pin_sha256: n.ready.pin });
    expect((await app.engine.readLog(c.job_id)).join('')).toContain('had not started it yet; moving it to a build server that is free now');
    expect(compilesOf(nLog, 'st-c.yaml')).toHaveLength(1);
    expect(compilesOf(hLog, 'st-c.yaml')).toHaveLength(0);
    await cancelAndSettle(a.job_id);
    await waitUntil(() => pool().queueStatusOf(h.ready.pin)?.idle === true, { timeoutMs: 20_000, what: 'H idle' });
    expect(compilesOf(hLog, 'st-c.yaml')).toHaveLength(0);
  }, 120_000);

  it('N SIGKILLed while the previous job\'s artifacts download and the next waits or starts there → all re-routed here, none left RUNNING', async () => {
    await setEnabled(h.ready.pin, false);
    await setEnabled(n.ready.pin, true);
    const a = app.engine.compile({ configuration: await device('dl-a', '# sim-build-ms: 8000\n') });
    await waitUntil(() => compilesOf(nLog, 'dl-a.yaml').length === 1, { timeoutMs: 30_000, what: 'a building on N' });
    const b = app.engine.compile({ configuration: await device('dl-b') });
    await waitingAheadOn(b.job_id, n.ready.pin);
    const c = app.engine.compile({ configuration: await device('dl-c') });
    // N stops the moment a's build is reported complete: the sender's download of a's artifacts
    // is then on its way and can never be answered; b has been handed N's slot.
    const off = app.bus.on('offloader_job_state_changed', (f) => {
      if (f.job_id === a.job_id && f.status === 'completed') n.proc.kill('SIGSTOP');
    });
    try {
      await waitUntil(() => pool().inFlightJobs().some((f) => f.jobId === b.job_id && f.pin === n.ready.pin), { timeoutMs: 60_000, what: 'a complete on N, b promoted' });
    } finally {
      off();
    }
    expect(job(a.job_id).status).toBe('running'); // still downloading
    n.proc.kill('SIGKILL');
    for (const id of [a.job_id, b.job_id, c.job_id]) {
      const d = await waitJob(id, 90_000);
      expect(`${[a, b, c].findIndex((j) => j.job_id === id)} ${d.status} ${d.source} ${d.error ?? ''}`).toMatch(/^\d completed local $/);
    }
    for (const id of [a.job_id, b.job_id]) expect((await app.engine.readLog(id)).join('')).toContain(' mid-build (');
    expect(app.engine.getJobs({ status: 'running' })).toHaveLength(0);
  }, 180_000);

  it('H SIGKILLed while a job waits in its queue → both its jobs re-routed here and completed', async () => {
    await setEnabled(h.ready.pin, true);
    const a = app.engine.compile({ configuration: await device('kq-a') });
    await waitUntil(() => compilesOf(hLog, 'kq-a.yaml').length === 1, { timeoutMs: 30_000, what: 'a building on H' });
    const b = app.engine.compile({ configuration: await device('kq-b') });
    await waitingAheadOn(b.job_id, h.ready.pin);
    h.proc.kill('SIGKILL');
    for (const id of [a.job_id, b.job_id]) {
      const d = await waitJob(id, 60_000);
      expect(d).toMatchObject({ status: 'completed', source: 'local' });
      expect((await app.engine.readLog(id)).join('')).toContain(' mid-build (');
    }
    expect(compilesOf(hLog, 'kq-b.yaml')).toHaveLength(0);
    expect(app.engine.getJobs({ status: 'running' })).toHaveLength(0);
    expect(pool().aheadJobs()).toHaveLength(0);
  }, 120_000);
});

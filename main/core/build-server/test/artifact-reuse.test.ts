// Issue 15, build-server side: an identical resubmission from the same sender for the same ESPHome
// version is answered with the stored artifacts at once (no esphome process), a plain-words line
// in its log, and a normal artifact download the sender stages. Everything else rebuilds: a
// changed bundle, another sender's identical bundle, another ESPHome version. Real parts: the
// BuildServer on a real peer-link listener, the real JobEngine running the esphome simulator
// (its ESPHOME_SIM_LOG counts compiles), bundles built by the simulator.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../esphome/bundle';
import { outputLines } from '../../esphome/line-splitter';
import { downloadArtifacts, materializeArtifacts, submitJob } from '../../peer-link/sender-jobs';
import { agoText, bundleContentDigest, REUSE_DIR } from '../artifact-reuse';
import { REPO_ROOT, SIM, startStack, type ReceiverStack, type SenderHandle } from './harness';
import { waitUntil } from '../../../../test/support/wait-until';

let stack: ReceiverStack | null = null;
let root: string;
let simLog: string;
let version = '2026.11.1';
const logLines: string[] = [];

const compiles = async (): Promise<number> =>
  (await readFile(simLog, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { role: string; argv?: string[] })
    .filter((e) => e.role === 'main' && e.argv?.includes('compile')).length;

async function bundleOf(dir: string, name = 'living-room.yaml'): Promise<Buffer> {
  return buildBundle([process.execPath, SIM], join(dir, name), join(dir, '.bundles', `${name}-${Math.random().toString(16).slice(2)}.tar.gz`));
}

const terminal = (s: SenderHandle, jobId: string) =>
  s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === jobId && ['completed', 'failed', 'cancelled'].includes(f.status as string), 30_000, `terminal state of ${jobId}`);
const outputOf = (s: SenderHandle, jobId: string): string => s.of('job_output', jobId).flatMap((f) => outputLines(f.line as string)).join('');

async function storedPacks(s: SenderHandle): Promise<string[]> {
  return (await readdir(join(stack!.dir, 'remote_builds', s.key, REUSE_DIR)).catch(() => [] as string[])).filter((n) => n.endsWith('.tar.gz'));
}

/** Submits, waits for the terminal state and downloads the artifacts. */
async function build(s: SenderHandle, jobId: string, bundle: Buffer): Promise<{ status: string; output: string; tarball: Buffer; states: string[] }> {
  const ack = await submitJob(s.session, { jobId, configurationFilename: 'living-room.yaml', target: 'compile', bundle, deviceName: 'living-room', targetEsphomeVersion: version });
  expect(ack).toEqual({ jobId, accepted: true });
  const end = await terminal(s, jobId);
  expect(end.status, outputOf(s, jobId)).toBe('completed');
  const dl = await downloadArtifacts(s.session, jobId);
  return { status: end.status as string, output: outputOf(s, jobId), tarball: dl.tarball, states: s.of('job_state_changed', jobId).map((f) => f.status as string) };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-reuse-'));
  simLog = join(root, 'sim.log');
  process.env.ESPHOME_SIM_SPEED = '0';
  process.env.ESPHOME_NOGITIGNORE = '1';
  process.env.ESPHOME_SIM_LOG = simLog;
  for (const d of ['a', 'changed']) await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), join(root, d), { recursive: true });
  const yaml = join(root, 'changed', 'living-room.yaml');
  await writeFile(yaml, `${await readFile(yaml, 'utf8')}\n# an edit\n`);
});
afterAll(async () => {
  delete process.env.ESPHOME_SIM_LOG;
  await rm(root, { recursive: true, force: true });
});
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

describe('build server: stored builds for an identical resubmission', () => {
  it('same sender + identical bundle + same ESPHome: completed at once with the stored artifacts, no compile; the sender stages them', async () => {
    stack = await startStack({ receiver: { esphomeVersion: () => version, log: (m) => logLines.push(m) } });
    const s = await stack.connect('Alice laptop');
    const first = await build(s, 'reuse0000001', await bundleOf(join(root, 'a')));
    expect(first.states).toEqual(['running', 'completed']);
    await waitUntil(async () => (await storedPacks(s)).length === 1, { timeoutMs: 10_000, what: 'the build stored for reuse' });
    const before = await compiles();
    expect(before).toBe(1);

    // A fresh bundle of the same files (new archive bytes, same content).
    const again = await build(s, 'reuse0000002', await bundleOf(join(root, 'a')));
    expect(await compiles()).toBe(before); // no esphome compile process started
    expect(again.states).toEqual(['completed']);
    expect(again.output).toMatch(/^INFO Identical configuration built here (just now|\d+ s ago) with ESPHome 2026\.11\.1 — sending the stored firmware, no rebuild\n$/);
    expect(logLines.some((l) => l.includes('reuse0000002') && l.includes('Identical configuration built here'))).toBe(true);
    expect(createHash('sha256').update(again.tarball).digest('hex')).toBe(createHash('sha256').update(first.tarball).digest('hex'));

    // The sender stages them like any remote build's artifacts.
    const senderCfg = join(root, 'a');
    const m = await materializeArtifacts({ tarball: again.tarball, configDir: senderCfg, configuration: 'living-room.yaml' });
    expect((await stat(m.firmwareBinPath)).size).toBeGreaterThan(100_000);

    // Private: the stored pack is 0600 in a 0700 directory inside the sender's workspace.
    const dir = join(stack.dir, 'remote_builds', s.key, REUSE_DIR);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const f of await storedPacks(s)) expect((await stat(join(dir, f))).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('a changed bundle, another sender and another ESPHome version each rebuild', async () => {
    version = '2026.11.1';
    stack = await startStack({ receiver: { esphomeVersion: () => version } });
    const alice = await stack.connect('Alice');
    const bob = await stack.connect('Bob');
    const bundle = await bundleOf(join(root, 'a'));
    await build(alice, 'iso000000001', bundle);
    await waitUntil(async () => (await storedPacks(alice)).length === 1, { timeoutMs: 10_000, what: 'stored' });
    let n = await compiles();

    // Another sender's identical bundle: isolation, it builds.
    const other = await build(bob, 'iso000000002', bundle);
    expect(other.states).toEqual(['running', 'completed']);
    expect(other.output).not.toContain('Identical configuration');
    expect(await compiles()).toBe(++n);

    // A changed bundle: builds.
    const changed = await build(alice, 'iso000000003', await bundleOf(join(root, 'changed')));
    expect(changed.states).toEqual(['running', 'completed']);
    expect(await compiles()).toBe(++n);

    // The original again: still stored (last K = 3), served.
    const back = await build(alice, 'iso000000004', bundle);
    expect(back.states).toEqual(['completed']);
    expect(await compiles()).toBe(n);

    // The build server's ESPHome changed: builds.
    version = '2026.12.0';
    const upgraded = await build(alice, 'iso000000005', bundle);
    expect(upgraded.states).toEqual(['running', 'completed']);
    expect(upgraded.output).not.toContain('Identical configuration');
    expect(await compiles()).toBe(++n);
  }, 90_000);

  it('kept builds 0 (`kiln receiver --keep-builds 0`): an identical resubmission always builds, nothing stored', async () => {
    version = '2026.11.1';
    stack = await startStack({ receiver: { esphomeVersion: () => version, reuseKeepPerSender: 0 } });
    const s = await stack.connect('Dave');
    const bundle = await bundleOf(join(root, 'a'));
    const n = await compiles();
    await build(s, 'off000000001', bundle);
    const again = await build(s, 'off000000002', bundle);
    expect(again.states).toEqual(['running', 'completed']);
    expect(again.output).not.toContain('Identical configuration');
    expect(await compiles()).toBe(n + 2);
    expect(await storedPacks(s)).toEqual([]);
  }, 60_000);

  it('keeps only the last K builds per sender; leftovers of a previous run are removed at start', async () => {
    version = '2026.11.1';
    stack = await startStack({ receiver: { esphomeVersion: () => version, reuseKeepPerSender: 1 } });
    const s = await stack.connect('Carol');
    await build(s, 'k00000000001', await bundleOf(join(root, 'a')));
    await waitUntil(async () => (await storedPacks(s)).length === 1, { timeoutMs: 10_000, what: 'stored' });
    const firstPack = (await storedPacks(s))[0];
    await build(s, 'k00000000002', await bundleOf(join(root, 'changed')));
    // The new pack is renamed into place before the oldest is removed: wait for both steps (a
    // listing between them holds two packs).
    await waitUntil(async () => {
      const packs = await storedPacks(s);
      return packs.length === 1 && packs[0] !== firstPack;
    }, { timeoutMs: 10_000, what: 'the newer build replacing the older' });
    expect(await storedPacks(s)).toHaveLength(1);
    // The older one is gone: the first bundle builds again.
    const n = await compiles();
    const again = await build(s, 'k00000000003', await bundleOf(join(root, 'a')));
    expect(again.states).toEqual(['running', 'completed']);
    expect(await compiles()).toBe(n + 1);

    // A restart (the role stopped, a new BuildServer on the same data dir) does not trust packs from before.
    const { BuildServer } = await import('../build-server');
    await waitUntil(async () => (await storedPacks(s)).join() === firstPack, { timeoutMs: 10_000, what: 'the first bundle stored again' });
    await stack.receiver.stop(); // waits for any store being written
    expect(await storedPacks(s)).toEqual([firstPack]);
    const fresh = new BuildServer({ engine: stack.engine, sessions: stack.listener.sessions, jobOwners: stack.jobOwners, dataDir: stack.dir });
    await waitUntil(async () => (await storedPacks(s)).length === 0, { timeoutMs: 10_000, what: 'leftover packs removed at start' });
    await fresh.stop();
  }, 90_000);
});

describe('bundle content digest', () => {
  it('depends on names and contents, not on member order', () => {
    const a = { name: 'a.yaml', size: 1, sha256: 'aa' };
    const b = { name: 'b.yaml', size: 1, sha256: 'bb' };
    expect(bundleContentDigest('a.yaml', [a, b])).toBe(bundleContentDigest('a.yaml', [b, a]));
    expect(bundleContentDigest('a.yaml', [a, b])).not.toBe(bundleContentDigest('a.yaml', [a, { ...b, sha256: 'bc' }]));
    expect(bundleContentDigest('a.yaml', [a, b])).not.toBe(bundleContentDigest('b.yaml', [a, b]));
    expect(agoText(3 * 60_000)).toBe('3 min ago');
  });
});

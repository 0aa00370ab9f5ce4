// End to end with real parts: a sender's bundle (built by the esphome simulator) goes over a real
// peer-link session, compiles with the simulator on the receiver's engine, streams back and its
// artifacts are downloaded, verified and materialised.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../esphome/bundle';
import { outputLines } from '../../esphome/line-splitter';
import { cancelJob, downloadArtifacts, materializeArtifacts, submitJob } from '../../peer-link/sender-jobs';
import { APP_FRAME_MAX_BYTES } from '../../peer-link/transfer';
import { createJob } from '../../jobs/model';
import { extractTarGzSafely } from '../safe-tar';
import { BuildServer } from '../build-server';
import { SIM, startStack, type ReceiverStack, type SenderHandle } from './harness';
import { makeSenderDir } from './sender-dir';
import { waitUntil } from '../../../../test/support/wait-until';

let stack: ReceiverStack | null = null;
let senderDir: string;
const bundles = new Map<string, Buffer>();

async function bundle(name: string): Promise<Buffer> {
  const cached = bundles.get(name);
  if (cached) return cached;
  const b = await buildBundle([process.execPath, SIM], join(senderDir, name), join(senderDir, '.bundles', `${name}.tar.gz`));
  bundles.set(name, b);
  return b;
}

beforeAll(async () => {
  senderDir = await makeSenderDir();
});
afterAll(async () => {
  await rm(senderDir, { recursive: true, force: true });
});
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

const states = (s: SenderHandle, jobId: string) => s.of('job_state_changed', jobId).map((f) => f.status);
const terminal = (s: SenderHandle, jobId: string) =>
  s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === jobId && ['completed', 'failed', 'cancelled'].includes(f.status as string), 30_000, `terminal state of ${jobId}`);

/** PIDs whose command line mentions `needle` (the simulator runs the workspace YAML). */
function pidsMentioning(needle: string): number[] {
  const out = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .filter((l) => l.includes(needle) && !l.includes('ps -eo'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('submit → compile → stream → download', () => {
  it('delivers running, every output line, completed, and the simulator’s exact artifacts', async () => {
    stack = await startStack();
    const s = await stack.connect('Alice laptop');
    const jobId = 'a1b2c3d4e5f6';
    const ack = await submitJob(s.session, { jobId, configurationFilename: 'living-room.yaml', target: 'compile', bundle: await bundle('living-room.yaml'), deviceName: 'living-room', deviceFriendlyName: 'Living Room' });
    expect(ack).toEqual({ jobId, accepted: true });
    const end = await terminal(s, jobId);
    expect(end).toEqual({ type: 'job_state_changed', job_id: jobId, status: 'completed', error_message: '' });
    expect(states(s, jobId)).toEqual(['running', 'completed']);

    // The receiver's job: "from Alice laptop", per-sender data dir, ran the extracted YAML.
    const job = stack.engine.getJobs().find((j) => j.remote_job_id === jobId)!;
    expect(job).toMatchObject({ status: 'completed', remote_peer: s.dashboardId, remote_peer_label: 'Alice laptop', device_name: 'living-room', device_friendly_name: 'Living Room' });
    const senderWs = join(stack.dir, 'remote_builds', s.key);
    expect(job.configuration).toBe(`remote_builds/${s.key}/living-room/living-room.yaml`);

    // Output: every line the receiver recorded, in order, with terminators, under the sender's job_id.
    const lines = s.of('job_output', jobId);
    // Count lines, not frames: lines printed together may share one frame (output-pump.ts).
    expect(lines.flatMap((f) => outputLines(f.line as string)).length).toBeGreaterThan(10);
    expect(lines.every((f) => f.stream === 'stdout' && /[\r\n]$/.test(f.line as string))).toBe(true);
    const log = await stack.engine.readLog(job.job_id);
    // Lines printed together may share a frame (output-pump.ts): split back, they are the log.
    expect(lines.flatMap((f) => outputLines(f.line as string))).toEqual(log);
    expect(log.join('')).toContain('Successfully compiled program.');
    // the frames of one job: no `queued`, no receiver job id on the wire
    expect(s.frames.filter((f) => f.type === 'job_state_changed').every((f) => f.status !== 'queued')).toBe(true);
    expect(JSON.stringify(s.frames)).not.toContain(job.job_id);

    // Download: verified tarball whose firmware equals what the simulator wrote.
    const dl = await downloadArtifacts(s.session, jobId);
    expect(dl.firmwareOffset).toBe('0x10000');
    const x = await mkdtemp(join(tmpdir(), 'kiln-dl-'));
    try {
      const members = (await extractTarGzSafely(dl.tarball, x, { maxUncompressedBytes: 1 << 28 })).map((m) => m.name);
      expect(members.slice(0, 4)).toEqual(['storage.json', 'idedata.json', 'platformio.ini', 'build_info.json']);
      expect(members).toContain('.pioenvs/living-room/firmware.bin');
      const buildDir = join(senderWs, '.esphome', 'build', 'living-room');
      for (const f of ['firmware.bin', 'firmware.factory.bin', 'firmware.ota.bin', 'bootloader.bin', 'partitions.bin', 'firmware.elf']) {
        const got = await readFile(join(x, '.pioenvs', 'living-room', f));
        const wrote = await readFile(join(buildDir, '.pioenvs', 'living-room', f));
        expect(got.equals(wrote)).toBe(true);
      }
      expect((await readFile(join(buildDir, '.pioenvs', 'living-room', 'firmware.bin'))).length).toBeGreaterThan(100_000);
    } finally {
      await rm(x, { recursive: true, force: true });
    }

    // Materialise on the sender and flash with a plain local `esphome upload`.
    const m = await materializeArtifacts({ tarball: dl.tarball, configDir: senderDir, configuration: 'living-room.yaml' });
    expect(m.firmwareBinPath).toBe(join(senderDir, '.esphome', 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.bin'));
    const up = spawnSync(process.execPath, [SIM, '--dashboard', 'upload', join(senderDir, 'living-room.yaml'), '--device', '192.168.1.50'], {
      encoding: 'utf8',
      env: { ...process.env, ESPHOME_SIM_SPEED: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect({ status: up.status, out: up.stdout + up.stderr }).toMatchObject({ status: 0 });
  });

  it('a failing compile arrives as failed with the error message', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await submitJob(s.session, { jobId: 'bad000000000', configurationFilename: 'broken-lambda.yaml', target: 'compile', bundle: await bundle('broken-lambda.yaml') });
    const end = await terminal(s, 'bad000000000');
    expect(end.status).toBe('failed');
    expect(typeof end.error_message).toBe('string');
    expect((end.error_message as string).length).toBeGreaterThan(0);
    expect(states(s, 'bad000000000')).toEqual(['running', 'failed']);
  });

  it('a clean target runs `esphome clean` in the workspace', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await submitJob(s.session, { jobId: 'cl0000000000', configurationFilename: 'living-room.yaml', target: 'clean', bundle: await bundle('living-room.yaml') });
    const clEnd = await terminal(s, 'cl0000000000');
    expect(clEnd.status, s.of('job_output', 'cl0000000000').map((f) => f.line).join('')).toBe('completed');
    expect(stack.engine.getJobs().find((j) => j.remote_job_id === 'cl0000000000')?.job_type).toBe('clean');
  });
});

describe('cancel', () => {
  it('cancel_job mid-compile → cancelled; the simulator process is gone', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const jobId = 'hang00000001';
    await submitJob(s.session, { jobId, configurationFilename: 'hang-room.yaml', target: 'compile', bundle: await bundle('hang-room.yaml') });
    await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === jobId && f.status === 'running');
    await s.waitFrame((f) => f.type === 'job_output' && f.job_id === jobId && /Compiling|Building|Processing/.test(f.line as string), 15_000, 'compile output');
    const yaml = join(stack.dir, 'remote_builds', s.key, 'hang-room', 'hang-room.yaml');
    expect(pidsMentioning(yaml).length).toBeGreaterThan(0);
    await cancelJob(s.session, jobId);
    const end = await terminal(s, jobId);
    expect(end.status).toBe('cancelled');
    // Recorded as a cancel from the offloader (not a local user's).
    expect(stack.engine.getJobs().find((j) => j.remote_job_id === jobId)?.cancelled_by).toBe('remote');
    await waitUntil(() => pidsMentioning(yaml).length === 0, { timeoutMs: 5000, what: 'simulator gone' });
    // cancelling a finished job is a no-op
    await cancelJob(s.session, jobId);
    await new Promise((r) => setTimeout(r, 100));
    expect(states(s, jobId)).toEqual(['running', 'cancelled']);
  });

  it('cancel_job of a queued job → cancelled without ever running', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await submitJob(s.session, { jobId: 'run000000001', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: await bundle('hang-room.yaml') });
    await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'run000000001' && f.status === 'running');
    await submitJob(s.session, { jobId: 'wait00000001', configurationFilename: 'living-room.yaml', target: 'compile', bundle: await bundle('living-room.yaml') });
    await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === 'wait00000001' && j.status === 'queued'), { timeoutMs: 5000, what: 'queued job' });
    await cancelJob(s.session, 'wait00000001');
    expect((await terminal(s, 'wait00000001')).status).toBe('cancelled');
    expect(states(s, 'wait00000001')).toEqual(['cancelled']);
    expect(stack.engine.getJobs().find((j) => j.remote_job_id === 'wait00000001')?.cancelled_by).toBe('remote');
    expect(s.of('job_output', 'wait00000001')).toEqual([]);
    await cancelJob(s.session, 'run000000001');
    expect((await terminal(s, 'run000000001')).status).toBe('cancelled');
  });

  it('a resubmit of the same device supersedes the running build', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await submitJob(s.session, { jobId: 'old000000000', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: await bundle('hang-room.yaml') });
    await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'old000000000' && f.status === 'running');
    await submitJob(s.session, { jobId: 'new000000000', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: await bundle('hang-room.yaml') });
    expect((await terminal(s, 'old000000000')).status).toBe('cancelled');
    await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'new000000000' && f.status === 'running');
    await cancelJob(s.session, 'new000000000');
    expect((await terminal(s, 'new000000000')).status).toBe('cancelled');
  });
});

describe('role start/stop', () => {
  it('receiver jobs left over from before the role started are cancelled (their senders are gone)', async () => {
    stack = await startStack();
    await stack.receiver.stop();
    const leftover = createJob({ configuration: 'remote_builds/gone0000/x/x.yaml', job_type: 'compile', remote_peer: 'gone0000xxxxxxxx', remote_job_id: 'orphan000001' });
    const local = createJob({ configuration: 'local.yaml', job_type: 'compile' });
    stack.engine.enqueue([leftover]);
    stack.engine.enqueue([local]);
    const again = new BuildServer({ engine: stack.engine, sessions: stack.listener.sessions, jobOwners: stack.jobOwners });
    again.start();
    expect(leftover.status).toBe('cancelled');
    expect(local.status).not.toBe('cancelled');
    await again.stop();
  });
});

describe('isolation and queue_status', () => {
  it('a job’s frames only reach its own sender', async () => {
    stack = await startStack();
    const a = await stack.connect('A');
    const b = await stack.connect('B');
    await Promise.all([
      submitJob(a.session, { jobId: 'aaaa00000001', configurationFilename: 'living-room.yaml', target: 'compile', bundle: await bundle('living-room.yaml') }),
      submitJob(b.session, { jobId: 'bbbb00000001', configurationFilename: 'kitchen-plug.yaml', target: 'compile', bundle: await bundle('kitchen-plug.yaml') }),
    ]);
    await terminal(a, 'aaaa00000001');
    await terminal(b, 'bbbb00000001');
    const ids = (s: SenderHandle) => new Set(s.frames.filter((f) => f.type === 'job_output' || f.type === 'job_state_changed').map((f) => f.job_id));
    expect([...ids(a)]).toEqual(['aaaa00000001']);
    expect([...ids(b)]).toEqual(['bbbb00000001']);
    expect(b.of('job_output', 'bbbb00000001').flatMap((f) => outputLines(f.line as string)).length).toBeGreaterThan(10);
    // B cannot address A's job
    b.frames.length = 0;
    await b.session.send({ type: 'download_artifacts', job_id: 'aaaa00000001' });
    expect(await b.waitFrame((f) => f.type === 'artifacts_end')).toMatchObject({ accepted: false, reason: 'unknown_job' });
    await b.session.send({ type: 'cancel_job', job_id: 'aaaa00000001' });
    expect(stack.engine.getJobs().find((j) => j.remote_job_id === 'aaaa00000001')?.status).toBe('completed');
  });

  it('queue_status on register and on every compile-lane transition, to every session', async () => {
    stack = await startStack();
    const a = await stack.connect('A');
    const watcher = await stack.connect('W');
    const qs = (s: SenderHandle) => s.of('queue_status').map(({ idle, running, queue_depth }) => ({ idle, running, queue_depth }));
    expect(qs(a)).toEqual([{ idle: true, running: false, queue_depth: 0 }]);
    await submitJob(a.session, { jobId: 'q00000000001', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: await bundle('hang-room.yaml') });
    await a.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'q00000000001' && f.status === 'running');
    await submitJob(a.session, { jobId: 'q00000000002', configurationFilename: 'living-room.yaml', target: 'compile', bundle: await bundle('living-room.yaml') });
    await waitUntil(() => qs(a).length >= 4, { timeoutMs: 5000, what: 'second job queued' });
    await cancelJob(a.session, 'q00000000001');
    await terminal(a, 'q00000000002');
    await waitUntil(() => qs(a).length >= 7, { timeoutMs: 5000, what: 'final queue_status' });
    const expected = [
      { idle: true, running: false, queue_depth: 0 }, // on register
      { idle: false, running: false, queue_depth: 1 }, // job 1 queued
      { idle: false, running: true, queue_depth: 0 }, // job 1 started
      { idle: false, running: true, queue_depth: 1 }, // job 2 queued
      { idle: false, running: false, queue_depth: 1 }, // job 1 cancelled (slot released first)
      { idle: false, running: true, queue_depth: 0 }, // job 2 started
      { idle: true, running: false, queue_depth: 0 }, // job 2 completed
    ];
    expect(qs(a)).toEqual(expected);
    // the other session saw the same transitions after its own register value
    expect(qs(watcher)).toEqual([{ idle: true, running: false, queue_depth: 0 }, ...expected.slice(1)]);
  });

  it('an output line larger than a frame is split under the cap and arrives whole', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await submitJob(s.session, { jobId: 'big000000001', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: await bundle('hang-room.yaml') });
    await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'big000000001' && f.status === 'running');
    const job = stack.engine.getJobs().find((j) => j.remote_job_id === 'big000000001')!;
    const huge = `${'é"\\x'.repeat(40_000)}\n`;
    s.frames.length = 0;
    stack.bus.emit('job_output', { job_id: job.job_id, line: huge });
    const pieces = await waitUntil(() => {
      const got = s.of('job_output', 'big000000001').map((f) => f.line as string);
      return got.join('') === huge ? got : null;
    }, { timeoutMs: 5000, what: 'all pieces' });
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.slice(0, -1).every((p) => !p.endsWith('\n'))).toBe(true);
    expect(s.closed).toBeNull();
    await cancelJob(s.session, 'big000000001');
    await terminal(s, 'big000000001');
    expect(APP_FRAME_MAX_BYTES).toBe(61440);
  });
});

describe('download_artifacts rules (§10)', () => {
  it('duplicate_download, build_dir_missing, pack_failed, job_not_completed, malformed → terminate', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await submitJob(s.session, { jobId: 'dl0000000001', configurationFilename: 'living-room.yaml', target: 'compile', bundle: await bundle('living-room.yaml') });
    expect((await terminal(s, 'dl0000000001')).status).toBe('completed');

    // two requests back to back on one session: the second is refused, the first succeeds
    await s.session.send({ type: 'download_artifacts', job_id: 'dl0000000001' });
    await s.session.send({ type: 'download_artifacts', job_id: 'dl0000000001' });
    const ends = await waitUntil(() => {
      const e = s.of('artifacts_end', 'dl0000000001');
      return e.length === 2 ? e : null;
    }, { timeoutMs: 10_000, what: 'two artifacts_end' });
    expect(ends[0]).toEqual({ type: 'artifacts_end', job_id: 'dl0000000001', accepted: false, reason: 'duplicate_download' });
    expect(ends[1]).toEqual({ type: 'artifacts_end', job_id: 'dl0000000001', accepted: true });
    expect(s.of('artifacts_start', 'dl0000000001')).toHaveLength(1);

    const ws = join(stack.dir, 'remote_builds', s.key, '.esphome');
    await unlink(join(ws, 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.bin'));
    s.frames.length = 0;
    await s.session.send({ type: 'download_artifacts', job_id: 'dl0000000001' });
    const pf = await s.waitFrame((f) => f.type === 'artifacts_end');
    expect(pf).toMatchObject({ accepted: false, reason: 'pack_failed' });
    expect(s.of('artifacts_start')).toEqual([]);

    await unlink(join(ws, 'storage', 'living-room.yaml.json'));
    s.frames.length = 0;
    await s.session.send({ type: 'download_artifacts', job_id: 'dl0000000001' });
    expect(await s.waitFrame((f) => f.type === 'artifacts_end')).toMatchObject({ accepted: false, reason: 'build_dir_missing' });

    await submitJob(s.session, { jobId: 'dl0000000002', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: await bundle('hang-room.yaml') });
    await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'dl0000000002' && f.status === 'running');
    s.frames.length = 0;
    await s.session.send({ type: 'download_artifacts', job_id: 'dl0000000002' });
    expect(await s.waitFrame((f) => f.type === 'artifacts_end')).toEqual({ type: 'artifacts_end', job_id: 'dl0000000002', accepted: false, reason: 'job_not_completed' });
    await s.session.send({ type: 'download_artifacts', job_id: 'nope' });
    expect(await s.waitFrame((f) => f.type === 'artifacts_end' && f.job_id === 'nope')).toMatchObject({ accepted: false, reason: 'unknown_job' });

    await s.session.send({ type: 'download_artifacts', job_id: 12 });
    expect((await s.waitClosed()).reason).toBe('malformed_frame');
    const files = await readdir(ws);
    expect(files).toContain('build');
  });

  it('packs at completion: the first download is the completed build even if the tree changes after; later ones pack afresh; a held pack expires', async () => {
    stack = await startStack({ receiver: { prepackTtlMs: 1500 } });
    const s = await stack.connect();
    const ws = join(stack.dir, 'remote_builds', s.key, '.esphome');
    const firmware = join(ws, 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.bin');
    const readFirmware = async (jobId: string): Promise<Buffer> => {
      const { tarball } = await downloadArtifacts(s.session, jobId);
      const dir = await mkdtemp(join(tmpdir(), 'kiln-prepack-'));
      try {
        await extractTarGzSafely(tarball, dir, { maxUncompressedBytes: 100 * 1024 * 1024 });
        return await readFile(join(dir, '.pioenvs', 'living-room', 'firmware.bin'));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };

    await submitJob(s.session, { jobId: 'pp0000000001', configurationFilename: 'living-room.yaml', target: 'compile', bundle: await bundle('living-room.yaml') });
    expect((await terminal(s, 'pp0000000001')).status).toBe('completed');
    const built = await readFile(firmware);
    // Packed when `completed` was sent: replacing the image now does not change the first download.
    await stack.receiver.whenPrepacked('pp0000000001');
    await writeFile(firmware, 'replaced after completion');
    expect((await readFirmware('pp0000000001')).equals(built)).toBe(true);
    // The held pack was used up: the next download packs the tree as it is now.
    expect((await readFirmware('pp0000000001')).toString()).toBe('replaced after completion');

    // A held pack nobody downloads is dropped after prepackTtlMs; the download then packs afresh.
    await submitJob(s.session, { jobId: 'pp0000000002', configurationFilename: 'living-room.yaml', target: 'compile', bundle: await bundle('living-room.yaml') });
    expect((await terminal(s, 'pp0000000002')).status).toBe('completed');
    await stack.receiver.whenPrepacked('pp0000000002');
    await writeFile(firmware, 'replaced, then the held pack expired');
    await new Promise((r) => setTimeout(r, 1700));
    expect((await readFirmware('pp0000000002')).toString()).toBe('replaced, then the held pack expired');
  });
});

// §8 over a real peer-link session: every reason code with a crafted frame sequence, and exactly
// which ones also terminate the session.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_MAX_TOTAL_BYTES, sha256Hex, splitChunks } from '../../peer-link/transfer';
import { BUNDLE_FAILURE_PREFIX, CANCELLED_BEFORE_QUEUED } from '../build-server';
import { startStack, sleep, type ReceiverStack, type SenderHandle } from './harness';
import { bundleFor, tarGz, manifest } from './tar-helpers';
import { waitUntil } from '../../../../test/support/wait-until';

let stack: ReceiverStack | null = null;
let extraDirs: string[] = [];

beforeAll(() => {
  process.env.ESPHOME_SIM_SPEED = '0';
});

afterEach(async () => {
  await stack?.stop();
  stack = null;
  for (const d of extraDirs) await rm(d, { recursive: true, force: true });
  extraDirs = [];
});

function header(jobId: unknown, bundle: Buffer, over: Record<string, unknown> = {}) {
  return {
    type: 'submit_job',
    job_id: jobId,
    configuration_filename: 'kitchen.yaml',
    target: 'compile',
    total_bundle_bytes: bundle.length,
    num_chunks: Math.ceil(bundle.length / 32768),
    bundle_sha256: sha256Hex(bundle),
    device_name: 'kitchen',
    device_friendly_name: 'Kitchen',
    ...over,
  };
}

async function sendAll(s: SenderHandle, jobId: string, bundle: Buffer, over: Record<string, unknown> = {}): Promise<void> {
  await s.session.send(header(jobId, bundle, over));
  for (const c of splitChunks(bundle)) await s.session.send({ type: 'submit_job_chunk', job_id: jobId, ...c });
}

const ackOf = (s: SenderHandle, jobId: string) => s.waitFrame((f) => f.type === 'submit_job_ack' && f.job_id === jobId, 5000, `ack for ${jobId}`);

/** The session must still serve us: a reset_build_env round trip proves the loop is alive. */
async function expectAlive(s: SenderHandle): Promise<void> {
  const id = `alive${Math.random().toString(16).slice(2, 8)}`;
  await s.session.send({ type: 'reset_build_env', job_id: id });
  const ack = await s.waitFrame((f) => f.type === 'reset_build_env_ack' && f.job_id === id);
  expect(ack).toMatchObject({ accepted: false, reason: 'not_ready' });
  expect(s.closed).toBeNull();
}

async function expectTerminated(s: SenderHandle): Promise<void> {
  const closed = await s.waitClosed();
  expect(closed.reason).toBe('malformed_frame');
}

describe('submit_job header rules (§8, in order)', () => {
  it('1. schema failure → invalid_header + T (job_id kept when usable)', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('job1', b, { total_bundle_bytes: true }));
    expect(await ackOf(s, 'job1')).toMatchObject({ accepted: false, reason: 'invalid_header' });
    await expectTerminated(s);
  });

  it('1. unusable job_id → ack with job_id "" + T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await s.session.send(header(42, await bundleFor('kitchen.yaml')));
    const ack = await ackOf(s, '');
    expect(ack).toEqual({ type: 'submit_job_ack', job_id: '', accepted: false, reason: 'invalid_header' });
    await expectTerminated(s);
  });

  it('2. a second header while one is in flight → duplicate_submit (no T)', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('jobA', b));
    await s.session.send(header('jobB', b));
    expect(await ackOf(s, 'jobB')).toMatchObject({ accepted: false, reason: 'duplicate_submit' });
    await expectAlive(s);
    // the first submit is still in flight and completes normally
    for (const c of splitChunks(b)) await s.session.send({ type: 'submit_job_chunk', job_id: 'jobA', ...c });
    expect(await ackOf(s, 'jobA')).toEqual({ type: 'submit_job_ack', job_id: 'jobA', accepted: true });
  });

  it('2. resubmitting a job_id that is still extracting → duplicate_submit', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    stack = await startStack({ receiver: { beforeExtract: () => gate } });
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await sendAll(s, 'jobX', b);
    expect(await ackOf(s, 'jobX')).toMatchObject({ accepted: true });
    s.frames.length = 0;
    await s.session.send(header('jobX', b));
    expect(await ackOf(s, 'jobX')).toMatchObject({ accepted: false, reason: 'duplicate_submit' });
    release();
    await expectAlive(s);
  });

  it('3. target upload → upload_unsupported (no T); its chunks then get no_inflight_submit', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('jobU', b, { target: 'upload' }));
    expect(await ackOf(s, 'jobU')).toMatchObject({ accepted: false, reason: 'upload_unsupported' });
    s.frames.length = 0;
    await s.session.send({ type: 'submit_job_chunk', job_id: 'jobU', ...splitChunks(b)[0] });
    expect(await ackOf(s, 'jobU')).toMatchObject({ accepted: false, reason: 'no_inflight_submit' });
    await expectAlive(s);
  });

  it('4. unknown target → invalid_header (no T)', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await s.session.send(header('jobT', await bundleFor('kitchen.yaml'), { target: 'flash' }));
    expect(await ackOf(s, 'jobT')).toMatchObject({ accepted: false, reason: 'invalid_header' });
    await expectAlive(s);
  });

  it.each(['', '../kitchen.yaml', 'dir/kitchen.yaml', 'a\\b.yaml', 'kitchen.txt', '.yaml', '..yaml', 'x\0.yaml'])(
    '5. unsafe configuration_filename %j → invalid_header (no T)',
    async (name) => {
      stack = await startStack();
      const s = await stack.connect();
      await s.session.send(header('jobF', await bundleFor('kitchen.yaml'), { configuration_filename: name }));
      expect(await ackOf(s, 'jobF')).toMatchObject({ accepted: false, reason: 'invalid_header' });
      await expectAlive(s);
    },
  );

  it('6. assembler construction: empty_bundle, chunk_count_mismatch, oversized (no T)', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('e1', b, { total_bundle_bytes: 0 }));
    expect(await ackOf(s, 'e1')).toMatchObject({ reason: 'empty_bundle' });
    await s.session.send(header('e2', b, { num_chunks: 0 }));
    expect(await ackOf(s, 'e2')).toMatchObject({ reason: 'chunk_count_mismatch' });
    await s.session.send(header('e3', b, { total_bundle_bytes: BUNDLE_MAX_TOTAL_BYTES + 1 }));
    expect(await ackOf(s, 'e3')).toMatchObject({ reason: 'oversized' });
    await expectAlive(s);
  });

  it('7. display fields are coerced and land on the receiver job', async () => {
    stack = await startStack();
    const s = await stack.connect('Alice laptop');
    const b = await bundleFor('kitchen.yaml');
    await sendAll(s, 'jobD', b, { device_name: 7, device_friendly_name: 'Kitchen light', target_esphome_version: '2025.12.2; rm -rf /' });
    expect(await ackOf(s, 'jobD')).toMatchObject({ accepted: true });
    const job = await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === 'jobD'), { timeoutMs: 5000, what: 'receiver job' });
    expect(job).toMatchObject({
      job_type: 'compile',
      remote_peer: s.dashboardId,
      remote_job_id: 'jobD',
      remote_peer_label: 'Alice laptop',
      device_name: '',
      device_friendly_name: 'Kitchen light',
      target_esphome_version: '',
      configuration: `remote_builds/${s.key}/kitchen/kitchen.yaml`,
    });
  });
});

describe('submit_job_chunk rules (§8)', () => {
  it('schema failure → invalid_chunk + drop in-flight + T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('c1', b));
    await s.session.send({ type: 'submit_job_chunk', job_id: 'c1', chunk_index: 0, data_b64: b.toString('base64'), is_last: 1 });
    expect(await ackOf(s, 'c1')).toMatchObject({ accepted: false, reason: 'invalid_chunk' });
    await expectTerminated(s);
  });

  it('no in-flight submit → no_inflight_submit (no T)', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await s.session.send({ type: 'submit_job_chunk', job_id: 'nobody', chunk_index: 0, data_b64: 'QUJD', is_last: true });
    expect(await ackOf(s, 'nobody')).toMatchObject({ accepted: false, reason: 'no_inflight_submit' });
    await expectAlive(s);
  });

  it('job_id mismatch → job_id_mismatch (no T), the in-flight submit survives', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('mine', b));
    await s.session.send({ type: 'submit_job_chunk', job_id: 'other', ...splitChunks(b)[0] });
    expect(await ackOf(s, 'other')).toMatchObject({ accepted: false, reason: 'job_id_mismatch' });
    for (const c of splitChunks(b)) await s.session.send({ type: 'submit_job_chunk', job_id: 'mine', ...c });
    expect(await ackOf(s, 'mine')).toMatchObject({ accepted: true });
  });

  it('invalid base64 → chunk_decode_failed + T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('d1', b));
    await s.session.send({ type: 'submit_job_chunk', job_id: 'd1', chunk_index: 0, data_b64: 'QUJD\n', is_last: true });
    expect(await ackOf(s, 'd1')).toMatchObject({ accepted: false, reason: 'chunk_decode_failed' });
    await expectTerminated(s);
  });

  const big = async () => bundleFor('kitchen.yaml', 'esphome:\n', [{ name: 'blob.bin', data: randomBytes(90_000) }]);

  it('out_of_order → ack + T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await big();
    const chunks = splitChunks(b);
    expect(chunks.length).toBeGreaterThan(1);
    await s.session.send(header('o1', b));
    await s.session.send({ type: 'submit_job_chunk', job_id: 'o1', ...chunks[1] });
    expect(await ackOf(s, 'o1')).toMatchObject({ accepted: false, reason: 'out_of_order' });
    await expectTerminated(s);
  });

  it('chunk_count_mismatch (is_last too early) → ack + T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await big();
    const chunks = splitChunks(b);
    await s.session.send(header('m1', b));
    await s.session.send({ type: 'submit_job_chunk', job_id: 'm1', ...chunks[0], is_last: true });
    expect(await ackOf(s, 'm1')).toMatchObject({ accepted: false, reason: 'chunk_count_mismatch' });
    await expectTerminated(s);
  });

  it('oversized on feed → ack, no T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('z1', b, { total_bundle_bytes: 10, num_chunks: 1 }));
    await s.session.send({ type: 'submit_job_chunk', job_id: 'z1', chunk_index: 0, data_b64: b.toString('base64'), is_last: true });
    expect(await ackOf(s, 'z1')).toMatchObject({ accepted: false, reason: 'oversized' });
    await expectAlive(s);
  });

  it('undersized at finalise → ack, no T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await s.session.send(header('u1', b, { total_bundle_bytes: b.length + 100 }));
    await s.session.send({ type: 'submit_job_chunk', job_id: 'u1', chunk_index: 0, data_b64: b.toString('base64'), is_last: true });
    expect(await ackOf(s, 'u1')).toMatchObject({ accepted: false, reason: 'undersized' });
    await expectAlive(s);
  });

  it('hash_mismatch at finalise → ack, no T', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await sendAll(s, 'h1', b, { bundle_sha256: sha256Hex(Buffer.from('something else')) });
    expect(await ackOf(s, 'h1')).toMatchObject({ accepted: false, reason: 'hash_mismatch' });
    await expectAlive(s);
  });

  it('post_completion cannot reach the wire: a chunk after the accepted last one gets no_inflight_submit', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    await sendAll(s, 'p1', b);
    expect(await ackOf(s, 'p1')).toMatchObject({ accepted: true });
    s.frames.length = 0;
    await s.session.send({ type: 'submit_job_chunk', job_id: 'p1', chunk_index: 1, data_b64: 'QUJD', is_last: true });
    expect(await ackOf(s, 'p1')).toMatchObject({ accepted: false, reason: 'no_inflight_submit' });
    await expectAlive(s);
  });
});

describe('post-ack failures and cancel (§8)', () => {
  it('the ack comes right after finalise, before extraction', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    stack = await startStack({ receiver: { beforeExtract: () => gate } });
    const s = await stack.connect();
    await sendAll(s, 'early', await bundleFor('kitchen.yaml'));
    expect(await ackOf(s, 'early')).toMatchObject({ accepted: true });
    await sleep(50);
    expect(stack.engine.getJobs().some((j) => j.remote_job_id === 'early')).toBe(false);
    release();
    await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === 'early'), { timeoutMs: 5000, what: 'job after release' });
  });

  it('hostile bundle → accepted, then job_state_changed failed extract_failed; nothing written', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const hostile = await tarGz([{ name: 'manifest.json', data: manifest('kitchen.yaml') }, { name: 'kitchen.yaml', data: 'x' }, { name: '../../escape', data: 'pwned' }]);
    await sendAll(s, 'bad1', hostile);
    expect(await ackOf(s, 'bad1')).toMatchObject({ accepted: true });
    const st = await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'bad1');
    expect(st).toEqual({ type: 'job_state_changed', job_id: 'bad1', status: 'failed', error_message: `${BUNDLE_FAILURE_PREFIX}extract_failed` });
    expect(stack.engine.getJobs().some((j) => j.remote_job_id === 'bad1')).toBe(false);
    expect((await readdir(join(stack.dir, 'remote_builds'))).filter((n) => n !== '.staging')).toEqual([]);
    expect(await readdir(join(stack.dir, 'remote_builds', '.staging'))).toEqual([]);
    await expectAlive(s);
  });

  it('queue_rejected when the job cannot be queued (workspace root outside the config dir)', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'kiln-elsewhere-'));
    extraDirs.push(elsewhere);
    stack = await startStack({ receiver: { dataDir: elsewhere } });
    const s = await stack.connect();
    await sendAll(s, 'q1', await bundleFor('kitchen.yaml'));
    expect(await ackOf(s, 'q1')).toMatchObject({ accepted: true });
    const st = await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'q1');
    expect(st).toMatchObject({ status: 'failed', error_message: `${BUNDLE_FAILURE_PREFIX}queue_rejected` });
  });

  it('cancel_job mid-extract → cancelled "before the build was queued", nothing enqueued', async () => {
    let entered = false;
    stack = await startStack({
      receiver: {
        beforeExtract: (_id, signal) =>
          new Promise<void>((res) => {
            entered = true;
            signal.addEventListener('abort', () => res(), { once: true });
          }),
      },
    });
    const s = await stack.connect();
    await sendAll(s, 'cx', await bundleFor('kitchen.yaml'));
    expect(await ackOf(s, 'cx')).toMatchObject({ accepted: true });
    await waitUntil(() => entered, { timeoutMs: 5000, what: 'extract started' });
    await s.session.send({ type: 'cancel_job', job_id: 'cx' });
    const st = await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'cx');
    expect(st).toEqual({ type: 'job_state_changed', job_id: 'cx', status: 'cancelled', error_message: CANCELLED_BEFORE_QUEUED });
    await sleep(100);
    expect(stack.engine.getJobs().some((j) => j.remote_job_id === 'cx')).toBe(false);
    expect(s.of('job_state_changed', 'cx')).toHaveLength(1);
  });

  it('cancel_job of an unknown id is ignored; a malformed cancel_job is ignored too', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await s.session.send({ type: 'cancel_job', job_id: 'nope' });
    await s.session.send({ type: 'cancel_job', job_id: 5 });
    await expectAlive(s);
    expect(s.of('job_state_changed')).toEqual([]);
  });

  it('reset_build_env → not_ready; without a string job_id → invalid_frame', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await s.session.send({ type: 'reset_build_env', job_id: 'r1' });
    expect(await s.waitFrame((f) => f.type === 'reset_build_env_ack')).toEqual({ type: 'reset_build_env_ack', job_id: 'r1', accepted: false, reason: 'not_ready' });
    await s.session.send({ type: 'reset_build_env' });
    expect(await s.waitFrame((f) => f.type === 'reset_build_env_ack' && f.job_id === '')).toMatchObject({ accepted: false, reason: 'invalid_frame' });
  });

  it('unknown frame types are ignored', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await s.session.send({ type: 'from_the_future', x: 1 });
    await expectAlive(s);
  });
});

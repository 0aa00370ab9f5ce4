// Offloader job calls against a real receiver over a real session.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleFor } from '../../build-server/test/tar-helpers';
import { startStack, type ReceiverStack } from '../../build-server/test/harness';
import { ArtifactsRejectedError, cancelJob, downloadArtifacts, SenderTransferError, submitAckTimeoutMs, submitJob } from '../sender-jobs';
import { waitUntil } from '../../../../test/support/wait-until';

let stack: ReceiverStack | null = null;

beforeAll(() => {
  process.env.ESPHOME_SIM_SPEED = '0';
});
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

describe('submitJob', () => {
  it('ack timeout is 60 s + size / (2 MiB/s)', () => {
    expect(submitAckTimeoutMs(0)).toBe(60_000);
    expect(submitAckTimeoutMs(4 * 1024 * 1024)).toBe(62_000);
    expect(submitAckTimeoutMs(128 * 1024 * 1024)).toBe(124_000);
  });

  it('sends header + chunks and resolves with the accepted ack; the receiver queues the job', async () => {
    stack = await startStack();
    const s = await stack.connect('Laptop');
    const bundle = await bundleFor('kitchen.yaml', 'esphome:\n  name: kitchen\n', [{ name: 'pad.bin', data: Buffer.alloc(100_000, 1) }]);
    const ack = await submitJob(s.session, { jobId: 'aaaaaaaaaaaa', configurationFilename: 'kitchen.yaml', target: 'compile', bundle, deviceName: 'kitchen', deviceFriendlyName: 'Kitchen' });
    expect(ack).toEqual({ jobId: 'aaaaaaaaaaaa', accepted: true });
    const job = await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === 'aaaaaaaaaaaa'));
    expect(job).toMatchObject({ remote_peer: s.dashboardId, device_friendly_name: 'Kitchen', remote_peer_label: 'Laptop' });
  });

  it('resolves with the receiver’s refusal and its reason', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const ack = await submitJob(s.session, { jobId: 'bbbbbbbbbbbb', configurationFilename: '../escape.yaml', target: 'compile', bundle: await bundleFor('kitchen.yaml') });
    expect(ack).toEqual({ jobId: 'bbbbbbbbbbbb', accepted: false, reason: 'invalid_header' });
  });

  it('submits on one session are serialised (the receiver would say duplicate_submit otherwise)', async () => {
    stack = await startStack();
    const s = await stack.connect();
    const b = await bundleFor('kitchen.yaml');
    const acks = await Promise.all([
      submitJob(s.session, { jobId: 'c1c1c1c1c1c1', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: b }),
      submitJob(s.session, { jobId: 'c2c2c2c2c2c2', configurationFilename: 'other.yaml', target: 'compile', bundle: await bundleFor('other.yaml') }),
    ]);
    expect(acks.map((a) => a.accepted)).toEqual([true, true]);
  });

  it('fails with timeout when no ack comes', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await stack.receiver.stop(); // nobody answers submits any more
    const err = await submitJob(s.session, { jobId: 'dddddddddddd', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: await bundleFor('kitchen.yaml') }, { ackTimeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SenderTransferError);
    expect((err as SenderTransferError).kind).toBe('timeout');
  });

  it('fails at once when the session ends while waiting', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await stack.receiver.stop();
    const t0 = Date.now();
    const p = submitJob(s.session, { jobId: 'eeeeeeeeeeee', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: await bundleFor('kitchen.yaml') });
    setTimeout(() => void stack!.listener.close(), 50);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SenderTransferError);
    expect((err as SenderTransferError).kind).toBe('session_closed');
    expect((err as SenderTransferError).reason).toBe('server_shutting_down');
    expect(Date.now() - t0).toBeLessThan(5000);
    // and on an already-closed session
    const err2 = await submitJob(s.session, { jobId: 'ffffffffffff', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: Buffer.from('x') }).catch((e: unknown) => e);
    expect((err2 as SenderTransferError).kind).toBe('session_closed');
  });
});

describe('downloadArtifacts / cancelJob', () => {
  it('unknown_job and job_not_completed arrive as ArtifactsRejectedError', async () => {
    stack = await startStack({ esphome: ['/nonexistent/esphome'] });
    const s = await stack.connect();
    const e1 = await downloadArtifacts(s.session, 'nosuchjob000').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ArtifactsRejectedError);
    expect((e1 as ArtifactsRejectedError).reason).toBe('unknown_job');
    await submitJob(s.session, { jobId: '111111111111', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: await bundleFor('kitchen.yaml') });
    await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === '111111111111' && j.status === 'failed'), { timeoutMs: 5000, what: 'job failed (no esphome)' });
    const e2 = await downloadArtifacts(s.session, '111111111111').catch((e: unknown) => e);
    expect((e2 as ArtifactsRejectedError).reason).toBe('job_not_completed');
  });

  it('a download fails at once when the session ends', async () => {
    stack = await startStack();
    const s = await stack.connect();
    await stack.receiver.stop();
    const p = downloadArtifacts(s.session, '222222222222');
    await s.session.close('client_stopped');
    const err = await p.catch((e: unknown) => e);
    expect((err as SenderTransferError).kind).toBe('session_closed');
  });

  it('cancelJob sends cancel_job and the receiver cancels the queued job', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    stack = await startStack({ receiver: { beforeExtract: (id) => (id === '333333333333' ? gate : Promise.resolve()) } });
    const s = await stack.connect();
    await submitJob(s.session, { jobId: '333333333333', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: await bundleFor('kitchen.yaml') });
    await cancelJob(s.session, '333333333333');
    const st = await s.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === '333333333333');
    expect(st.status).toBe('cancelled');
    release();
  });
});

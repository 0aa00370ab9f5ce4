// Issue 11 defect 7: per-sender limits on the build server. A paired sender cannot fill RAM
// (queued jobs, bundle bytes held) or disk (workspace quota with oldest-first sweeping); over a
// limit the submit gets submit_job_ack{accepted:false, reason:"queue_rejected"}. Real stack.
import { waitUntil } from '../../../../test/support/wait-until';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { submitJob } from '../../peer-link/sender-jobs';
import { BUNDLE_FAILURE_PREFIX } from '../build-server';
import { startStack, type ReceiverStack } from './harness';
import { bundleFor } from './tar-helpers';

let stack: ReceiverStack | null = null;
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

/** A bundle of about `bytes` bytes that does not compress (random padding member). */
function padded(name: string, bytes: number): Promise<Buffer> {
  return bundleFor(name, 'esphome:\n  name: dev\nesp32:\n  board: esp32dev\n', [{ name: 'pad.bin', data: randomBytes(bytes) }]);
}

describe('per-sender limits', () => {
  it('queued jobs per sender: over the limit → queue_rejected; another sender is unaffected', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    stack = await startStack({ receiver: { beforeExtract: () => gate, maxQueuedJobsPerSender: 2 } });
    const a = await stack.connect('A');
    const b = await stack.connect('B');
    const small = await bundleFor('kitchen.yaml');
    expect((await submitJob(a.session, { jobId: 'a00000000001', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: small })).accepted).toBe(true);
    expect((await submitJob(a.session, { jobId: 'a00000000002', configurationFilename: 'hall.yaml', target: 'compile', bundle: await bundleFor('hall.yaml') })).accepted).toBe(true);
    expect(await submitJob(a.session, { jobId: 'a00000000003', configurationFilename: 'porch.yaml', target: 'compile', bundle: await bundleFor('porch.yaml') })).toEqual({ jobId: 'a00000000003', accepted: false, reason: 'queue_rejected' });
    expect((await submitJob(b.session, { jobId: 'b00000000001', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: small })).accepted).toBe(true);
    expect(a.session.closed).toBe(false);
    release();
  });

  it('bytes held per sender: bundles waiting for extraction count; over the limit → queue_rejected', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    stack = await startStack({ receiver: { beforeExtract: () => gate, maxBytesPerSender: 3 * 1024 * 1024 } });
    const a = await stack.connect('A');
    const big = await padded('kitchen.yaml', 1_400_000);
    expect((await submitJob(a.session, { jobId: 'big000000001', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: big })).accepted).toBe(true);
    expect((await submitJob(a.session, { jobId: 'big000000002', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: big })).accepted).toBe(true);
    expect(await submitJob(a.session, { jobId: 'big000000003', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: big })).toMatchObject({ accepted: false, reason: 'queue_rejected' });
    // A header announcing more than the limit on its own is refused before any chunk is held.
    const huge = await padded('kitchen.yaml', 3_200_000);
    release();
    await waitUntil(() => stack!.engine.getJobs().filter((j) => j.remote_peer === a.dashboardId).length >= 2, { timeoutMs: 10_000, what: 'held jobs enqueued' });
    expect(await submitJob(a.session, { jobId: 'huge00000001', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: huge })).toMatchObject({ accepted: false, reason: 'queue_rejected' });
    expect(a.session.closed).toBe(false);
  });

  it('disk quota: idle workspaces of other senders are swept oldest first; when nothing can go → queue_rejected', async () => {
    stack = await startStack({ receiver: { workspaceQuotaBytes: 1_000_000 } });
    const a = await stack.connect('A');
    const root = join(stack.dir, 'remote_builds');
    // Two idle workspaces of gone senders, 400 kB each, the first older.
    const old1 = join(root, '0'.repeat(32));
    const old2 = join(root, '1'.repeat(32));
    for (const [dir, age] of [[old1, 7200], [old2, 3600]] as const) {
      await mkdir(join(dir, 'dev'), { recursive: true });
      await writeFile(join(dir, 'dev', 'blob'), randomBytes(400_000));
      const t = new Date(Date.now() - age * 1000);
      await utimes(dir, t, t);
    }
    const ack = await submitJob(a.session, { jobId: 'quota0000001', configurationFilename: 'kitchen.yaml', target: 'compile', bundle: await padded('kitchen.yaml', 300_000) });
    expect(ack.accepted).toBe(true);
    await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === 'quota0000001'), { timeoutMs: 10_000, what: 'job enqueued' });
    expect(existsSync(old1)).toBe(false); // oldest swept
    expect(existsSync(old2)).toBe(true); // enough room after one
    // A bundle that cannot fit even after sweeping everything idle is refused after the ack.
    const tooBig = await padded('hall.yaml', 1_200_000);
    expect((await submitJob(a.session, { jobId: 'quota0000002', configurationFilename: 'hall.yaml', target: 'compile', bundle: tooBig })).accepted).toBe(true);
    const failed = await a.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'quota0000002', 10_000, 'quota failure');
    expect(failed).toMatchObject({ status: 'failed', error_message: `${BUNDLE_FAILURE_PREFIX}queue_rejected` });
    expect(existsSync(join(root, a.key, 'hall'))).toBe(false);
  });
});

describe('kiln receiver limit flags', () => {
  it('parse into the BuildServer options; bad values are usage errors', async () => {
    const { parseReceiverArgs } = await import('../../../headless/cli/receiver-command');
    const env = { KILN_ESPHOME: 'esphome' };
    expect(parseReceiverArgs(['--max-queued', '3', '--max-sender-mib', '64', '--disk-quota-gib', '2'], env)).toMatchObject({
      maxQueuedJobsPerSender: 3,
      maxBytesPerSender: 64 * 1024 * 1024,
      workspaceQuotaBytes: 2 * 1024 * 1024 * 1024,
    });
    expect(() => parseReceiverArgs(['--max-queued', '0'], env)).toThrow(/--max-queued must be a whole number/);
    expect(() => parseReceiverArgs(['--disk-quota-gib', 'lots'], env)).toThrow(/--disk-quota-gib/);
    expect(parseReceiverArgs(['--keep-builds', '0'], env)).toMatchObject({ reuseKeepPerSender: 0 });
    expect(parseReceiverArgs(['--keep-builds=5'], env)).toMatchObject({ reuseKeepPerSender: 5 });
    expect(parseReceiverArgs([], env)).not.toHaveProperty('reuseKeepPerSender');
    expect(() => parseReceiverArgs(['--keep-builds', '51'], env)).toThrow(/--keep-builds must be a whole number 0\.\.50/);
  });
});

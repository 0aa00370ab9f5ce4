// Issue 11 defect 6: two senders whose dashboard_ids share their first 8 characters (public in
// mDNS instance names) must not share a workspace, an ESPHOME_DATA_DIR, a FIFO or cancel
// matching. Real receiver stack, real sessions, the esphome simulator.
import { waitUntil } from '../../../../test/support/wait-until';
import { readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../esphome/bundle';
import { cancelJob, submitJob } from '../../peer-link/sender-jobs';
import { SIM, startStack, type ReceiverStack } from './harness';
import { makeSenderDir } from './sender-dir';

let stack: ReceiverStack | null = null;
let senderDir: string;

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

describe('senders with dashboard_ids sharing a prefix', () => {
  it('get separate workspaces; one sender’s submit neither cancels nor rewrites the other’s build', async () => {
    stack = await startStack();
    const a = await stack.connect('Alice', 'PREFIX01-aaaaaaaaaaaaaaaa');
    const b = await stack.connect('Mallory', 'PREFIX01-bbbbbbbbbbbbbbbb');
    const hang = await buildBundle([process.execPath, SIM], join(senderDir, 'hang-room.yaml'), join(senderDir, '.bundles', 'hang.tar.gz'));

    await submitJob(a.session, { jobId: 'alice0000001', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: hang });
    await a.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'alice0000001' && f.status === 'running', 15_000, 'alice running');
    const aliceJob = stack.engine.getJobs().find((j) => j.remote_job_id === 'alice0000001')!;
    const aliceYaml = join(stack.dir, aliceJob.configuration);
    const aliceSecrets = join(aliceYaml, '..', 'secrets.yaml');
    expect(existsSync(aliceSecrets)).toBe(true);

    // Mallory submits the same device name while Alice's build runs (a bundle without secrets).
    await submitJob(b.session, { jobId: 'mallory00001', configurationFilename: 'hang-room.yaml', target: 'compile', bundle: hang });
    const malloryJob = await waitUntil(() => stack!.engine.getJobs().find((j) => j.remote_job_id === 'mallory00001'), { timeoutMs: 10_000, what: 'mallory job enqueued' });
    // Mallory's cancel with Alice's job id must not reach Alice's build either.
    await cancelJob(b.session, 'alice0000001');
    await new Promise((r) => setTimeout(r, 300));

    expect(malloryJob.configuration).not.toBe(aliceJob.configuration);
    expect(stack.engine.getJob(aliceJob.job_id)?.status).toBe('running');
    expect(a.of('job_state_changed', 'alice0000001').map((f) => f.status)).toEqual(['running']);
    expect(existsSync(aliceSecrets)).toBe(true);
    // Neither workspace name is derived from the shared 8-character prefix.
    const names = await readdir(join(stack.dir, 'remote_builds'));
    expect(names.filter((n) => n.startsWith('PREFIX01'))).toEqual([]);
    expect(names.filter((n) => !n.startsWith('.')).length).toBe(2);

    await cancelJob(a.session, 'alice0000001');
    await a.waitFrame((f) => f.type === 'job_state_changed' && f.job_id === 'alice0000001' && f.status === 'cancelled', 15_000, 'alice cancelled');
    await cancelJob(b.session, 'mallory00001');
  }, 60_000);
});

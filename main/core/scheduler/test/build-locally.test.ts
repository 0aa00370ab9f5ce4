// "Build locally instead" over a real job engine (fake esphome subprocess): remote-pending jobs are
// parked by a dispatch pool that never binds them, then switched to local builds.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../errors';
import type { JobEngine } from '../../jobs/engine';
import { Harness, terminal } from '../../jobs/test/helpers';
import { buildLocallyInstead, type BuildLocallyJobs } from '../build-locally';
import { waitUntil } from '../../../../test/support/wait-until';

let h: Harness;
let engine: JobEngine;

beforeEach(async () => {
  h = new Harness();
  // Every compile/install not forced local waits for a build server that never comes.
  engine = await h.engine({ dispatchPool: { wake: () => undefined }, buildPathPicker: () => 'remote_pending' });
  h.fake('a.yaml', 'success');
});
afterEach(async () => {
  await h.cleanup();
});

const dependent = (id: string) => engine.getJobs().find((j) => j.depends_on === id);

async function errorOf(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('did not fail');
}

describe('buildLocallyInstead', () => {
  it('cancels a remote install and re-submits it locally with the held upload’s target and bootloader flag', async () => {
    const compile = engine.install({ configuration: 'a.yaml', port: '192.168.1.50', bootloader: true });
    const upload = dependent(compile.job_id)!;
    expect(compile).toMatchObject({ source: 'remote_pending', status: 'queued' });
    const local = await buildLocallyInstead(engine, compile.job_id);
    expect(local).toMatchObject({ job_type: 'compile', source: 'local', configuration: 'a.yaml' });
    expect(local.job_id).not.toBe(compile.job_id);
    expect(engine.getJob(compile.job_id)!.status).toBe('cancelled');
    expect(engine.getJob(upload.job_id)!.status).toBe('cancelled');
    expect(dependent(local.job_id)).toMatchObject({ job_type: 'upload', port: '192.168.1.50', flash_bootloader: true });
    await waitUntil(() => terminal(engine.getJob(dependent(local.job_id)!.job_id)!));
    expect(engine.getJob(local.job_id)!.status).toBe('completed');
    expect(engine.getJob(dependent(local.job_id)!.job_id)!.status).toBe('completed');
  });

  it('a remote compile without an upload becomes a local compile (no upload added)', async () => {
    const compile = engine.compile({ configuration: 'a.yaml' });
    const local = await buildLocallyInstead(engine, compile.job_id);
    expect(local).toMatchObject({ job_type: 'compile', source: 'local' });
    expect(dependent(local.job_id)).toBeUndefined();
    expect(engine.getJob(compile.job_id)!.status).toBe('cancelled');
  });

  it('tolerates the remote job finishing in the meantime (already terminal, or the cancel loses the race)', async () => {
    // Already finished when asked: nothing to cancel, re-submitted anyway.
    const first = engine.install({ configuration: 'a.yaml', port: 'OTA' });
    await engine.cancel(first.job_id);
    const again = await buildLocallyInstead(engine, first.job_id);
    expect(again.source).toBe('local');
    expect(dependent(again.job_id)).toMatchObject({ port: 'OTA', flash_bootloader: false });

    // Finishes between the check and the cancel: the real engine then refuses the cancel
    // (invalid_args "Cannot cancel a cancelled job"), which must not stop the switch.
    const second = engine.install({ configuration: 'a.yaml', port: '/dev/ttyUSB0' });
    let refused: unknown = null;
    const racing: BuildLocallyJobs = {
      getJob: (id) => engine.getJob(id),
      getJobs: () => engine.getJobs(),
      compile: (a) => engine.compile(a),
      install: (a) => engine.install(a),
      cancel: async (id) => {
        await engine.cancel(id);
        await engine.cancel(id).catch((err) => {
          refused = err;
          throw err;
        });
      },
    };
    const switched = await buildLocallyInstead(racing, second.job_id);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe('invalid_args');
    expect(switched.source).toBe('local');
    expect(dependent(switched.job_id)).toMatchObject({ port: '/dev/ttyUSB0' });
  });

  it('any other cancel failure is passed on and nothing is re-submitted', async () => {
    const compile = engine.compile({ configuration: 'a.yaml' });
    const before = engine.getJobs().length;
    const failing: BuildLocallyJobs = {
      getJob: (id) => engine.getJob(id),
      getJobs: () => engine.getJobs(),
      compile: (a) => engine.compile(a),
      install: (a) => engine.install(a),
      cancel: () => {
        throw new ApiError('unavailable', 'engine is stopping');
      },
    };
    const err = await errorOf(buildLocallyInstead(failing, compile.job_id));
    expect(err.code).toBe('unavailable');
    expect(engine.getJobs().length).toBe(before);
  });

  it('refuses unknown jobs, uploads and jobs that already build locally', async () => {
    expect((await errorOf(buildLocallyInstead(engine, 'abcdefabcdef'))).code).toBe('not_found');
    const compile = engine.install({ configuration: 'a.yaml' });
    const upload = dependent(compile.job_id)!;
    const e1 = await errorOf(buildLocallyInstead(engine, upload.job_id));
    expect(e1.code).toBe('invalid_args');
    expect(e1.message).toBe('Only a compile or install can be switched to a local build');
    const local = engine.compile({ configuration: 'a.yaml', forceLocal: true });
    const e2 = await errorOf(buildLocallyInstead(engine, local.job_id));
    expect(e2).toMatchObject({ code: 'invalid_args', message: 'This job already builds locally' });
  });
});

// The pipelined dispatch pool (issue 18 §2) over the real engine, real peer-link sessions, the
// real simulator CLI for `esphome bundle` and scripted build servers: waiting jobs are bundled
// ahead while the server builds (and stay queued and unbound), and a server's slot is released
// when it reports the build complete, so the artifact download overlaps its next build.
import { readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readSimLog, isAlive } from '../../../../test/e2e-remote/helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { BUNDLE_CONCURRENCY } from '../../esphome/bundle-slots';
import type { FirmwareJob } from '../../jobs/model';
import { deviceOf, holdingScript, startRig, type Rig } from './harness/rig';
import { makeArtifactTarball } from './harness/scripted-server';
import { must } from '../../../../test/support/must';

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.dispose();
});

async function rig(o: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig(o);
  rigs.push(r);
  return r;
}

/** The bundle cache does not vouch for files written within a second of a bundle: age them. */
function ageConfigs(r: Rig): void {
  const past = new Date(Date.now() - 60_000);
  for (const f of readdirSync(r.off.configDir)) if (/\.ya?ml$/.test(f)) utimesSync(join(r.off.configDir, f), past, past);
}

const job = (r: Rig, id: string): FirmwareJob => r.off.engine.getJob(id)!;
const bundlesOf = (r: Rig, yaml: string) => readSimLog(r.off.simLogPath).filter((e) => e.role === 'main' && e.argv?.includes('bundle') && e.argv.some((a) => a.endsWith(`/${yaml}`)));

describe('pipelined dispatch pool', () => {
  it('a waiting job is bundled ahead while the server builds, stays queued and unbound, and is sent without a second bundle', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    ageConfigs(r);
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => must(r.servers[0]).jobs.length === 1, { timeoutMs: 10_000, what: 'a submitted' });
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    await waitUntil(() => bundlesOf(r, 'b.yaml').length === 1, { timeoutMs: 10_000, what: 'b bundled ahead' });
    // Bundled ahead, yet still waiting for the pool: not bound, not started, not on the server.
    expect(job(r, b.job_id)).toMatchObject({ status: 'queued', source: 'remote_pending', source_pin_sha256: '' });
    expect(must(r.servers[0]).jobs.map((j) => j.jobId)).toEqual([a.job_id]);
    hold.release(a.job_id);
    await waitUntil(() => must(r.servers[0]).jobs.length === 2, { timeoutMs: 10_000, what: 'b submitted' });
    hold.release(b.job_id);
    const done = await r.off.waitDone(b.job_id);
    expect(done.status).toBe('completed');
    expect(bundlesOf(r, 'b.yaml')).toHaveLength(1); // the run used the bundle made ahead
    expect(done.output.join('')).toContain('configuration unchanged since its last bundle');
  });

  it('cancel of a job while it is bundled ahead: its bundle process ends, the job is cancelled, nothing reaches the server', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    await waitUntil(() => must(r.servers[0]).jobs.length === 1, { timeoutMs: 10_000, what: 'a submitted' });
    r.off.jobEnv.ESPHOME_SIM_STALL_BUNDLE = '1'; // b's bundle stalls until killed
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    await waitUntil(() => bundlesOf(r, 'b.yaml').length === 1, { timeoutMs: 10_000, what: 'b bundling ahead' });
    const pid = must(bundlesOf(r, 'b.yaml')[0]).pid;
    expect(isAlive(pid)).toBe(true);
    await r.off.engine.cancel(b.job_id);
    expect(job(r, b.job_id).status).toBe('cancelled');
    await waitUntil(() => !isAlive(pid), { timeoutMs: 10_000, what: 'bundle process ended' });
    delete r.off.jobEnv.ESPHOME_SIM_STALL_BUNDLE;
    hold.release(a.job_id);
    expect((await r.off.waitDone(a.job_id)).status).toBe('completed');
    expect(must(r.servers[0]).jobs.map((j) => j.jobId)).toEqual([a.job_id]);
  });

  it('the server takes the next job while the previous one downloads; killed then, both jobs are re-routed (a lost server each) and complete', async () => {
    let releaseDownload!: () => void;
    const downloadGate = new Promise<void>((res) => (releaseDownload = res));
    const hold = holdingScript();
    let firstJob = '';
    const r = await rig({
      servers: 1,
      server: () => ({
        onSubmit: hold.onSubmit,
        artifacts: async (jobId) => {
          // The first job's artifacts are "still downloading" until the test lets them go.
          if (jobId === firstJob) await downloadGate;
          return makeArtifactTarball(deviceOf(must(r.servers[0]), jobId));
        },
      }),
    });
    r.off.writeYaml('a.yaml');
    r.off.writeYaml('b.yaml');
    const a = r.off.engine.compile({ configuration: 'a.yaml' });
    firstJob = a.job_id;
    const b = r.off.engine.compile({ configuration: 'b.yaml' });
    await waitUntil(() => must(r.servers[0]).jobs.length === 1, { timeoutMs: 10_000, what: 'a submitted' });
    hold.release(a.job_id);
    // a's build is complete but its artifacts are held: the server already builds b.
    await waitUntil(() => must(r.servers[0]).jobs.length === 2, { timeoutMs: 10_000, what: 'b submitted during a download' });
    expect(job(r, a.job_id).status).toBe('running');
    expect(job(r, b.job_id)).toMatchObject({ status: 'running', source: 'remote' });
    await must(r.servers[0]).stop();
    releaseDownload();
    // No other server: per §11.3 both go back to the pool and, with none left, build here.
    const [da, db] = [await r.off.waitDone(a.job_id), await r.off.waitDone(b.job_id)];
    for (const d of [da, db]) {
      expect(d).toMatchObject({ status: 'completed', source: 'local' });
      expect(d.output.join('')).toContain(' mid-build (');
    }
  });

  it('with every server free, the bound jobs are bundled first and no more bundles run at once than the slots allow', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 4, server: () => ({ onSubmit: hold.onSubmit }) });
    const names = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `${n}.yaml`);
    for (const n of names) r.off.writeYaml(n);
    ageConfigs(r);
    r.off.jobEnv.ESPHOME_SIM_SPEED = '0.25'; // each bundle takes ~0.5 s, long enough to overlap
    const jobs = names.map((configuration) => r.off.engine.compile({ configuration }));
    // Sample the live bundle processes until every server has its job and the two waiting jobs
    // (bundled ahead, at the back of the slots) are bundled too.
    let most = 0;
    await waitUntil(
      () => {
        const alive = readSimLog(r.off.simLogPath).filter((e) => e.role === 'main' && e.argv?.includes('bundle') && isAlive(e.pid)).length;
        most = Math.max(most, alive);
        return r.servers.every((s) => s.jobs.length === 1) && names.slice(4).every((n) => bundlesOf(r, n).length === 1);
      },
      { timeoutMs: 30_000, stepMs: 5, what: 'four jobs submitted and two bundled ahead' },
    );
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(BUNDLE_CONCURRENCY);
    // The four bound jobs' bundles all started before either bundle made ahead.
    const startOf = (n: string): number => Date.parse(must(bundlesOf(r, n)[0]).time);
    const lastBound = Math.max(...names.slice(0, 4).map(startOf));
    for (const n of names.slice(4)) expect(startOf(n)).toBeGreaterThanOrEqual(lastBound);
    // The waiting jobs are still unbound; each server holds one of the first four.
    for (const j of jobs.slice(4)) expect(job(r, j.job_id)).toMatchObject({ status: 'queued', source: 'remote_pending' });
    expect(r.servers.map((s) => must(s.jobs[0]).jobId).sort()).toEqual(jobs.slice(0, 4).map((j) => j.job_id).sort());
    for (const j of jobs) hold.release(j.job_id);
    for (const j of jobs) expect((await r.off.waitDone(j.job_id)).status).toBe('completed');
  });

  it('a job bound at once with a configuration edited a moment ago is bundled once: its run takes the bundle the pool started at the bind', async () => {
    const hold = holdingScript();
    const r = await rig({ servers: 1, server: () => ({ onSubmit: hold.onSubmit }) });
    // Written just now: the bundle cache does not vouch for it, so only the hand-over avoids a second bundle.
    r.off.writeYaml('fresh.yaml');
    const j = r.off.engine.compile({ configuration: 'fresh.yaml' });
    await waitUntil(() => must(r.servers[0]).jobs.length === 1, { timeoutMs: 10_000, what: 'submitted' });
    hold.release(j.job_id);
    expect((await r.off.waitDone(j.job_id)).status).toBe('completed');
    expect(bundlesOf(r, 'fresh.yaml')).toHaveLength(1);
  });

  it('a bundle that fails when its job is bound fails the job once, in the words of the CLI, and nothing reaches the server', async () => {
    const r = await rig({ servers: 1 });
    r.off.writeYaml('broken.yaml', 'substitutions: [\n');
    const j = r.off.engine.compile({ configuration: 'broken.yaml' });
    const done = await r.off.waitDone(j.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/bundle failed: [^]*Invalid YAML syntax/);
    expect(bundlesOf(r, 'broken.yaml')).toHaveLength(1);
    expect(must(r.servers[0]).jobs).toHaveLength(0);
  });
});

// Build-server provisioning (peer-link §9.5) end to end with real processes: a `kiln receiver`
// child whose default toolchain is ESPHome B, a sender (createApp in this process) whose default
// toolchain is A, both real venvs installed by real pip from a wheelhouse built here (offline:
// PIP_FIND_LINKS + PIP_NO_INDEX reach the receiver's pip through its environment, as a user's
// pip configuration would). A compile of the sender's version A is built on the receiver in a
// toolchain of A installed on demand (its install lines in the sender's job log); a sender
// version the receiver cannot install ends `failed` with failure_reason "provision" there and
// the sender rebuilds locally.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type KilnApp } from '../../main/core/app';
import type { FirmwareJob } from '../../main/core/jobs/model';
import { installToolchain } from '../../main/core/toolchains/installer';
import { ToolchainStore } from '../../main/core/toolchains/store';
import { buildWheelhouse, pyenvPython } from '../support/esphome-wheelhouse';
import { waitUntil } from '../support/wait-until';
import { isAlive, killQuietly, readSimLog, REPO_ROOT, spawnKiln, startReceiver, type BuildServerChild } from './helpers';

const A = '2099.1.0';
const B = '2099.2.0';
/** Installed on the sender only: the receiver's wheelhouse does not have it. */
const C = '2099.7.0';
const KEY = 'ABCD-EFGH-JKMN-PQRS';
const PY = pyenvPython('3.12');

let root: string;
let configDir: string;
let senderData: string;
let senderTc: ToolchainStore;
let recvTc: ToolchainStore;
let recv: BuildServerChild;
let app: KilnApp | undefined;
let recvSimLog: string;
let senderSimLog: string;
const savedEnv = { ...process.env };

describe.skipIf(!PY)('build servers provision the sender\'s ESPHome version (real peer-link session, real pip)', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-e2e-provision-'));
    configDir = join(root, 'config');
    senderData = join(root, 'sender-data');
    recvSimLog = join(root, 'recv-sim.log');
    senderSimLog = join(root, 'sender-sim.log');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
    const recvWheels = buildWheelhouse(join(root, 'recv-wheels'), [{ version: A }, { version: B }], PY!);
    const senderWheels = buildWheelhouse(join(root, 'sender-wheels'), [{ version: A }, { version: C }], PY!);
    senderTc = new ToolchainStore(join(root, 'sender-toolchains'));
    recvTc = new ToolchainStore(join(root, 'recv-toolchains'));
    const offline = (wheels: string) => ({ findLinks: [wheels], noIndex: true, python: PY! });
    await Promise.all([installToolchain(senderTc, { version: A, ...offline(senderWheels) }), installToolchain(senderTc, { version: C, ...offline(senderWheels) }), installToolchain(recvTc, { version: B, ...offline(recvWheels) })]);
    await senderTc.setDefault(A);
    await recvTc.setDefault(B);
    process.env.ESPHOME_SIM_SPEED = '0';
    process.env.ESPHOME_SIM_LOG = senderSimLog;
    process.env.ESPHOME_NOGITIGNORE = '1';
    // No --esphome: the receiver builds with its default managed toolchain (B).
    recv = await startReceiver(join(root, 'recv'), KEY, {
      KILN_TOOLCHAINS: recvTc.root,
      ESPHOME_SIM_LOG: recvSimLog,
      PIP_FIND_LINKS: recvWheels,
      PIP_NO_INDEX: '1',
      KILN_ESPHOME: '',
    }, { managed: true });
    const pair = spawnKiln(['pair', `127.0.0.1:${recv.ready.port}`, '--pairing-key', KEY, '--yes', '--label', 'server-b', '--data-dir', senderData]);
    expect((await pair.exit).code, pair.text()).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await app?.stop().catch(() => undefined);
    if (recv && recv.proc.exitCode === null && recv.proc.signalCode === null) {
      recv.proc.kill('SIGTERM');
      await Promise.race([recv.exit, new Promise((res) => setTimeout(res, 5000))]);
      killQuietly(recv.proc.pid!);
    }
    for (const log of [recvSimLog, senderSimLog]) for (const e of readSimLog(log)) if (isAlive(e.pid)) killQuietly(e.pid);
    process.env = savedEnv;
    await rm(root, { recursive: true, force: true });
  }, 30_000);

  function waitJob(id: string, timeoutMs = 120_000): Promise<FirmwareJob> {
    return waitUntil(() => {
      const j = app!.engine.getJob(id);
      return j && ['completed', 'failed', 'cancelled'].includes(j.status) ? j : null;
    }, { timeoutMs, stepMs: 50, what: () => `job ${id} to end (${JSON.stringify(app!.engine.getJob(id)?.output.slice(-5))})` });
  }

  it('the receiver advertises its default toolchain B and auto_provision_supported', () => {
    expect(recv.ready.esphome_version).toBe(B);
    expect(recv.ready).toMatchObject({ auto_provision_supported: true });
    expect(recv.text()).toMatch(/provisioning\s+on: senders' other ESPHome versions are installed in/);
  });

  it('a sender on A gets its compile built on the receiver in a toolchain of A, installed on demand', async () => {
    app = await createApp({
      configDir,
      dataDir: senderData,
      toolchains: senderTc,
      report: () => undefined,
      peerLink: { buildServerRole: false, startupGraceMs: 0, backoffBaseMs: 100, backoffCapMs: 500 },
      engine: { terminateGraceMs: 1000, drainMs: 200 },
    });
    expect((await app.esphomeStatus).version).toBe(A);
    await waitUntil(() => app!.peerLink!.clients.connectedPins().length === 1, { timeoutMs: 15_000, what: 'session' });
    const job = app.engine.compile({ configuration: 'kitchen-plug.yaml' });
    const done = await waitJob(job.job_id);
    const log = (await app.engine.readLog(done.job_id)).join('');
    expect(done.status, `${done.error}\n${log.slice(-2000)}`).toBe('completed');
    expect(done.source).toBe('remote');
    // The sender knows this build server provisions (shown on its card).
    expect(app.peerLink!.sender.list()[0]).toMatchObject({ esphomeVersion: B, autoProvision: true });
    // The sender saw the provisioning in its job's log, then a build by ESPHome A.
    expect(log).toMatch(new RegExp(`Provisioning ESPHome ${A.replace(/\./g, '\\.')} on this build server .*this build server has ${B.replace(/\./g, '\\.')}`));
    expect(log).toMatch(/Successfully installed esphome-2099\.1\.0/);
    expect(log).toMatch(/Building with ESPHome 2099\.1\.0/);
    expect(log).toMatch(/INFO ESPHome 2099\.1\.0/);
    expect(log).not.toMatch(/INFO ESPHome 2099\.2\.0/);
    // Kept for reuse on the receiver, marked as provisioned; its default is still B.
    expect(recvTc.get(A)).toMatchObject({ version: A, origin: 'provision' });
    expect(recvTc.defaultVersion()).toBe(B);
    // The receiver's simulator ran as version A (ESPHOME_SIM_VERSION set by A's wheel).
    const compiles = readSimLog(recvSimLog).filter((e) => e.role === 'main' && e.argv?.includes('compile'));
    expect(compiles.length).toBeGreaterThan(0);

    // Second build of A: no install this time. (An edit: an identical bundle would be answered from
    // the build server's stored build, issue 15, and not build at all.)
    appendFileSync(join(configDir, 'kitchen-plug.yaml'), '\n# edited\n');
    const again = await waitJob(app.engine.compile({ configuration: 'kitchen-plug.yaml' }).job_id);
    const log2 = (await app.engine.readLog(again.job_id)).join('');
    expect(again.status).toBe('completed');
    expect(log2).not.toMatch(/Provisioning ESPHome/);
    expect(log2).toMatch(/INFO ESPHome 2099\.1\.0/);
  }, 240_000);

  it('a version the receiver cannot install fails there with failure_reason provision; the sender rebuilds locally', async () => {
    // Switching the sender's default takes effect without a restart (the launcher follows it).
    await app!.toolchains.manager!.setDefault(C);
    await waitUntil(async () => (await app!.esphomeStatus).version === C, { timeoutMs: 20_000, what: 'the sender to use C' });
    const before = readSimLog(senderSimLog).filter((e) => e.role === 'main' && e.argv?.includes('compile')).length;
    const job = app!.engine.compile({ configuration: 'living-room.yaml' });
    const done = await waitJob(job.job_id);
    const log = (await app!.engine.readLog(done.job_id)).join('');
    expect(done.status, `${done.error}\n${log.slice(-3000)}`).toBe('completed');
    expect(log).toMatch(/Provisioning ESPHome 2099\.7\.0 failed: .*pip found no esphome==2099\.7\.0/);
    expect(log).toMatch(/build server could not provision this ESPHome version .*rebuilding locally/);
    expect(done.source).toBe('local');
    expect(log).toMatch(/INFO ESPHome 2099\.7\.0/);
    expect(readSimLog(senderSimLog).filter((e) => e.role === 'main' && e.argv?.includes('compile')).length).toBeGreaterThan(before);
    // Nothing half-installed on the receiver.
    expect(recvTc.get(C)).toBeNull();
    expect(readFileSync(join(recvTc.root, 'default.json'), 'utf8')).toContain(B);
  }, 240_000);
});

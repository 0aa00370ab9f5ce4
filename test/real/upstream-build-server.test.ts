// Kiln sends, upstream builds: the pinned esphome-device-builder's headless build server
// (`--remote-build-only`) as a process; `kiln pair` and `kiln build --server` as processes.
// Upstream takes the `esphome` script next to its own interpreter (no setting), so two upstream
// environments are used: the real one (its real esphome fails at the PlatformIO download here) and
// one whose sibling `esphome` is Kiln's simulator (a compile runs to completion and Kiln flashes
// locally from the downloaded artifacts).
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { identityFilePath, loadOrCreateIdentity } from '../../main/core/peer-link/identity';
import { groupedHex } from '../../main/core/peer-link/fingerprint';
import { waitUntil } from '../support/wait-until';
import { envs, notRun } from './envs';
import { alive, descendants, start, type Proc } from './procs';
import { readBanner, startBuildServer, type UpstreamBuildServer } from './upstream';
import { REPO_ROOT, SIM } from '../e2e-remote/helpers';

const KILN = join(REPO_ROOT, 'main/headless/cli/kiln.ts');
const EXAMPLES = join(REPO_ROOT, 'tools/esphome-sim/examples');
const started: Proc[] = [];
const tmp: string[] = [];
// Build processes run in their own process group: killing the far side with SIGKILL leaves them
// running (nothing can clean up after SIGKILL), so the session-loss tests end them by pid.
const orphans: number[] = [];

function kiln(args: string[], env: Record<string, string> = {}): Proc {
  const p = start(process.execPath, ['--import', 'tsx', KILN, ...args], { cwd: REPO_ROOT, env: { KILN_FROM_SOURCE: '1', ...env } });
  started.push(p);
  return p;
}

function workDir(): { root: string; cfg: string; up: string } {
  const root = mkdtempSync(join(tmpdir(), 'kiln-real-up-'));
  tmp.push(root);
  cpSync(EXAMPLES, join(root, 'cfg'), { recursive: true });
  return { root, cfg: join(root, 'cfg'), up: join(root, 'upstream') };
}

// Kiln's sender bundles with the simulator reporting the pinned version, so upstream sees the same
// esphome version it has installed and builds directly (a different one makes upstream pip-install
// that version into a venv first — see docs/API.md "Upstream interop").
const senderEnv = () => ({ KILN_ESPHOME: SIM, ESPHOME_SIM_VERSION: envs.esphomeVersion, ESPHOME_SIM_SPEED: '0', ESPHOME_NOGITIGNORE: '1' });

async function pair(up: UpstreamBuildServer, cfg: string): Promise<Proc> {
  const p = kiln(['pair', `127.0.0.1:${up.port}`, '--yes', '--pairing-key', up.pairingKey, '--label', 'upstream', '--config-dir', cfg], senderEnv());
  const { code } = await p.exit;
  expect(code, p.text()).toBe(0);
  return p;
}

afterEach(async () => {
  for (const pid of orphans.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const p of started.splice(0)) await p.stop(5_000);
});
afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!envs.ok)(`Kiln sends, upstream esphome-device-builder ${envs.deviceBuilderVersion} builds${notRun}`, () => {
  it('pairs with the one-time key (same fingerprint), persists on both sides, builds live, flashes locally from the artifacts, and survives an upstream restart', async () => {
    const w = workDir();
    let up = await startBuildServer(w.up, { sim: true, env: { ESPHOME_SIM_SPEED: '0.3', ESPHOME_SIM_VERSION: envs.esphomeVersion } });
    started.push(up.proc);
    await readBanner(up);

    // preview + pair: the fingerprint Kiln shows is the one upstream's banner prints.
    const pairing = await pair(up, w.cfg);
    const shown = pairing.text('out');
    expect(shown).toContain(up.emoji);
    expect(shown).toContain(up.emojiNames.replace(/, /g, ', '));
    expect(shown).toContain(up.pinHex);
    expect(shown).toMatch(/Paired with upstream/);
    expect(up.proc.text()).toMatch(/peer-link preview from 127\.0\.0\.1 -> ok/);
    expect(up.proc.text()).toMatch(/pair_request from 127\.0\.0\.1 -> approved/);

    // Persisted on both sides: Kiln's pairings.json holds upstream's pin; upstream's
    // .receiver_peers.json holds Kiln's pin (its own identity's, not a copy of anything shown).
    const pin = up.pinHex.replace(/ /g, '');
    const kilnPairings = JSON.parse(readFileSync(join(w.cfg, '.kiln', 'pairings.json'), 'utf8'));
    expect(kilnPairings.pairings.map((p: { pin_sha256: string; status: string }) => [p.pin_sha256, p.status])).toEqual([[pin, 'approved']]);
    const kilnPin = loadOrCreateIdentity(identityFilePath(join(w.cfg, '.kiln'))).pin;
    const upPeers = JSON.parse(readFileSync(join(w.up, '.receiver_peers.json'), 'utf8'));
    expect(upPeers.peers.map((p: { pin_sha256: string }) => p.pin_sha256)).toEqual([kilnPin]);
    expect(groupedHex(pin)).toBe(up.pinHex);

    // submit + ack + live output + terminal state + download_artifacts, then a local flash.
    const build = kiln(['build', join(w.cfg, 'living-room.yaml'), '--server', 'upstream', '--target', 'install', '--device', 'OTA'], senderEnv());
    const { code } = await build.exit;
    const out = build.text();
    expect(code, out).toBe(0);
    expect(out).toMatch(/connected to upstream .*compiling there/);
    // upstream's build ran inside its remote-build workspace: its esphome read the bundled YAML there
    expect(out).toMatch(/Reading configuration .*\.remote_builds\/.*\/living-room\.yaml/);
    expect(out).toContain('INFO Successfully compiled program.');
    // live: upstream's first output line reached Kiln well before the job ended
    const first = build.lines.find((l) => l.text.includes('.remote_builds/'))!;
    const done = build.lines.find((l) => l.text.includes('Successfully compiled program'))!;
    expect(done.t - first.t).toBeGreaterThan(300);
    // flashed locally from the artifacts upstream sent back
    expect(out).toMatch(/INFO Uploading .*\.pioenvs\/living-room\/firmware\.bin/);
    expect(out).toContain('INFO OTA successful');
    expect(existsSync(join(w.cfg, '.esphome', 'build', 'living-room', '.pioenvs', 'living-room', 'firmware.bin'))).toBe(true);
    expect(up.proc.text()).toMatch(/submit_job from \S+: queued job/);
    await waitUntil(() => /Job \w+ completed/.test(up.proc.text()), { timeoutMs: 15_000, what: "upstream's completed line" });

    // Upstream restart (same dir, same port): no banner (it is paired), Kiln's stored pairing works.
    await up.proc.stop();
    const port = kilnPairings.pairings[0].receiver_port;
    up = await startBuildServer(w.up, { sim: true, port, env: { ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_VERSION: envs.esphomeVersion } });
    expect(up.port).toBe(port);
    started.push(up.proc);
    expect(up.proc.text()).not.toContain('REMOTE BUILD PAIRING');
    const again = kiln(['build', join(w.cfg, 'kitchen-plug.yaml'), '--server', 'upstream'], senderEnv());
    const r2 = await again.exit;
    expect(r2.code, again.text()).toBe(0);
    expect(again.text()).toContain('INFO Successfully compiled program.');
  });

  it('Stop in Kiln after the session outlived the heartbeat deadline ends upstream\'s build process', async () => {
    const w = workDir();
    writeFileSync(join(w.cfg, 'stuck.yaml'), readFileSync(join(w.cfg, 'kitchen-plug.yaml'), 'utf8').replace('name: kitchen-plug', 'name: stuck') + '\n# sim: hang\n');
    const up = await startBuildServer(w.up, { sim: true, env: { ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_VERSION: envs.esphomeVersion } });
    started.push(up.proc);
    await readBanner(up);
    await pair(up, w.cfg);
    const build = kiln(['build', join(w.cfg, 'stuck.yaml'), '--server', 'upstream'], senderEnv());
    // upstream's esphome child (the simulator standing in for it) runs the compile
    const esphome = await waitUntil(() => descendants(up.proc.pid).find((p) => p.cmdline.includes(' compile ') && p.cmdline.includes('stuck.yaml')),
      { timeoutMs: 60_000, what: () => `upstream compile process (kiln:\n${build.text()}\nupstream:\n${up.proc.text().slice(-2000)})` });
    await waitUntil(() => build.text().includes('Compiling'), { timeoutMs: 60_000, what: 'live output from upstream' });
    // Heartbeats every 30 s, dead after 90 s: hold the session past that.
    const heldMs = Number(process.env.KILN_REAL_HEARTBEAT_HOLD_MS ?? 95_000);
    await new Promise((r) => setTimeout(r, heldMs)); // a time bound is what is tested here
    expect(build.exited).toBe(false);
    expect(up.proc.text()).not.toMatch(/heartbeat_timeout|session.*(closed|lost)/i);
    process.kill(build.pid, 'SIGINT');
    const { code } = await build.exit;
    expect(code, build.text()).toBe(130);
    await waitUntil(() => !alive(esphome.pid), { timeoutMs: 30_000, what: 'upstream build process gone' });
    expect(descendants(up.proc.pid).filter((p) => p.cmdline.includes('stuck.yaml'))).toEqual([]);
    await waitUntil(() => /Job \w+ cancelled mid-run/.test(up.proc.text()), { timeoutMs: 15_000, what: 'upstream logs the cancel' });
  }, 300_000);

  it('session loss: upstream killed mid-build ends Kiln\'s job failed with "peer-link session lost"', async () => {
    const w = workDir();
    writeFileSync(join(w.cfg, 'stuck.yaml'), readFileSync(join(w.cfg, 'kitchen-plug.yaml'), 'utf8').replace('name: kitchen-plug', 'name: stuck') + '\n# sim: hang\n');
    const up = await startBuildServer(w.up, { sim: true, env: { ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_VERSION: envs.esphomeVersion } });
    started.push(up.proc);
    await readBanner(up);
    await pair(up, w.cfg);
    const build = kiln(['build', join(w.cfg, 'stuck.yaml'), '--server', 'upstream'], senderEnv());
    await waitUntil(() => build.text().includes('Compiling'), { timeoutMs: 60_000, what: () => `live output (kiln:\n${build.text()})` });
    const orphan = await waitUntil(() => descendants(up.proc.pid).find((p) => p.cmdline.includes(' compile ') && p.cmdline.includes('stuck.yaml')), { timeoutMs: 60_000, what: 'the build process' });
    orphans.push(orphan.pid);
    process.kill(-up.proc.pid, 'SIGKILL');
    const { code } = await build.exit;
    expect(code, build.text()).toBe(1);
    expect(build.text()).toMatch(/peer-link session lost/);
  });

  it('with upstream\'s real esphome: the real PlatformIO failure streams into Kiln\'s log and ends the job failed', async () => {
    const w = workDir();
    const up = await startBuildServer(w.up, { sim: false });
    started.push(up.proc);
    await readBanner(up);
    await pair(up, w.cfg);
    // The sender bundles with the real CLI of the same pinned version.
    const build = kiln(['build', join(w.cfg, 'kitchen-plug.yaml'), '--server', 'upstream'], { ...senderEnv(), KILN_ESPHOME: envs.esphome.bin });
    const { code } = await build.exit;
    const out = build.text();
    expect(code, out).toBe(1);
    expect(out).toContain(`INFO ESPHome ${envs.esphomeVersion}`);
    expect(out).toMatch(/Reading configuration .*\.remote_builds\/.*kitchen-plug\.yaml/);
    expect(out).toMatch(/platformio\.org|HTTPClientError|PlatformioException|Could not|Failed to resolve/);
    expect(out).toMatch(/kiln: compile failed/);
    // Upstream logs its verdict after it has sent the terminal frame: wait for the line, do not race it.
    await waitUntil(() => /Job \w+ failed \(exit code 1\)/.test(up.proc.text()), { timeoutMs: 15_000, what: () => `upstream's verdict line (upstream:\n${up.proc.text().slice(-2000)})` });
  }, 300_000);
});


// Reliability suite, faults on the build server's side (issue 11), on real processes: a
// `kiln receiver` child compiling with the esphome simulator, `kiln pair`, a sender composed by
// createApp in this process.
//   - build server SIGKILLed mid-artifact-download (a `# sim-firmware-bytes:` image, so the
//     artifacts take hundreds of chunks): the job leaves RUNNING with a clear line and is built
//     again here; the sender's earlier build tree is untouched (nothing half-written);
//   - disk full on the build server while it extracts a bundle (its workspaces on an 8 MiB
//     tmpfs): the sender's job fails in plain words, the build server lives on and serves the
//     next job, no partial workspace is left, the earlier workspace and firmware are intact.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PeerMessage } from '../../main/core/peer-link/session';
import { REMOTE_BUILDS_DIR } from '../../main/core/build-server/workspace';
import { STAGING_DIR } from '../../main/core/build-server/bundle-extract';
import { waitUntil } from '../support/wait-until';
import { canMountTmpfs, FaultRig, NOT_RUN_TMPFS, outputOf, treeDigest, waitJob } from './fault-harness';
import { isAlive } from './helpers';

const rig = new FaultRig();
afterEach(() => rig.afterEach());
afterAll(() => rig.afterAll());

const MIB = 1024 * 1024;
/** The app image of the large build: its artifacts (image + an ELF of 2×) are ~24 MB, ~730 chunks. */
const LARGE_FIRMWARE_BYTES = 8_000_000;
/** Kill once this many artifact chunks reached the sender: well inside the download. */
const KILL_AT_CHUNK = 16;

describe('build-server faults on real processes (issue 11 reliability suite)', () => {
  it('build server SIGKILL mid-artifact-download: the job leaves RUNNING with a clear line, is built here, the earlier build tree untouched', async () => {
    const s = await rig.setup();
    // Default heartbeat (30 s / 90 s): what ends the download is the killed process, not a timer.
    const app = await rig.senderApp(s.configDir, s.senderLog, {});
    const first = await waitJob(app, app.engine.compile({ configuration: 'kitchen-plug.yaml' }).job_id, 60_000);
    expect(first.status, first.error ?? '').toBe('completed');
    expect(first.source).toBe('remote');
    const esphomeDir = join(s.configDir, '.esphome');
    const before = treeDigest(esphomeDir);
    expect(Object.keys(before)).toContain(join('build', 'kitchen-plug', '.pioenvs', 'kitchen-plug', 'firmware.bin'));

    const yamlPath = join(s.configDir, 'kitchen-plug.yaml');
    writeFileSync(yamlPath, `# sim-firmware-bytes: ${LARGE_FIRMWARE_BYTES}\n${readFileSync(yamlPath, 'utf8')}`);
    const session = app.peerLink!.clients.getSession(s.recv.ready.pin);
    const seen = { totalBytes: 0, numChunks: 0, chunks: 0, ended: false, killedAt: 0 };
    const off = session.onMessage((m: PeerMessage) => {
      if (m.type === 'artifacts_start') {
        seen.totalBytes = m.total_bytes as number;
        seen.numChunks = m.num_chunks as number;
      } else if (m.type === 'artifacts_chunk') {
        seen.chunks++;
        if (seen.chunks === KILL_AT_CHUNK) {
          // The re-routed attempt is held (queue paused) so the tree can be read as the kill left it.
          app.engine.pause();
          process.kill(s.recv.proc.pid!, 'SIGKILL');
          seen.killedAt = Date.now();
        }
      } else if (m.type === 'artifacts_end') seen.ended = true;
    });
    const job = app.engine.compile({ configuration: 'kitchen-plug.yaml' });
    try {
      await waitUntil(() => seen.killedAt > 0, { timeoutMs: 60_000, what: () => `${KILL_AT_CHUNK} artifact chunks (job ${app.engine.getJob(job.job_id)?.status}, chunks ${seen.chunks})` });
      await s.recv.exit;
      const left = await waitUntil(
        () => {
          const j = app.engine.getJob(job.job_id)!;
          return j.status !== 'running' && j.output.some((l) => /Lost .* mid-build/.test(l)) ? { at: Date.now(), status: j.status } : null;
        },
        { what: () => `the job to leave RUNNING (now ${app.engine.getJob(job.job_id)?.status})` },
      );
      const leftMs = left.at - seen.killedAt;
      // Read while the re-routed attempt waits: nothing of the interrupted download was staged.
      const after = treeDigest(esphomeDir);
      expect(seen.ended).toBe(false);
      expect(seen.chunks).toBeLessThan(seen.numChunks);
      expect(after).toEqual(before);
      expect(app.engine.getJob(first.job_id)!.status).toBe('completed');
      const lostLine = app.engine.getJob(job.job_id)!.output.find((l) => /Lost .* mid-build/.test(l))!.trim();

      app.engine.resume();
      const done = await waitJob(app, job.job_id, 120_000);
      console.log(
        `[faults] build server SIGKILL mid-download: artifacts ${(seen.totalBytes / MIB).toFixed(1)} MiB in ${seen.numChunks} chunks, killed after ${KILL_AT_CHUNK} reached the sender (${seen.chunks} arrived in all); the job left RUNNING (${left.status}) ${leftMs} ms after the kill: "${lostLine}"; build tree unchanged (${Object.keys(after).length} files); then ${done.status} on ${done.source}`,
      );
      expect(seen.totalBytes).toBeGreaterThan(3 * LARGE_FIRMWARE_BYTES - MIB);
      expect(done.status, done.error ?? '').toBe('completed');
      expect(done.source).toBe('local');
      expect(await outputOf(app, done)).toMatch(/Lost .* mid-build \(peer_hung_up/);
      // The local rebuild wrote a whole image of the asked-for size.
      const storage = JSON.parse(readFileSync(join(esphomeDir, 'storage', 'kitchen-plug.yaml.json'), 'utf8')) as { firmware_bin_path: string };
      expect(statSync(storage.firmware_bin_path).size).toBe(LARGE_FIRMWARE_BYTES);
    } finally {
      off();
    }
  }, 240_000);

  it.skipIf(!canMountTmpfs)(
    `disk full on the build server while extracting: the job fails in plain words, the build server serves the next job, nothing partial left${NOT_RUN_TMPFS}`,
    async () => {
      // The build server's workspaces (remote_builds/) are an 8 MiB file system of their own.
      let workspaces = '';
      const s = await rig.setup({}, {
        prepareReceiverDir: (dir) => {
          workspaces = join(dir, REMOTE_BUILDS_DIR);
          rig.mountTmpfs(workspaces, '8m');
        },
      });
      const app = await rig.senderApp(s.configDir, s.senderLog, {});
      const first = await waitJob(app, app.engine.compile({ configuration: 'kitchen-plug.yaml' }).job_id, 60_000);
      expect(first.status, first.error ?? '').toBe('completed');
      expect(first.source).toBe('remote');
      const serverBefore = treeDigest(workspaces);
      const senderBefore = treeDigest(join(s.configDir, '.esphome'));
      expect(Object.keys(serverBefore).some((p) => p.endsWith('firmware.bin'))).toBe(true);

      // A 12 MiB font that does not compress: the bundle cannot be unpacked in what is left.
      const yamlPath = join(s.configDir, 'kitchen-plug.yaml');
      const yaml = readFileSync(yamlPath, 'utf8');
      writeFileSync(join(s.configDir, 'big.ttf'), randomBytes(12 * MIB));
      writeFileSync(yamlPath, `${yaml}font:\n  - file: "big.ttf"\n    id: f1\n    size: 10\n`);
      const second = await waitJob(app, app.engine.compile({ configuration: 'kitchen-plug.yaml' }).job_id, 120_000);
      console.log(`[faults] build server disk full: job ${second.status} on ${second.source}: ${second.error}`);
      expect(second.status).toBe('failed');
      expect(second.source).toBe('remote');
      expect(second.error).toMatch(/build server is out of disk space/);
      // Alive, and said so in its own log.
      expect(s.recv.proc.exitCode).toBeNull();
      expect(isAlive(s.recv.proc.pid!)).toBe(true);
      const serverLine = s.recv.text().split('\n').find((l) => /out of disk space/.test(l));
      console.log(`[faults] build server disk full: its log: ${serverLine}`);
      expect(serverLine).toBeDefined();
      // No partial workspace: staging emptied, the earlier workspace byte for byte as it was.
      expect(readdirSync(join(workspaces, STAGING_DIR))).toEqual([]);
      expect(treeDigest(workspaces)).toEqual(serverBefore);
      expect(treeDigest(join(s.configDir, '.esphome'))).toEqual(senderBefore);

      // The next (small) job is served by the same process.
      writeFileSync(yamlPath, yaml);
      const third = await waitJob(app, app.engine.compile({ configuration: 'kitchen-plug.yaml' }).job_id, 60_000);
      console.log(`[faults] build server disk full: the next job ${third.status} on ${third.source}`);
      expect(third.status, third.error ?? '').toBe('completed');
      expect(third.source).toBe('remote');
    },
    180_000,
  );
});

// A scripted build server in its own process for the transfer and log benchmarks (so sender and
// receiver each get a core, as on two machines). Argv: <mode> <sender json>.
//   transfer: accepts every submit (the bundle is reassembled and its SHA-256 verified, as a
//             receiver does) and answers download_artifacts with BENCH_ARTIFACT_MIB random MiB.
//   logs:     accepts a submit, then streams BENCH_LOG_LINES job_output frames (one line each),
//             sent without awaiting like the receiver's fan-out, with a back-pressure wait every
//             256 lines (an esphome read burst), then completed.
import { randomBytes } from 'node:crypto';
import type { PeerLinkIdentity } from '../../main/core/peer-link/identity';
import { ScriptedServer } from '../../main/core/scheduler/test/harness/scripted-server';

const [mode, senderJson] = process.argv.slice(2);
const sender = JSON.parse(senderJson) as { pin: string; publicKey: string; dashboardId: string };
const senderIdentity = { pin: sender.pin, publicKey: Buffer.from(sender.publicKey, 'base64'), privateKey: Buffer.alloc(32) } as unknown as PeerLinkIdentity;
const artifactBytes = Number(process.env.BENCH_ARTIFACT_MIB ?? 64) * 1024 * 1024;
const logLines = Number(process.env.BENCH_LOG_LINES ?? 200_000);
let artifact: Buffer | undefined;

const server = await ScriptedServer.start({
  sender: { identity: senderIdentity, dashboardId: sender.dashboardId, label: 'bench sender' },
  // No heartbeat traffic during a measurement.
  heartbeatIntervalMs: 3_600_000,
  heartbeatDeadAfterMs: 7_200_000,
  artifacts: () => (artifact ??= randomBytes(artifactBytes)),
  onSubmit: async (job) => {
    await job.ack(true);
    await job.state('running');
    if (mode === 'logs') {
      let last: Promise<void> = Promise.resolve();
      for (let i = 0; i < logLines; i++) {
        last = job.output(`[${String(i).padStart(6, '0')}] Compiling .pioenvs/bench/src/esphome/components/sensor/sensor_${i % 97}.cpp.o\n`);
        if (i % 256 === 255) await last;
      }
      await last;
    }
    await job.state('completed');
  },
});

process.stdout.write(`BENCH_SERVER_READY ${JSON.stringify({ port: server.port, pin: server.pin, publicKey: Buffer.from(server.identity.publicKey).toString('base64') })}\n`);
const stop = (): void => {
  void server.dispose().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

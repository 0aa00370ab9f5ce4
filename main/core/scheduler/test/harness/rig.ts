// One-call setup of a sender and N scripted build servers, all paired and connected on loopback.
import { newDashboardId } from '../../../peer-link/dashboard-id';
import { identityFromPrivateKey } from '../../../peer-link/identity';
import { generateX25519KeyPair } from '../../../peer-link/x25519';
import { TestSender, type OffloaderOptions } from './offloader';
import { makeArtifactTarball, ScriptedServer, type ScriptedJob, type ScriptedServerOptions } from './scripted-server';

export interface Rig {
  off: TestSender;
  servers: ScriptedServer[];
  dispose(): Promise<void>;
}

export interface RigOptions {
  servers?: number;
  /** Per-server options (index → options); `sender` is filled in. */
  server?: (i: number) => Partial<Omit<ScriptedServerOptions, 'sender'>>;
  offloader?: OffloaderOptions;
  /** Per-server pairing extras (label, version, paired_at). */
  pairing?: (i: number) => { label?: string; esphomeVersion?: string; pairedAt?: number };
  /** Wait for every session before returning (default true). */
  connect?: boolean;
}

export async function startRig(o: RigOptions = {}): Promise<Rig> {
  const identity = o.offloader?.identity ?? identityFromPrivateKey(generateX25519KeyPair().privateKey);
  const dashboardId = newDashboardId();
  const servers: ScriptedServer[] = [];
  for (let i = 0; i < (o.servers ?? 1); i++) {
    // Artifacts for the device the job builds (the sender refuses another device's, issue 11 #3).
    const server: ScriptedServer = await ScriptedServer.start({ sender: { identity, dashboardId }, artifacts: (jobId) => makeArtifactTarball(deviceOf(server, jobId)), ...o.server?.(i) });
    servers.push(server);
  }
  const off = await TestSender.start(
    servers.map((s, i) => ({ pin: s.pin, publicKey: s.identity.publicKey, port: s.port, label: `srv${i}`, pairedAt: 1000 + i, ...o.pairing?.(i) })),
    { ...o.offloader, identity, dashboardId },
  );
  if (o.connect !== false) await off.waitConnected(servers.map((s) => s.pin));
  return {
    off,
    servers,
    async dispose() {
      await off.dispose().catch(() => undefined);
      for (const s of servers) await s.dispose().catch(() => undefined);
    },
  };
}

/**
 * A server script that holds every job "running" until the test releases it:
 * `hold.release(jobId, 'completed' | 'failed' | …)`.
 */
export function holdingScript(): { onSubmit: (j: ScriptedJob) => Promise<void>; release: (jobId: string, status?: 'completed' | 'failed' | 'cancelled', error?: string, extra?: Record<string, unknown>) => void; held: () => string[] } {
  const gates = new Map<string, (v: { status: 'completed' | 'failed' | 'cancelled'; error: string; extra: Record<string, unknown> }) => void>();
  const early = new Map<string, { status: 'completed' | 'failed' | 'cancelled'; error: string; extra: Record<string, unknown> }>();
  return {
    held: () => [...gates.keys()],
    release(jobId, status = 'completed', error = '', extra = {}) {
      const g = gates.get(jobId);
      if (g) g({ status, error, extra });
      else early.set(jobId, { status, error, extra });
    },
    async onSubmit(j) {
      await j.ack(true);
      await j.state('running');
      await j.output(`building ${j.jobId} here\n`);
      const verdict =
        early.get(j.jobId) ??
        (await Promise.race([
          new Promise<{ status: 'completed' | 'failed' | 'cancelled'; error: string; extra: Record<string, unknown> }>((r) => gates.set(j.jobId, r)),
          j.cancelled.then(() => ({ status: 'cancelled' as const, error: 'cancelled by the offloader', extra: {} })),
        ]));
      gates.delete(j.jobId);
      if (!j.session.closed) await j.state(verdict.status, verdict.error, verdict.extra).catch(() => undefined);
    },
  };
}

/** The device a scripted server's job builds: the submit's device_name, else TestSender.writeYaml's rule. */
export function deviceOf(server: ScriptedServer, jobId: string): string {
  const header = server.jobs.find((j) => j.jobId === jobId)?.header as { device_name?: string; configuration_filename?: string } | undefined;
  if (header?.device_name) return header.device_name;
  const file = (header?.configuration_filename ?? 'kitchen.yaml').split('/').pop()!;
  return file.replace(/\.ya?ml$/, '').replace(/[^a-z0-9-]/gi, '-');
}

// Kiln's build server against the anchor, side by side in one run: the same Kiln sender
// (`kiln build --server`, a process) sends the same configuration to upstream's headless build
// server (esphome-device-builder --remote-build-only, the pinned release, with Kiln's simulator as
// its esphome) and to `kiln receiver` (same simulator, same speed). Reported:
//   - remote wall time (process start → exit of `kiln build --server`) of a near-zero build and of
//     a realistic one, each as upstream ms, Kiln ms and the ratio Kiln ÷ upstream (target ≤ 1);
//   - bundle throughput of both receivers: the same build with a 24 MB incompressible include
//     minus the build without it, both ways → MB/s, and the ratio Kiln ÷ upstream (target ≥ 1);
//   - artifact throughput of both: the ESP32 artifact bytes Kiln's sender stages ÷ the time from
//     the build server's "Successfully compiled" line reaching the sender to the sender's exit.
// NOT RUN (printed, no results) where the pinned Python environments cannot be set up.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { mean, type BenchContext, type BenchResult } from './lib/report';
import { KEEP_NO_BUILDS, REPO_ROOT, SIM } from './lib/stack';
import { start, type Proc } from '../test/real/procs';

const KILN = join(REPO_ROOT, 'main/headless/cli/kiln.ts');
const KEY = 'BNCH-ANCH-RKVS-2345';

interface Status { ok: boolean; reason: string; envs?: Record<string, { python: string }>; pins?: { envs: Record<string, { packages: string[] }> } }

async function envStatus(): Promise<Status> {
  // @ts-expect-error plain .mjs tool without types
  const m = (await import('../tools/python-envs.mjs')) as { setup: (o: { log: (s: string) => void }) => Status };
  return m.setup({ log: () => {} });
}

async function waitLine(p: Proc, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(p.text());
    if (m) return m;
    if (p.exited || Date.now() > deadline) throw new Error(`waiting for ${re}: ${p.text().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const status = await envStatus();
  if (!status.ok || !status.envs || !status.pins) {
    return [{ name: 'upstream anchor', value: NaN, unit: '', note: `NOT RUN: ${status.reason}` }];
  }
  const esphomeVersion = status.pins.envs.esphome?.packages[0]?.split('==')[1];
  const simEnv = status.envs['device-builder-sim'];
  if (esphomeVersion === undefined || simEnv === undefined) {
    return [{ name: 'upstream anchor', value: NaN, unit: '', note: 'NOT RUN: the esphome pin or the device-builder-sim environment is missing' }];
  }
  const simPython = simEnv.python;
  const procs: Proc[] = [];
  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-anchor-'));
  const stopAll = async () => { for (const p of procs.splice(0)) await p.stop(5_000); };
  try {
    const cfg = join(root, 'cfg');
    cpSync(join(REPO_ROOT, 'tools/esphome-sim/examples'), cfg, { recursive: true });
    // a 24 MB incompressible include for the bundle throughput (gzip cannot shrink it)
    writeFileSync(join(cfg, 'blob.h'), randomBytes(24 * 1024 * 1024).toString('base64').slice(0, 24 * 1024 * 1024));
    const base = readFileSync(join(cfg, 'kitchen-plug.yaml'), 'utf8');
    writeFileSync(join(cfg, 'bulky.yaml'), base.replace('name: kitchen-plug', 'name: bulky').replace(/^esphome:\n/m, 'esphome:\n  includes:\n    - blob.h\n'));
    const speed = (s: string) => ({ ESPHOME_SIM_SPEED: s, ESPHOME_SIM_VERSION: esphomeVersion, ESPHOME_NOGITIGNORE: '1' });

    // Two build servers, both with the simulator; speed is set per server process, so one pair
    // per speed. The sender's own simulator (bundling) runs at speed 0 either way.
    async function servers(simSpeed: string): Promise<{ upstream: string; kiln: string; data: string }> {
      const data = mkdtempSync(join(root, 'sender-'));
      const upDir = mkdtempSync(join(root, 'up-'));
      const up = start(simPython, ['-m', 'esphome_device_builder', upDir, '--remote-build-only', '--remote-build-port', '0', '--remote-build-host', '127.0.0.1'], { cwd: upDir, env: { PYTHONUNBUFFERED: '1', ...speed(simSpeed) } });
      procs.push(up);
      const upPort = (await waitLine(up, /listening on 127\.0\.0\.1:(\d+)/, 90_000))[1];
      const upKey = (await waitLine(up, /pair dialog\n.*\n\s*\n\s+([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})/, 60_000))[1];
      const recv = start(process.execPath, ['--import', 'tsx', KILN, 'receiver', '--host', '127.0.0.1', '--port', '0', '--no-mdns', '--esphome', SIM, '--data-dir', mkdtempSync(join(root, 'recv-')), '--pairing-key', KEY, ...KEEP_NO_BUILDS], { cwd: REPO_ROOT, env: { KILN_FROM_SOURCE: '1', ...speed(simSpeed) } });
      procs.push(recv);
      const kPort = (await waitLine(recv, /KILN_RECEIVER_READY \{"port":(\d+)/, 60_000))[1];
      if (upPort === undefined || upKey === undefined || kPort === undefined) throw new Error('a build server printed no port or pairing key');
      for (const [label, port, key] of [[`up${simSpeed}`, upPort, upKey], [`kiln${simSpeed}`, kPort, KEY]] as const) {
        const p = start(process.execPath, ['--import', 'tsx', KILN, 'pair', `127.0.0.1:${port}`, '--yes', '--pairing-key', key, '--label', label, '--config-dir', cfg, '--data-dir', data], { cwd: REPO_ROOT, env: { KILN_FROM_SOURCE: '1' } });
        const { code } = await p.exit;
        if (code !== 0) throw new Error(`pair ${label}: ${p.text()}`);
      }
      return { upstream: `up${simSpeed}`, kiln: `kiln${simSpeed}`, data };
    }

    async function timeBuild(server: string, data: string, yaml: string): Promise<{ ms: number; artifactMs: number }> {
      const t0 = performance.now();
      const p = start(process.execPath, ['--import', 'tsx', KILN, 'build', join(cfg, yaml), '--server', server, '--data-dir', data], { cwd: REPO_ROOT, env: { KILN_FROM_SOURCE: '1', KILN_ESPHOME: SIM, ...speed('0') } });
      const { code } = await p.exit;
      const exitAt = Date.now();
      const ms = performance.now() - t0;
      if (code !== 0) throw new Error(`build on ${server}: exit ${code}\n${p.text().slice(-2000)}`);
      // the build server's last compile line reached the sender; what follows is the artifact
      // download, staging and the sender's exit
      const compiled = p.lines.find((l) => l.text.includes('Successfully compiled program'));
      return { ms, artifactMs: compiled ? exitAt - compiled.t : NaN };
    }

    function artifactBytes(device: string): number {
      const dir = join(cfg, '.esphome', 'build', device, '.pioenvs', device);
      return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    }

    const n = ctx.quick ? 2 : 4;
    const results: BenchResult[] = [];
    const pairOf = async (s: { upstream: string; kiln: string; data: string }, yaml: string, label: string) => {
      // one warm-up each (first builds "download" libraries), then alternate
      await timeBuild(s.upstream, s.data, yaml);
      await timeBuild(s.kiln, s.data, yaml);
      const up: number[] = [];
      const kl: number[] = [];
      const upArt: number[] = [];
      const klArt: number[] = [];
      for (let i = 0; i < n; i += 1) {
        const u = await timeBuild(s.upstream, s.data, yaml);
        const k = await timeBuild(s.kiln, s.data, yaml);
        up.push(u.ms); upArt.push(u.artifactMs);
        kl.push(k.ms); klArt.push(k.artifactMs);
      }
      ctx.log(`  ${label}: upstream ${up.map((x) => x.toFixed(0)).join(' ')} ms; kiln ${kl.map((x) => x.toFixed(0)).join(' ')} ms`);
      return { up: mean(up), kiln: mean(kl), upArt: mean(upArt), kilnArt: mean(klArt) };
    };

    const fast = await servers('0');
    const zero = await pairOf(fast, 'kitchen-plug.yaml', 'near-zero build');
    results.push(
      { name: 'near-zero build via upstream build server', value: zero.up, unit: 'ms', note: `mean of ${n}; kiln build --server process wall time` },
      { name: 'near-zero build via Kiln build server', value: zero.kiln, unit: 'ms', note: `mean of ${n}` },
      { name: 'Kiln ÷ upstream wall time, near-zero build', value: zero.kiln / zero.up, unit: '×', target: 1, better: 'lower' },
    );
    const bulky = await pairOf(fast, 'bulky.yaml', 'near-zero build + 24 MB bundle');
    const mb = statSync(join(cfg, 'blob.h')).size / (1024 * 1024);
    const upMBs = mb / ((bulky.up - zero.up) / 1000);
    const kMBs = mb / ((bulky.kiln - zero.kiln) / 1000);
    results.push(
      { name: 'bundle throughput, upstream receiver', value: upMBs, unit: 'MB/s', note: '24 MB include: (bulky − plain) wall time' },
      { name: 'bundle throughput, Kiln receiver', value: kMBs, unit: 'MB/s' },
      { name: 'Kiln ÷ upstream bundle throughput', value: kMBs / upMBs, unit: '×', target: 1, better: 'higher' },
    );
    const art = await pairOf(fast, 'living-room.yaml', 'ESP32 near-zero build (artifacts)');
    const artMB = artifactBytes('living-room') / (1024 * 1024);
    results.push(
      { name: 'artifact throughput, upstream receiver', value: artMB / (art.upArt / 1000), unit: 'MB/s', note: `${artMB.toFixed(1)} MB of ESP32 artifacts; last compile line at the sender → sender exit` },
      { name: 'artifact throughput, Kiln receiver', value: artMB / (art.kilnArt / 1000), unit: 'MB/s' },
      { name: 'Kiln ÷ upstream artifact throughput', value: art.upArt / art.kilnArt, unit: '×', target: 1, better: 'higher' },
    );
    await stopAll();

    const real = await servers('0.2');
    const realistic = await pairOf(real, 'living-room.yaml', 'ESP32 build at simulator speed 0.2');
    results.push(
      { name: 'ESP32 build (sim speed 0.2) via upstream build server', value: realistic.up, unit: 'ms', note: `mean of ${n}` },
      { name: 'ESP32 build (sim speed 0.2) via Kiln build server', value: realistic.kiln, unit: 'ms', note: `mean of ${n}` },
      { name: 'Kiln ÷ upstream wall time, ESP32 build', value: realistic.kiln / realistic.up, unit: '×', target: 1, better: 'lower' },
    );
    return results;
  } finally {
    await stopAll();
    rmSync(root, { recursive: true, force: true });
  }
}

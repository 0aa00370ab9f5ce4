// P2: remote vs local wall time of the same simulated build, in the same run (targets: remote ≤
// 1.05× local on a ~10 s build; ≤ 150 ms added on a near-zero build). Local = `compile` with
// forceLocal on the sender; remote = the same `compile` without it, so it goes through the
// dispatch pool (the path users get) to the one connected `kiln receiver` child running the same
// simulator at the same speed. Wall time = enqueue → job_completed, so the remote figure includes
// the pool's decision, bundling, the upload, the streamed log, the artifact download and staging.
// The simulator's pauses are scaled (ESPHOME_SIM_SPEED, calibrated on this machine) so its build
// takes ~10 s (~1.5 s and one pair with --quick); the simulator's output and steps are otherwise a real build's.
// `esphome bundle` is timed alone with the same CLI so Kiln's own overhead is reported apart
// from that spawn (which upstream's sender pays as well).
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { KilnApp } from '../main/core/app';
import { mean, type BenchContext, type BenchResult } from './lib/report';
import { buildBundle } from '../main/core/esphome/bundle';
import { Cleanup, pairByKey, REPO_ROOT, SIM_ARGV, startKilnBuildServer, startSender, tempDir, whenDone, type BuildServerChild } from './lib/stack';

const KEY_FAST = 'WQRT-TMEE-FAST-2345';
const KEY_SLOW = 'WQRT-TMEE-SZWW-6789';


/**
 * Both sides start each timed build from the same state: the simulator "downloads" libraries on a
 * device's first build (no `.piolibdeps` yet), so remove that marker locally and in the receiver's
 * workspace. Otherwise the side that built before (calibration) would skip work the other does.
 */
async function forgetLibraries(roots: string[], device: string): Promise<void> {
  for (const root of roots) {
    for (const rel of await readdir(root, { recursive: true })) {
      const parts = rel.split('/');
      if (parts.at(-1) === '.piolibdeps' && parts.at(-2) === device) await rm(`${root}/${rel}`, { recursive: true, force: true });
    }
  }
}

/** `where`: 'local' (forceLocal) or the pin the dispatch pool must have picked (the only one connected). */
// eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- 'local' named for readers
async function timeBuild(app: KilnApp, configuration: string, where: 'local' | string, speed: string): Promise<number> {
  process.env.ESPHOME_SIM_SPEED = speed; // the sender's own esphome runs read it at spawn
  const t0 = performance.now();
  const job = where === 'local' ? app.engine.compile({ configuration, forceLocal: true }) : app.engine.compile({ configuration });
  const done = await whenDone(app, job.job_id, 180_000);
  if (done.status !== 'completed') throw new Error(`${where} build ${done.status}: ${done.error}`);
  if (where !== 'local' && (done.source !== 'remote' || done.source_pin_sha256 !== where)) throw new Error(`the dispatch pool did not send the build to ${where} (source ${done.source})`);
  return performance.now() - t0;
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const cleanup = new Cleanup();
  const savedSpeed = process.env.ESPHOME_SIM_SPEED;
  cleanup.add(() => {
    if (savedSpeed === undefined) delete process.env.ESPHOME_SIM_SPEED;
    else process.env.ESPHOME_SIM_SPEED = savedSpeed;
  });
  try {
    const root = await tempDir(cleanup, 'kiln-bench-wall-');
    const configDir = join(root, 'config');
    const senderData = join(root, 'data');
    await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
    // `slow` = the upper end of every simulated duration and always a clean build: deterministic.
    const slowYaml = (await readFile(join(configDir, 'living-room.yaml'), 'utf8')).replace('name: ${device}', 'name: wall-slow') + '\n# sim: slow\n';
    await writeFile(join(configDir, 'wall-slow.yaml'), slowYaml);

    // Near-zero build first (speed 0 on both sides).
    const fast = await startKilnBuildServer(cleanup, KEY_FAST, { ESPHOME_SIM_SPEED: '0' });
    const fastPin = await pairByKey(senderData, fast.port, KEY_FAST);
    // Calibrate the slow speed on this machine so the local build takes ~10 s.
    let app = await startSender(cleanup, configDir, senderData, [fastPin]);
    const zero = await timeBuild(app, 'wall-slow.yaml', 'local', '0');
    // Small speeds are dominated by the 1 ms timer floor: probe where the sleeps are real.
    const probeSpeed = 0.012;
    const probe = await timeBuild(app, 'wall-slow.yaml', 'local', String(probeSpeed));
    const buildMs = ctx.quick ? 1_500 : 10_000;
    const speed = (probeSpeed * (buildMs - zero)) / Math.max(1, probe - zero);
    ctx.log(`    calibration: speed 0 → ${zero.toFixed(0)} ms, speed ${probeSpeed} → ${probe.toFixed(0)} ms ⇒ ESPHOME_SIM_SPEED=${speed.toFixed(4)} for ~${buildMs / 1000} s`);

    const nearZeroPairs = ctx.quick ? 1 : 6;
    const lz: number[] = [];
    const rz: number[] = [];
    // Warm both sides once (first-build library downloads), then alternate.
    await timeBuild(app, 'living-room.yaml', 'local', '0');
    await timeBuild(app, 'living-room.yaml', fastPin, '0');
    for (let i = 0; i < nearZeroPairs; i++) {
      lz.push(await timeBuild(app, 'living-room.yaml', 'local', '0'));
      rz.push(await timeBuild(app, 'living-room.yaml', fastPin, '0'));
    }
    ctx.log(`    near-zero local (ms): ${lz.map((x) => x.toFixed(0)).join(' ')}`);
    ctx.log(`    near-zero remote, unchanged config (bundle reused) (ms): ${rz.map((x) => x.toFixed(0)).join(' ')}`);
    // The same with the YAML edited before every build, so the sender must run `esphome bundle`
    // again (the first build of a configuration, or any edit): the cold path.
    const lc: number[] = [];
    const rc: number[] = [];
    const edit = async (i: number) => writeFile(join(configDir, 'living-room.yaml'), `${await readFile(join(configDir, 'living-room.yaml'), 'utf8')}\n# edit ${i}\n`);
    for (let i = 0; i < nearZeroPairs; i++) {
      await edit(2 * i);
      lc.push(await timeBuild(app, 'living-room.yaml', 'local', '0'));
      await edit(2 * i + 1);
      rc.push(await timeBuild(app, 'living-room.yaml', fastPin, '0'));
    }
    ctx.log(`    near-zero local, edited config (ms): ${lc.map((x) => x.toFixed(0)).join(' ')}`);
    ctx.log(`    near-zero remote, edited config (bundle rebuilt) (ms): ${rc.map((x) => x.toFixed(0)).join(' ')}`);
    // How much of that is the CLI's own `esphome bundle` run (process start-up included), timed
    // alone with the same CLI, YAML and environment: the part of the edited-config figure that
    // no sender can avoid, since every edited configuration must be bundled again.
    const bundleAlone: number[] = [];
    const outDir = await tempDir(cleanup, 'kiln-bench-bundle-');
    for (let i = 0; i < nearZeroPairs; i++) {
      const t0 = performance.now();
      await buildBundle(SIM_ARGV, join(configDir, 'living-room.yaml'), join(outDir, `b${i}.tar.gz`), { env: { ...process.env, ESPHOME_SIM_SPEED: '0' } });
      bundleAlone.push(performance.now() - t0);
    }
    ctx.log(`    \`esphome bundle\` alone, same CLI and YAML (ms): ${bundleAlone.map((x) => x.toFixed(0)).join(' ')}`);

    // The ~10 s build: a second receiver at the calibrated speed, the only one connected (the
    // fast one is stopped), so the dispatch pool can only pick it.
    await app.stop();
    fast.proc.kill('SIGTERM');
    await fast.exit;
    const slow: BuildServerChild = await startKilnBuildServer(cleanup, KEY_SLOW, { ESPHOME_SIM_SPEED: speed.toFixed(6) });
    const slowPin = await pairByKey(senderData, slow.port, KEY_SLOW);
    app = await startSender(cleanup, configDir, senderData, [slowPin]);
    const tenPairs = ctx.quick ? 1 : 5;
    const l10: number[] = [];
    const r10: number[] = [];
    for (let i = 0; i < tenPairs; i++) {
      await forgetLibraries([configDir, slow.dataDir], 'wall-slow');
      l10.push(await timeBuild(app, 'wall-slow.yaml', 'local', speed.toFixed(6)));
      r10.push(await timeBuild(app, 'wall-slow.yaml', slowPin, speed.toFixed(6)));
    }
    ctx.log(`    ~${buildMs / 1000} s local (ms): ${l10.map((x) => x.toFixed(0)).join(' ')}; remote through the dispatch pool (ms): ${r10.map((x) => x.toFixed(0)).join(' ')}`);
    const added = mean(rz) - mean(lz);
    return [
      {
        name: `~${buildMs / 1000} s build: remote (dispatch pool) ÷ local wall time`,
        value: mean(r10) / mean(l10),
        unit: '×',
        target: 1.05,
        note: `local ${mean(l10).toFixed(0)} ms, remote ${mean(r10).toFixed(0)} ms, ${tenPairs} pairs, ESPHOME_SIM_SPEED=${speed.toFixed(4)}; Kiln's overhead ${(mean(r10) - mean(l10)).toFixed(0)} ms per build (bundle reused: no \`esphome bundle\` spawn)`,
      },
      {
        name: 'near-zero build, unchanged config: time added by going remote',
        value: added,
        unit: 'ms',
        target: 150,
        note: `local ${mean(lz).toFixed(0)} ms (min ${Math.min(...lz).toFixed(0)}), remote ${mean(rz).toFixed(0)} ms (min ${Math.min(...rz).toFixed(0)}), ${nearZeroPairs} pairs; bundle reused`,
      },
      {
        name: 'near-zero build, edited config: time added by going remote',
        value: mean(rc) - mean(lc),
        unit: 'ms',
        target: 150,
        note: `local ${mean(lc).toFixed(0)} ms, remote ${mean(rc).toFixed(0)} ms, ${nearZeroPairs} pairs; \`esphome bundle\` runs every time and alone takes ${mean(bundleAlone).toFixed(0)} ms (Kiln's own part: ${(mean(rc) - mean(lc) - mean(bundleAlone)).toFixed(0)} ms)`,
      },
    ];
  } finally {
    await cleanup.run();
  }
}

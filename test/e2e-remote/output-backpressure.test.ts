// Back-pressure on a build server's output (issue 18 §1) with REAL processes on loopback: `kiln
// receiver` children whose simulator floods stdout (ESPHOME_SIM_FLOOD_LINES), and `kiln build
// --server` children as senders. A slow sender (stopped and resumed in a cycle), a stalled sender
// (stopped while the whole build prints) and a cancel under a full queue. The receiver's memory is
// read from /proc/<pid>/status (VmRSS).
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, killQuietly, readSimLog, REPO_ROOT, SIM, spawnKiln, startReceiver, type KilnChild, type BuildServerChild } from './helpers';
import { waitUntil } from '../support/wait-until';
import { must } from '../support/must';

const KEY_FLOOD = 'FWDZ-TMEE-WQRT-2345';
const KEY_ENDLESS = 'FWDZ-TMEE-WQRT-6789';
const FLOOD = 1_000_000;
/** Far more than the queue, the socket buffers and the frames in flight together (~15 MB). */
const RSS_HEADROOM_MB = 150;
/** The simulator's flood lines (its normal compile lines for device `flood` also contain `/flood/`). */
const FLOOD_LINE = /\/flood\/\d{7}\.cpp\.o$/;
const lastFloodLine = `Compiling .pioenvs/flood/flood/${String(FLOOD - 1).padStart(7, '0')}.cpp.o`;

let root: string;
let configDir: string;
let senderData: string;
let flood: BuildServerChild;
let endless: BuildServerChild;
const logs: string[] = [];
const children: KilnChild[] = [];

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

let builds = 0;
function build(server: string): KilnChild {
  // A different bundle each time: an identical one would be answered from the build server's
  // stored build (issue 15) and never flood.
  appendFileSync(join(configDir, 'flood.yaml'), `# build ${++builds}\n`);
  const child = spawnKiln(['build', join(configDir, 'flood.yaml'), '--config-dir', configDir, '--data-dir', senderData, '--server', server, '--esphome', `${process.execPath} ${SIM}`]);
  children.push(child);
  return child;
}

/** Flood lines the sender printed, plus the lines the build server said it elided. */
function accounting(child: KilnChild): { received: number; elided: number } {
  let received = 0;
  let elided = 0;
  for (const l of child.out) {
    if (FLOOD_LINE.test(l)) received++;
    const m = /(\d+) line\(s\) elided by the build server/.exec(l);
    if (m) elided += Number(m[1]);
  }
  return { received, elided };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-e2e-flood-'));
  configDir = join(root, 'config');
  senderData = join(root, 'sender-data');
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), configDir, { recursive: true });
  const yaml = (await readFile(join(configDir, 'living-room.yaml'), 'utf8')).replace('name: ${device}', 'name: flood');
  await writeFile(join(configDir, 'flood.yaml'), yaml);
  logs.push(join(root, 'flood-sim.log'), join(root, 'endless-sim.log'));
  [flood, endless] = await Promise.all([
    startReceiver(join(root, 'recv-flood'), KEY_FLOOD, { ESPHOME_SIM_FLOOD_LINES: String(FLOOD), ESPHOME_SIM_LOG: must(logs[0]) }),
    // Prints for minutes: the build is still printing when the sender cancels.
    startReceiver(join(root, 'recv-endless'), KEY_ENDLESS, { ESPHOME_SIM_FLOOD_LINES: '200000000', ESPHOME_SIM_LOG: must(logs[1]) }),
  ]);
  for (const [srv, key, label] of [
    [flood, KEY_FLOOD, 'flood'],
    [endless, KEY_ENDLESS, 'endless'],
  ] as const) {
    const pair = spawnKiln(['pair', `127.0.0.1:${srv.ready.port}`, '--pairing-key', key, '--yes', '--label', label, '--data-dir', senderData]);
    const { code } = await pair.exit;
    if (code !== 0) throw new Error(pair.text());
  }
}, 90_000);

afterAll(async () => {
  for (const c of [...children, flood, endless]) {
    if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) continue;
    c.proc.kill('SIGCONT');
    c.proc.kill('SIGTERM');
    await Promise.race([c.exit, new Promise((r) => setTimeout(r, 5000))]);
    killQuietly(c.proc.pid!);
  }
  for (const log of logs) for (const e of readSimLog(log)) if (isAlive(e.pid)) killQuietly(e.pid);
  await rm(root, { recursive: true, force: true });
}, 30_000);

describe('build server output back-pressure (real processes)', () => {
  it('a slow sender (stopped 150 ms of every 200 ms): the receiver stays bounded and every line is delivered or counted', async () => {
    const pid = flood.proc.pid!;
    const baseline = rssMb(pid);
    let peak = baseline;
    const sender = build('flood');
    let done = false;
    void sender.exit.then(() => (done = true));
    while (!done) {
      sender.proc.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 150));
      sender.proc.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 50));
      peak = Math.max(peak, rssMb(pid));
    }
    const { code } = await sender.exit;
    expect(code, sender.text().slice(-3000)).toBe(0);
    const { received, elided } = accounting(sender);
    expect(received + elided).toBe(FLOOD);
    expect(sender.out).toContain(lastFloodLine);
    expect(peak - baseline, `receiver RSS ${baseline.toFixed(0)} → peak ${peak.toFixed(0)} MB`).toBeLessThan(RSS_HEADROOM_MB);
  }, 180_000);

  it('a stalled sender (stopped for the whole build): the receiver stays bounded, elides, and the newest lines and the result arrive on resume', async () => {
    const pid = flood.proc.pid!;
    const baseline = rssMb(pid);
    let peak = baseline;
    const mark = flood.out.length;
    const sender = build('flood');
    await waitUntil(() => sender.out.some((l) => FLOOD_LINE.test(l)), { timeoutMs: 60_000, what: () => `first flood line at the sender:\n${sender.text().slice(-2000)}` });
    sender.proc.kill('SIGSTOP');
    // The receiver finishes the whole build while nobody reads.
    await waitUntil(
      () => {
        peak = Math.max(peak, rssMb(pid));
        return flood.out.slice(mark).some((l) => / completed$/.test(l));
      },
      { timeoutMs: 120_000, what: () => `the receiver's build to complete:\n${flood.out.slice(-5).join('\n')}` },
    );
    sender.proc.kill('SIGCONT');
    const { code } = await sender.exit;
    expect(code, sender.text().slice(-3000)).toBe(0);
    const { received, elided } = accounting(sender);
    expect(elided).toBeGreaterThan(0);
    expect(received + elided).toBe(FLOOD);
    // The newest output survives elision: the last flood line and the build's own result.
    expect(sender.out).toContain(lastFloodLine);
    expect(sender.out.join('\n'), sender.text().slice(-3000)).toMatch(/Successfully compiled program/);
    expect(peak - baseline, `receiver RSS ${baseline.toFixed(0)} → peak ${peak.toFixed(0)} MB`).toBeLessThan(RSS_HEADROOM_MB);
  }, 180_000);

  it("the build server's own console echo: while nobody reads its stdout, output lines are counted, not buffered", async () => {
    const pid = flood.proc.pid!;
    const baseline = rssMb(pid);
    let peak = baseline;
    const mark = flood.out.length;
    flood.proc.stdout.pause();
    const sender = build('flood');
    let done = false;
    void sender.exit.then(() => (done = true));
    await waitUntil(
      () => {
        peak = Math.max(peak, rssMb(pid));
        return done;
      },
      { timeoutMs: 120_000, what: () => `the sender to finish:\n${sender.text().slice(-2000)}` },
    );
    flood.proc.stdout.resume();
    expect((await sender.exit).code, sender.text().slice(-3000)).toBe(0);
    expect(peak - baseline, `receiver RSS ${baseline.toFixed(0)} → peak ${peak.toFixed(0)} MB`).toBeLessThan(RSS_HEADROOM_MB);
    await waitUntil(() => flood.out.slice(mark).some((l) => / completed$/.test(l)), { what: () => flood.out.slice(-5).join('\n') });
    const notEchoed = flood.out.slice(mark).map((l) => /\.\.\. \[(\d+) output line\(s\) not echoed here: stdout was not keeping up\]$/.exec(l)).filter((m) => m !== null);
    expect(notEchoed.length).toBeGreaterThan(0);
    const echoed = flood.out.slice(mark).filter((l) => FLOOD_LINE.test(l)).length;
    expect(echoed).toBeLessThan(FLOOD);
  }, 180_000);

  it('cancel under a full queue: the cancel takes effect promptly and the cancelled state arrives', async () => {
    const pid = endless.proc.pid!;
    const baseline = rssMb(pid);
    const sender = build('endless');
    await waitUntil(() => sender.out.some((l) => FLOOD_LINE.test(l)), { timeoutMs: 60_000, what: () => `first flood line at the sender:\n${sender.text().slice(-2000)}` });
    sender.proc.kill('SIGSTOP');
    // Stopped long enough for the kernel buffers and the pump's queue to fill (it elides from then on).
    await new Promise((r) => setTimeout(r, 3000));
    const peak = rssMb(pid);
    sender.proc.kill('SIGCONT');
    const t0 = Date.now();
    sender.proc.kill('SIGINT');
    const { code } = await sender.exit;
    const took = Date.now() - t0;
    expect(code, sender.text().slice(-3000)).toBe(130);
    expect(sender.err.join('\n')).toMatch(/cancelled/);
    // The build server saw the cancel and stopped the build (it printed for minutes otherwise).
    await waitUntil(() => endless.out.some((l) => / cancelled: /.test(l)), { what: () => endless.out.slice(-5).join('\n') });
    expect(took).toBeLessThan(15_000);
    expect(accounting(sender).elided).toBeGreaterThan(0);
    expect(peak - baseline, `receiver RSS ${baseline.toFixed(0)} → ${peak.toFixed(0)} MB while stalled`).toBeLessThan(RSS_HEADROOM_MB);
  }, 180_000);
});

// Signals and long-running scenarios (esphome-cli.md §1.4, §7.2.6): no SIGTERM handler, SIGINT → 1
// (logs → 0), hang, a grandchild in the same process group holding the pipe, ignore-term.
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alive, groupAlive, killGroup, procStat, readSimLog, simEnv, startSim, workspace, type Running, type Workspace } from './helpers';
import { waitUntil } from '../../../test/support/wait-until';

let ws: Workspace;
const started: Running[] = [];

function start(args: string[], env: Record<string, string> = {}): Running {
  const r = startSim(args, { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_LOG: ws.path('sim.jsonl'), ...env }), detached: true });
  started.push(r);
  return r;
}

beforeEach(() => {
  ws = workspace();
});
afterEach(async () => {
  for (const r of started.splice(0)) {
    killGroup(r.child.pid, 'SIGKILL');
    await Promise.race([r.exited, new Promise((res) => setTimeout(res, 2000))]);
  }
  ws.cleanup();
});

const log = () => readSimLog(ws.path('sim.jsonl'));

describe('SIGTERM and SIGINT', () => {
  it('SIGTERM to the simulator alone kills it at once by the signal (no handler)', async () => {
    const r = start(['compile', 'kitchen-plug.yaml'], { ESPHOME_SIM_SCENARIO: 'hang' });
    await waitUntil(() => r.stdout().includes('Compiling .pioenvs/'), { timeoutMs: 10_000, what: 'compile output' });
    const t0 = Date.now();
    r.child.kill('SIGTERM');
    const res = await r.exit;
    expect(res).toEqual({ code: null, signal: 'SIGTERM' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('SIGTERM during a paced (speed 1) compile also ends it by the signal', async () => {
    const r = start(['compile', 'kitchen-plug.yaml'], { ESPHOME_SIM_SPEED: '1' });
    await waitUntil(() => r.stderr().includes('INFO Reading configuration'), { timeoutMs: 10_000, what: 'reading line' });
    r.child.kill('SIGTERM');
    expect(await r.exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(r.stderr()).not.toContain('Successfully compiled');
  });

  it('SIGINT ends compile with exit 1 and logs with exit 0', async () => {
    const c = start(['compile', 'kitchen-plug.yaml'], { ESPHOME_SIM_SCENARIO: 'hang' });
    await waitUntil(() => c.stdout().includes('Compiling .pioenvs/'), { timeoutMs: 10_000, what: 'compile output' });
    c.child.kill('SIGINT');
    expect(await c.exit).toEqual({ code: 1, signal: null });
    const l = start(['logs', 'kitchen-plug.yaml', '--device', 'OTA']);
    await waitUntil(() => l.stdout().includes("[D][sensor:093]: 'Temperature'"), { timeoutMs: 10_000, what: 'log lines' });
    l.child.kill('SIGINT');
    expect(await l.exit).toEqual({ code: 0, signal: null });
  });
});

describe('long-running scenarios', () => {
  it('hang: prints the start of a compile and never finishes', async () => {
    const r = start(['compile', 'living-room.yaml'], { ESPHOME_SIM_SCENARIO: 'hang' });
    await waitUntil(() => r.stdout().includes('Compiling .pioenvs/'), { timeoutMs: 10_000, what: 'compile output' });
    // "The start" may take a few paced lines on a loaded machine: wait until output goes quiet,
    // then prove it stays quiet while the process lives on.
    let before = -1;
    for (let i = 0; i < 40 && r.stdout().length !== before; i++) {
      before = r.stdout().length;
      await new Promise((res) => setTimeout(res, 500));
    }
    await new Promise((res) => setTimeout(res, 800));
    expect(alive(r.child.pid!)).toBe(true);
    expect(r.stdout().length).toBe(before);
    expect(r.stdout()).not.toMatch(/\[SUCCESS\]|\[FAILED\]|Linking/);
    expect(r.stderr()).not.toContain('Successfully compiled');
  });

  it('ESPHOME_SIM_STALL_BUNDLE=1: a bundle stalls before anything is written, until killed; `hang` never stalls a bundle', async () => {
    const r = start(['bundle', 'living-room.yaml', '-o', 'out/stalled.tar.gz'], { ESPHOME_SIM_STALL_BUNDLE: '1' });
    await waitUntil(() => r.stderr().includes('Reading configuration'), { timeoutMs: 10_000, what: 'bundle start' });
    await new Promise((res) => setTimeout(res, 800));
    expect(alive(r.child.pid!)).toBe(true);
    expect(existsSync(ws.path('out/stalled.tar.gz'))).toBe(false);
    expect(r.stderr()).not.toContain('Bundle created');
    killGroup(r.child.pid, 'SIGTERM');
    expect(await r.exit).toEqual({ code: null, signal: 'SIGTERM' });
    // The scenario marker travels inside the bundle for the build server: bundling itself never hangs.
    const ok = start(['bundle', 'living-room.yaml', '-o', 'out/hang.tar.gz'], { ESPHOME_SIM_SCENARIO: 'hang' });
    expect(await ok.exit).toEqual({ code: 0, signal: null });
    expect(existsSync(ws.path('out/hang.tar.gz'))).toBe(true);
  });

  it('grandchild: a compiler grandchild in the same process group keeps writing after the child dies', async () => {
    const r = start(['compile', 'living-room.yaml'], { ESPHOME_SIM_SCENARIO: 'grandchild' });
    await waitUntil(() => log().some((e) => e.role === 'grandchild'), { timeoutMs: 10_000, what: 'grandchild started' });
    const main = log().find((e) => e.role === 'main')!;
    const gc = log().find((e) => e.role === 'grandchild')!;
    expect(main.pid).toBe(r.child.pid);
    expect(main.pgid).toBe(main.pid); // detached: own group
    expect(gc.ppid).toBe(main.pid);
    expect(gc.pgid).toBe(main.pid);
    expect(procStat(gc.pid)?.pgid).toBe(main.pid);
    process.kill(-main.pid, 0); // the group exists

    r.child.kill('SIGKILL'); // only the direct child
    expect(await r.exit).toEqual({ code: null, signal: 'SIGKILL' });
    const atExit = r.stdout().length;
    await waitUntil(() => r.stdout().length > atExit + 100, { timeoutMs: 5000, what: 'grandchild output after the child died' });
    expect(alive(gc.pid)).toBe(true);
    expect(groupAlive(main.pid)).toBe(true);
    let closed = false;
    void r.exited.then(() => (closed = true));
    await new Promise((res) => setTimeout(res, 200));
    expect(closed).toBe(false); // the grandchild still holds the pipe

    killGroup(main.pid, 'SIGTERM'); // the grandchild has no SIGTERM handler either
    await r.exited;
    await waitUntil(() => !alive(gc.pid) || procStat(gc.pid)?.state === 'Z', { timeoutMs: 3000, what: 'grandchild gone' });
  });

  it('ignore-term: simulator and grandchild survive SIGTERM to the group and die on SIGKILL', async () => {
    const r = start(['compile', 'garage-idf.yaml'], { ESPHOME_SIM_SCENARIO: 'ignore-term' });
    await waitUntil(() => log().some((e) => e.role === 'grandchild'), { timeoutMs: 10_000, what: 'grandchild started' });
    const gc = log().find((e) => e.role === 'grandchild')!;
    const pgid = r.child.pid!;
    expect(gc.pgid).toBe(pgid);
    killGroup(pgid, 'SIGTERM');
    await new Promise((res) => setTimeout(res, 500));
    expect(alive(pgid)).toBe(true);
    expect(alive(gc.pid)).toBe(true);
    const len = r.stdout().length;
    await waitUntil(() => r.stdout().length > len, { timeoutMs: 3000, what: 'output continues after SIGTERM' });
    killGroup(pgid, 'SIGKILL');
    expect(await r.exit).toEqual({ code: null, signal: 'SIGKILL' });
    await r.exited;
    await waitUntil(() => !groupAlive(pgid), { timeoutMs: 3000, what: 'group gone' });
  });
});

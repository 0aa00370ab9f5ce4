// ESPHOME_SIM_FLOOD_LINES: a fast-printing compile (issue 18 §1) — N numbered lines on stdout
// before the normal compile phase, then the compile completes as usual.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSim, simEnv, workspace, type Workspace } from './helpers';

let ws: Workspace;
beforeEach(() => {
  ws = workspace();
});
afterEach(() => ws.cleanup());

describe('ESPHOME_SIM_FLOOD_LINES', () => {
  it('prints N numbered lines in order, then compiles successfully', async () => {
    const n = 50_000;
    const r = await runSim(['compile', 'living-room.yaml'], { cwd: ws.dir, env: simEnv({ ESPHOME_SIM_FLOOD_LINES: String(n) }), timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const flood = r.stdout.split('\n').filter((l) => l.includes('/flood/'));
    expect(flood).toHaveLength(n);
    expect(flood[0]).toBe('Compiling .pioenvs/living-room/flood/0000000.cpp.o');
    expect(flood[n - 1]).toBe(`Compiling .pioenvs/living-room/flood/${String(n - 1).padStart(7, '0')}.cpp.o`);
    expect(flood.every((l, i) => l.endsWith(`/${String(i).padStart(7, '0')}.cpp.o`))).toBe(true);
    expect(r.stderr).toContain('INFO Successfully compiled program.');
  });

  it('prints no flood when unset or not a number', async () => {
    for (const env of [simEnv(), simEnv({ ESPHOME_SIM_FLOOD_LINES: 'lots' })]) {
      const r = await runSim(['compile', 'living-room.yaml'], { cwd: ws.dir, env });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain('/flood/');
    }
  });
});

// Shared set-up for engine tests against Kiln's esphome simulator (tools/esphome-sim): the
// simulator's environment for the whole file, and per test a fresh Harness whose config dir holds
// the simulator's example configurations and whose root receives the simulator's call log.
import { cpSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Harness, SIM_ESPHOME } from './helpers';

export const SIM_EXAMPLES = resolve(SIM_ESPHOME, '../examples');

/**
 * For the calling test file: ESPHOME_SIM_SPEED=0, no ESPHOME_SIM_SCENARIO, plus `overrides`
 * (undefined deletes a variable); every variable touched, ESPHOME_SIM_LOG included, is restored
 * after the file.
 */
export function useSimEnv(overrides: Record<string, string | undefined> = {}): void {
  const env: Record<string, string | undefined> = { ESPHOME_SIM_SPEED: '0', ESPHOME_SIM_SCENARIO: undefined, ...overrides };
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const k of [...Object.keys(env), 'ESPHOME_SIM_LOG']) saved[k] = process.env[k];
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

/** A fresh Harness with the simulator's examples and ESPHOME_SIM_LOG pointing into its root. */
export function newSimHarness(): { h: Harness; simLog: string } {
  const h = new Harness();
  cpSync(SIM_EXAMPLES, h.configDir, { recursive: true, filter: (src) => !src.includes('.esphome') });
  const simLog = join(h.root, 'sim.jsonl');
  process.env.ESPHOME_SIM_LOG = simLog;
  return { h, simLog };
}

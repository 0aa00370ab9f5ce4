// Long-running scenarios (esphome-cli.md §7.2.6): `hang` stops mid-build forever; `grandchild`
// and `ignore-term` additionally leave a "compiler" grandchild in the same process group that
// keeps writing to the inherited stdout.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const GRANDCHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'grandchild.mjs');

export function spawnGrandchild(ctx, label) {
  const payload = {
    label,
    name: ctx.model.name,
    ignoreTerm: ctx.scenario === 'ignore-term',
    intervalMs: Math.max(300 * ctx.out.speed, 20),
    dashboard: ctx.out.dashboard,
  };
  // Not detached: it must share the simulator's process group, like PlatformIO's gcc children.
  const child = spawn(process.execPath, [GRANDCHILD, JSON.stringify(payload)], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: process.env,
  });
  child.on('error', () => {});
  return child;
}

/** Never returns. */
export async function stallForever(ctx, label) {
  if (ctx.scenario === 'grandchild' || ctx.scenario === 'ignore-term') spawnGrandchild(ctx, label);
  setInterval(() => {}, 1 << 30);
  await new Promise(() => {});
}

export function isStallScenario(scenario) {
  return scenario === 'hang' || scenario === 'grandchild' || scenario === 'ignore-term';
}

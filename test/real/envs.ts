// What tools/python-envs.mjs set up (its status.json): the pinned real esphome CLI and upstream
// esphome-device-builder. When set-up could not run, `envs.ok` is false and `envs.reason` says why;
// the suites then declare themselves NOT RUN (describe.skipIf + a visible reason) and the test
// stage prints NOT RUN with that reason — never counted as passed.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { must } from '../support/must';

export interface EnvInfo { dir: string; bin: string; python: string }
export interface RealEnvs {
  ok: boolean;
  reason: string;
  esphome: EnvInfo;
  deviceBuilder: EnvInfo;
  /** upstream's code run with Kiln's simulator as its `esphome` (see python-envs.mjs) */
  deviceBuilderSim: EnvInfo;
  esphomeVersion: string;
  deviceBuilderVersion: string;
}

function load(): RealEnvs {
  const base = resolve(process.env.KILN_VENV_DIR || join(__dirname, '..', '..', '.venvs'));
  const empty: EnvInfo = { dir: '', bin: '', python: '' };
  const fail = (reason: string): RealEnvs => ({ ok: false, reason, esphome: empty, deviceBuilder: empty, deviceBuilderSim: empty, esphomeVersion: '', deviceBuilderVersion: '' });
  let status: { ok: boolean; reason: string; envs?: Record<string, EnvInfo>; pins?: { envs: Record<string, { packages: string[] }> } };
  try {
    status = JSON.parse(readFileSync(join(base, 'status.json'), 'utf8'));
  } catch {
    return fail(`Python set-up never ran (node tools/python-envs.mjs; ${join(base, 'status.json')} missing)`);
  }
  if (!status.ok || !status.envs || !status.pins) return fail(status.reason || 'Python set-up failed');
  const envs = status.envs;
  for (const name of ['esphome', 'device-builder', 'device-builder-sim']) {
    if (!envs[name] || !existsSync(envs[name].bin)) return fail(`environment ${name} missing (${envs[name]?.bin ?? 'not set up'})`);
  }
  const pin = (pkg: string) => {
    for (const e of Object.values(status.pins!.envs)) for (const p of e.packages) if (p.startsWith(`${pkg}==`)) return p.slice(pkg.length + 2);
    return '';
  };
  return {
    ok: true, reason: '', esphome: must(envs.esphome), deviceBuilder: must(envs['device-builder']), deviceBuilderSim: must(envs['device-builder-sim']),
    esphomeVersion: pin('esphome'), deviceBuilderVersion: pin('esphome-device-builder'),
  };
}

export const envs = load();
/** Title suffix for suites: says plainly why they did not run. */
export const notRun = envs.ok ? '' : ` — NOT RUN: ${envs.reason}`;

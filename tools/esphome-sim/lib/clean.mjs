// `esphome clean` and `esphome clean-all` (esphome-cli.md §1.2, §7.2.10).
import fs from 'node:fs';
import path from 'node:path';
import { envTruthy } from './util.mjs';

export function cleanCommand(ctx) {
  const { out, paths } = ctx;
  for (const dir of [paths.pioenvs, paths.piolibdeps]) {
    if (fs.existsSync(dir)) {
      out.info(`Deleting ${dir}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  // dependencies.lock goes with the libraries it pinned
  fs.rmSync(path.join(paths.buildPath, 'dependencies.lock'), { force: true });
  out.info('Done!');
  return 0;
}

/** Wipes each data dir except `storage/` and top-level *.json files (the dashboard needs them). */
export function cleanAllCommand(out, dirs, env) {
  const dataDirs = dirs.map((d) => path.join(path.resolve(d), '.esphome'));
  if (envTruthy(env.ESPHOME_IS_HA_ADDON)) dataDirs.push('/data');
  if (env.ESPHOME_DATA_DIR) dataDirs.push(path.resolve(env.ESPHOME_DATA_DIR));
  for (const dir of dataDirs) {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) continue;
    out.info(`Cleaning ${dir}`);
    for (const item of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, item.name);
      if (item.isDirectory()) {
        if (item.name !== 'storage') fs.rmSync(p, { recursive: true, force: true });
      } else if (!item.name.endsWith('.json')) fs.rmSync(p, { force: true });
    }
  }
  out.info('Done!');
  return 0;
}

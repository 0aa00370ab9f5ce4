// Simulator fidelity: the same commands through the real, pinned esphome CLI and through Kiln's
// simulator (tools/esphome-sim/esphome, reporting the same version), comparing what Kiln relies on:
// the version line, the config output's shape, bundle layout and manifest, the messages for a
// missing file, invalid YAML and a missing secret, the compile transcript up to the build path,
// StorageJSON, and exit codes. Both run with Kiln's environment (esphomeEnv) and `--dashboard`,
// as Kiln runs them. What cannot be compared here is listed in docs/notes/esphome-sim.md.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { SIM } from '../e2e-remote/helpers';
import { envs, notRun } from './envs';
import { cleanupConfigDirs, configDir, esphome } from './cli';
import { plain } from './procs';
import { must } from '../support/must';

const tmp: string[] = [];
afterAll(() => { cleanupConfigDirs(); for (const d of tmp) rmSync(d, { recursive: true, force: true }); });

/** Two identical config dirs, one per CLI, so neither sees the other's build state. */
function pairOfDirs(): { real: string; sim: string } {
  const real = configDir();
  const sim = mkdtempSync(join(tmpdir(), 'kiln-real-sim-'));
  tmp.push(sim);
  rmSync(sim, { recursive: true });
  cpSync(real, sim, { recursive: true });
  return { real, sim };
}

const simEnv = () => ({ ESPHOME_SIM_VERSION: envs.esphomeVersion, ESPHOME_SIM_SPEED: '0' });
const both = async (args: (dir: string) => string[], dirs: { real: string; sim: string }) => ({
  real: await esphome(envs.esphome.bin, args(dirs.real), dirs.real),
  sim: await esphome(SIM, args(dirs.sim), dirs.sim, simEnv()),
});
/** Same text with each side's config dir replaced by `<dir>`. */
const norm = (text: string, dir: string) => plain(text).split(dir).join('<dir>');
/** Lines of the simulator's own labelling, which the real CLI does not print. */
const unlabel = (text: string) => text.split('\n').filter((l) => !l.includes("Kiln's esphome simulator")).join('\n');

function tarList(gz: Buffer): Promise<{ name: string; mode: number; mtime: number; data: string }[]> {
  return new Promise((resolve, reject) => {
    const out: { name: string; mode: number; mtime: number; data: string }[] = [];
    const ex = tar.extract();
    ex.on('entry', (h, s, next) => {
      const c: Buffer[] = [];
      s.on('data', (b: unknown) => { c.push(b as Buffer); });
      s.on('end', () => { out.push({ name: h.name, mode: h.mode ?? 0, mtime: h.mtime?.getTime() ?? 0, data: Buffer.concat(c).toString('utf8') }); next(); });
    });
    ex.on('finish', () => resolve(out));
    ex.on('error', reject);
    ex.end(gunzipSync(gz));
  });
}

describe.skipIf(!envs.ok)(`simulator fidelity against the real esphome ${envs.esphomeVersion}${notRun}`, () => {
  it('version line and exit code', async () => {
    const d = pairOfDirs();
    const r = await both(() => ['--dashboard', '--version'], d);
    expect([r.sim.code, r.real.code]).toEqual([0, 0]);
    expect(r.sim.out.split('\n')[0]).toBe(r.real.out.split('\n')[0]);
    expect(r.real.out.split('\n')[0]).toBe(`Version: ${envs.esphomeVersion}`);
  });

  it('config output: same first log lines, secrets shown the same way, same keys Kiln reads, "Configuration is valid!", exit 0', async () => {
    const d = pairOfDirs();
    const r = await both((dir) => ['--dashboard', 'config', join(dir, 'living-room.yaml')], d);
    expect([r.sim.code, r.real.code]).toEqual([0, 0]);
    // Kiln's environment forces colour; --dashboard writes ESC as the literal text \033
    const firstErr = (t: string) => unlabel(t).split('\n').slice(0, 2);
    expect(firstErr(r.sim.err.split(d.sim).join('<dir>'))).toEqual(firstErr(r.real.err.split(d.real).join('<dir>')));
    expect(r.real.err).toMatch(/^\\033\[32mINFO ESPHome /);
    expect(plain(r.sim.err).trim().split('\n').at(-1)).toBe(plain(r.real.err).trim().split('\n').at(-1));
    // The real CLI normalises (wifi ssid/password move under networks:), so compare key → secret pairs.
    const secretLines = (t: string) => [...plain(t).matchAll(/(\w+): !secret '(\w+)'/g)].map((m) => `${m[1]}=${m[2]}`).sort();
    expect(secretLines(r.sim.out)).toEqual(secretLines(r.real.out));
    const tree = (t: string) => parse(plain(t).replace(/!secret /g, ''), { customTags: [{ tag: '!lambda', resolve: (s: string) => s }] }) as Record<string, Record<string, unknown>>;
    const real = tree(r.real.out);
    const sim = tree(r.sim.out);
    for (const k of Object.keys(sim)) expect(Object.keys(real), `top-level key ${k}`).toContain(k);
    expect(must(sim.esphome).name).toBe(must(real.esphome).name);
    expect((sim.wifi as { ap: { ssid: string } }).ap.ssid).toBe((real.wifi as { ap: { ssid: string } }).ap.ssid);
  });

  it('Failed config block, missing file, invalid YAML and a missing secret: same messages and exit 2', async () => {
    const d = pairOfDirs();
    const bad = await both((dir) => ['--dashboard', 'config', join(dir, 'invalid.yaml')], d);
    expect([bad.sim.code, bad.real.code]).toEqual([2, 2]);
    const head = (t: string, dir: string) => norm(t, dir).split('\n').slice(0, 3);
    expect(head(bad.sim.out, d.sim)).toEqual(head(bad.real.out, d.real)); // "Failed config", "", "esphome: [source <dir>/invalid.yaml:2]"

    const missing = await both((dir) => ['--dashboard', 'config', join(dir, 'nothere.yaml')], d);
    expect([missing.sim.code, missing.real.code]).toEqual([2, 2]);
    const tail = (t: string, dir: string) => unlabel(norm(t, dir)).trim().split('\n').slice(-3);
    expect(tail(missing.sim.err, d.sim)).toEqual(tail(missing.real.err, d.real));

    const broken = await both((dir) => ['--dashboard', 'config', join(dir, 'broken.yaml')], d);
    expect([broken.sim.code, broken.real.code]).toEqual([2, 2]);
    // The parser's own sentence differs (PyYAML vs the yaml package); the frame and position do not.
    const frame = (t: string, dir: string) => {
      const l = unlabel(norm(t, dir)).trim().split('\n');
      return { head: l.find((x) => x.startsWith('ERROR ')), at: l.at(-1) };
    };
    expect(frame(broken.sim.err, d.sim)).toEqual(frame(broken.real.err, d.real));
    expect(frame(broken.real.err, d.real).head).toBe('ERROR Error while reading config: Invalid YAML syntax:');

    const secret = await both((dir) => ['--dashboard', 'config', join(dir, 'missing-secret.yaml')], d);
    expect([secret.sim.code, secret.real.code]).toEqual([2, 2]);
    expect(unlabel(norm(secret.sim.err, d.sim)).trim().split('\n').slice(-3)).toEqual(unlabel(norm(secret.real.err, d.real)).trim().split('\n').slice(-3));
  });

  it('bundle: same members in the same order, same metadata, same manifest keys and files, same filtered secrets, same summary line, same --list-only', async () => {
    const d = pairOfDirs();
    for (const yaml of ['living-room.yaml', 'hall.yaml']) {
      const r = await both((dir) => ['--dashboard', 'bundle', join(dir, yaml), '-o', join(dir, 'out', `${yaml}.tgz`)], d);
      expect([r.sim.code, r.real.code], r.sim.err + r.real.err).toEqual([0, 0]);
      const real = await tarList(readFileSync(join(d.real, 'out', `${yaml}.tgz`)));
      const sim = await tarList(readFileSync(join(d.sim, 'out', `${yaml}.tgz`)));
      expect(sim.map((m) => [m.name, m.mode, m.mtime])).toEqual(real.map((m) => [m.name, m.mode, m.mtime]));
      const rm = JSON.parse(must(real[0]).data);
      const sm = JSON.parse(must(sim[0]).data);
      expect(Object.keys(sm)).toEqual(Object.keys(rm));
      expect({ ...sm, config_dir: '', files: [...sm.files].sort() }).toEqual({ ...rm, config_dir: '', files: [...rm.files].sort() });
      expect(rm.config_dir).toBe(d.real);
      expect(sm.config_dir).toBe(d.sim);
      expect(parse(sim.find((m) => m.name === 'secrets.yaml')!.data)).toEqual(parse(real.find((m) => m.name === 'secrets.yaml')!.data));
      const summary = (t: string, dir: string) => /INFO Bundle created: (\S+) \((\d+) files, [\d.]+ KB\)/.exec(norm(t, dir))?.slice(1);
      expect(summary(r.sim.err, d.sim)).toEqual(summary(r.real.err, d.real));
      const list = await both((dir) => ['--dashboard', 'bundle', join(dir, yaml), '--list-only'], d);
      expect([list.sim.code, list.real.code]).toEqual([0, 0]);
      expect(plain(list.sim.out)).toBe(plain(list.real.out));
      expect(plain(list.sim.err).trim().split('\n').at(-1)).toBe(plain(list.real.err).trim().split('\n').at(-1));
    }
  });

  it('compile: same transcript up to the build path, same StorageJSON keys Kiln reads; the real one then fails at the download (exit 1)', async () => {
    const d = pairOfDirs();
    const r = await both((dir) => ['--dashboard', 'compile', join(dir, 'kitchen-plug.yaml')], d);
    expect(r.sim.code).toBe(0);
    expect(r.real.code).toBe(1);
    const steps = (t: string, dir: string) => unlabel(norm(t, dir)).split('\n').filter((l) => /^INFO (ESPHome|Reading configuration|Generating C\+\+ source|Compiling app)/.test(l));
    expect(steps(r.sim.err + r.sim.out, d.sim)).toEqual(steps(r.real.err + r.real.out, d.real));
    const storage = (dir: string) => JSON.parse(readFileSync(join(dir, '.esphome', 'storage', 'kitchen-plug.yaml.json'), 'utf8'));
    const rs = storage(d.real);
    const ss = storage(d.sim);
    for (const k of ['name', 'esp_platform', 'build_path', 'firmware_bin_path', 'esphome_version', 'core_platform']) {
      expect(typeof ss[k], k).toBe(typeof rs[k]);
      if (typeof rs[k] === 'string') expect(String(ss[k]).split(d.sim).join('<dir>'), k).toBe(String(rs[k]).split(d.real).join('<dir>'));
    }
    expect(existsSync(join(d.real, '.esphome', 'build', 'kitchen-plug', 'src'))).toBe(true);
    expect(existsSync(join(d.sim, '.esphome', 'build', 'kitchen-plug', 'src'))).toBe(true);
  });
});

// Kiln's invocation contract against the real, pinned esphome CLI (esphome-cli.md; docs/API.md §9):
// version parsing, `config` (valid, invalid, !secret, !include, packages:), `bundle` of real
// configurations (the bundle Kiln sends is what the real CLI makes, and Kiln's receiver accepts
// it), and a real `esphome compile` through Kiln's job engine, which fails here at the PlatformIO
// download: the job fails with the real text and exit code; Stop ends the real process group.
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildBundle } from '../../main/core/esphome/bundle';
import { parseVersionOutput, probeVersion } from '../../main/core/esphome/version';
import { extractBundle } from '../../main/core/build-server/bundle-extract';
import { REPO_ROOT } from '../e2e-remote/helpers';
import { waitUntil } from '../support/wait-until';
import { cleanupConfigDirs, configDir, esphome } from './cli';
import { envs, notRun } from './envs';
import { alive, descendants, groupMembers, plain, start, type Proc } from './procs';
import { must } from '../support/must';

const KILN = join(REPO_ROOT, 'main/headless/cli/kiln.ts');
const started: Proc[] = [];

function tarMembers(gz: Buffer): Promise<{ name: string; type: string; mode: number; mtime: number; data: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const out: { name: string; type: string; mode: number; mtime: number; data: Buffer }[] = [];
    const ex = tar.extract();
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => { chunks.push(c as Buffer); });
      stream.on('end', () => { out.push({ name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, mtime: h.mtime ? h.mtime.getTime() : 0, data: Buffer.concat(chunks) }); next(); });
    });
    ex.on('finish', () => resolve(out));
    ex.on('error', reject);
    ex.end(gunzipSync(gz));
  });
}

function kiln(args: string[], env: Record<string, string> = {}): Proc {
  const p = start(process.execPath, ['--import', 'tsx', KILN, ...args], { cwd: REPO_ROOT, env: { KILN_FROM_SOURCE: '1', ...env } });
  started.push(p);
  return p;
}

afterEach(async () => {
  for (const p of started.splice(0)) await p.stop(5_000);
});
afterAll(cleanupConfigDirs);

describe.skipIf(!envs.ok)(`the real esphome ${envs.esphomeVersion} CLI${notRun}`, () => {
  const E = envs.esphome.bin;

  it('version: Kiln\'s probe (`--dashboard --version`) parses the real output', async () => {
    expect(await probeVersion([E])).toBe(envs.esphomeVersion);
    const r = await esphome(E, ['version'], tmpdir());
    expect(r.code).toBe(0);
    expect(parseVersionOutput(r.out)).toBe(envs.esphomeVersion);
  });

  it('config: valid with !secret, !include and packages: (secrets masked), invalid (Failed config, exit 2), missing secret, broken YAML, missing file', async () => {
    const dir = configDir();
    const ok = await esphome(E, ['--dashboard', 'config', join(dir, 'living-room.yaml')], dir);
    expect(ok.code, ok.err).toBe(0);
    const out = plain(ok.out);
    expect(plain(ok.err)).toContain('INFO Configuration is valid!');
    expect(out).toMatch(/^ {2}name: living-room$/m); // substitution applied
    expect(out).toContain("!secret 'wifi_ssid'"); // from the package file, masked
    expect(out).toContain("!secret 'api_encryption_key'");
    expect(out).not.toContain('not-a-real-password');
    expect(out).toContain('Living Room Fallback'); // substitution inside the package
    const hall = await esphome(E, ['--dashboard', 'config', join(dir, 'hall.yaml')], dir);
    expect(hall.code, hall.err).toBe(0);
    expect(plain(hall.out)).toMatch(/name: WiFi signal/); // !include of a list
    expect(plain(hall.out)).toMatch(/level: DEBUG/); // local package via !include

    const bad = await esphome(E, ['--dashboard', 'config', join(dir, 'invalid.yaml')], dir);
    expect(bad.code).toBe(2);
    expect(plain(bad.out)).toMatch(/^Failed config$/m);
    expect(plain(bad.out)).toMatch(/esphome: \[source .*invalid\.yaml:\d+\]/);
    const secret = await esphome(E, ['--dashboard', 'config', join(dir, 'missing-secret.yaml')], dir);
    expect(secret.code).toBe(2);
    expect(plain(secret.err)).toMatch(/ERROR Error while reading config: Invalid YAML syntax:\n\nSecret 'nope' not defined/);
    const broken = await esphome(E, ['--dashboard', 'config', join(dir, 'broken.yaml')], dir);
    expect(broken.code).toBe(2);
    expect(plain(broken.err)).toMatch(/ERROR Error while reading config: Invalid YAML syntax:\n\n[\s\S]*in ".*broken\.yaml", line 4, column 1/);
    const missing = await esphome(E, ['--dashboard', 'config', join(dir, 'nothere.yaml')], dir);
    expect(missing.code).toBe(2);
    expect(plain(missing.err)).toMatch(/Error reading file .*nothere\.yaml: \[Errno 2\] No such file or directory/);
  });

  it('bundle: Kiln\'s buildBundle runs the real CLI; secrets filtered, includes and packages inside; Kiln\'s receiver extracts it', async () => {
    const dir = configDir();
    for (const [yaml, expected] of [
      ['living-room.yaml', ['common/wifi.yaml', 'living-room.yaml', 'secrets.yaml']],
      ['hall.yaml', ['hall.yaml', 'includes/base.yaml', 'includes/sensors.yaml', 'secrets.yaml']],
    ] as const) {
      const bytes = await buildBundle([E], join(dir, yaml), join(dir, 'out', `${yaml}.tgz`));
      const members = await tarMembers(bytes);
      expect(must(members[0]).name).toBe('manifest.json');
      expect(members.map((m) => m.name).slice(1).sort()).toEqual([...expected].sort());
      for (const m of members) expect([m.type, m.mode, m.mtime]).toEqual(['file', 0o644, 0]);
      const manifest = JSON.parse(must(members[0]).data.toString('utf8'));
      expect(manifest).toMatchObject({ manifest_version: 1, esphome_version: envs.esphomeVersion, config_filename: yaml, has_secrets: true });
      expect([...manifest.files].sort()).toEqual([...expected].sort());
      const secrets = members.find((m) => m.name === 'secrets.yaml')!.data.toString('utf8');
      expect(secrets).not.toContain('unused_other_device_password'); // only referenced keys travel
      expect(secrets).toContain('wifi_password');

      // Kiln's receiver accepts exactly this archive, and the real CLI validates what it extracted.
      const root = join(dir, 'recv');
      const got = await extractBundle({ bundle: bytes, root, deviceDir: join(root, 'peer', yaml.replace('.yaml', '')), configurationFilename: yaml });
      expect(got.manifest.config_filename).toBe(yaml);
      expect(existsSync(got.yamlPath)).toBe(true);
      const again = await esphome(E, ['--dashboard', 'config', got.yamlPath], got.deviceDir);
      expect(again.code, again.err).toBe(0);
    }
  });

  it('compile through Kiln\'s job engine: the real transcript, then the real download failure; the job fails with exit code 1 and the real text', async () => {
    const dir = configDir();
    const data = join(dir, '.kiln-data');
    const p = kiln(['build', join(dir, 'kitchen-plug.yaml'), '--esphome', E, '--data-dir', data]);
    const { code } = await p.exit;
    const out = p.text();
    expect(code, out).toBe(1);
    expect(out).toContain(`INFO ESPHome ${envs.esphomeVersion}`);
    expect(out).toContain('INFO Generating C++ source...');
    expect(out).toMatch(/INFO Compiling app\.\.\. Build path: .*kitchen-plug/);
    expect(out).toMatch(/ERROR Failed to download .* after \d+ attempts/);
    const jobs = JSON.parse(readFileSync(join(data, 'jobs.json'), 'utf8'));
    const job = (jobs.jobs ?? jobs).find((j: { configuration: string }) => j.configuration === 'kitchen-plug.yaml');
    expect(job).toMatchObject({ status: 'failed', exit_code: 1 });
    expect(job.error).toMatch(/exited with code 1/);
    const log = readFileSync(join(data, 'logs', `${job.job_id}.log`), 'utf8');
    expect(plain(log)).toMatch(/Failed to download/);
  });

  it('Stop during a real compile ends the real Python process group (nothing left in /proc)', async () => {
    const dir = configDir();
    // living-room (api encryption) makes PlatformIO's registry client retry with back-off: a
    // compile that stays busy long enough to be stopped.
    const p = kiln(['build', join(dir, 'living-room.yaml'), '--esphome', E]);
    const py = await waitUntil(() => descendants(p.pid).find((d) => d.cmdline.includes(' compile ') && d.cmdline.includes('living-room.yaml')),
      { timeoutMs: 60_000, what: () => `the real esphome compile process (kiln:\n${p.text()})` });
    await waitUntil(() => p.text().includes('Generating C++ source'), { timeoutMs: 60_000, what: () => `compile transcript (kiln:\n${p.text()})` });
    expect(groupMembers(py.pgid).length).toBeGreaterThan(0);
    process.kill(p.pid, 'SIGINT');
    const { code } = await p.exit;
    expect(code, p.text()).toBe(130);
    await waitUntil(() => !alive(py.pid) && groupMembers(py.pgid).length === 0, { timeoutMs: 15_000, what: 'the esphome process group is gone' });
  });
});

// Issue 11 defect 3: a paired build server must not plant files in any device's build tree on
// the sender. A scripted (hostile) build server, over a real Noise peer-link session, answers
// download_artifacts with crafted tarballs; the sender's job fails with a clear line and nothing
// is written under <config>/.esphome. Before the fix every one of these was written (another
// device's platformio.ini with extra_scripts, a Python script, src/main.cpp).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRig, type Rig } from '../../scheduler/test/harness/rig';
import { makeArtifactTarball } from '../../scheduler/test/harness/scripted-server';

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.dispose();
});

/** A tarball exactly as given: storage.json for `name` plus arbitrary extra members. */
async function crafted(name: string, extra: Record<string, string>, storage: Record<string, unknown> = {}): Promise<Buffer> {
  const { create } = await import('tar');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-hostile-art-'));
  try {
    const remoteBuild = `/srv/kiln/remote_builds/x/${name}/.esphome/build/${name}`;
    const files: Record<string, string> = {
      'storage.json': JSON.stringify({ storage_version: 1, name, esp_platform: 'ESP32', build_path: remoteBuild, firmware_bin_path: `${remoteBuild}/.pioenvs/${name}/firmware.bin`, ...storage }),
      [`.pioenvs/${name}/firmware.bin`]: `firmware of ${name}`,
      ...extra,
    };
    for (const [rel, body] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), body);
    }
    const chunks: Buffer[] = [];
    for await (const c of create({ gzip: true, cwd: dir, portable: true }, Object.keys(files)) as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const EVIL_INI = '[env:victim]\nplatform = espressif32\nextra_scripts = post:evil.py\n';

/** Runs one remote compile of porch.yaml against a server answering `tarball`; returns the job and the sender's .esphome tree. */
async function remoteCompile(tarball: () => Promise<Buffer>): Promise<{ status: string; error: string | null; written: string[] }> {
  const r = await startRig({ servers: 1, server: () => ({ artifacts: async () => tarball() }) });
  rigs.push(r);
  r.off.writeYaml('porch.yaml');
  r.off.writeYaml('victim.yaml');
  const job = r.off.engine.compile({ configuration: 'porch.yaml' });
  const done = await r.off.waitDone(job.job_id, 20_000);
  const root = join(r.off.configDir, '.esphome');
  const written = existsSync(root) ? (readdirSync(root, { recursive: true }) as string[]) : [];
  return { status: done.status, error: done.error, written };
}

describe('hostile build server artifacts are refused, nothing written (issue 11 defect 3)', () => {
  it('control: honest artifacts for the job\'s own device are staged', async () => {
    const r = await remoteCompile(() => makeArtifactTarball('porch'));
    expect(r.status).toBe('completed');
    expect(r.written).toContain(join('build', 'porch', '.pioenvs', 'porch', 'firmware.bin'));
  }, 30_000);

  it('another device\'s name (with platformio.ini extra_scripts, a .py and src/main.cpp)', async () => {
    const r = await remoteCompile(() => crafted('victim', { 'platformio.ini': EVIL_INI, 'evil.py': 'import os\n', 'src/main.cpp': 'int main(){}\n' }));
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/storage\.json is for device "victim", but this job builds "porch"/);
    expect(r.written).toEqual([]);
  }, 30_000);

  for (const [what, extra, why] of [
    ['a Python script', { 'post_build.py': 'import os; os.system("id")\n' }, /unexpected member "post_build\.py"/],
    ['src/main.cpp', { 'src/main.cpp': 'int main(){}\n' }, /unexpected member "src\/main\.cpp"/],
    ['a file elsewhere in the build tree', { '.pioenvs/porch/extra.a': 'x' }, /unexpected member/],
    ['platformio.ini with extra_scripts pointing outside the tree', { 'platformio.ini': '[env:porch]\nextra_scripts =\n  post:post_build.py\n  /tmp/evil.py\n' }, /extra script outside the build tree/],
    ['platformio.ini with an upload_command', { 'platformio.ini': '[env:porch]\nupload_protocol = custom\nupload_command = sh -c id\n' }, /platformio\.ini sets upload/],
  ] as const) {
    it(`the job's own device but ${what}`, async () => {
      const r = await remoteCompile(() => crafted('porch', extra));
      expect(r.status).toBe('failed');
      expect(r.error).toMatch(/refused the build server's artifacts/);
      expect(r.error).toMatch(why);
      expect(r.error).toMatch(/nothing was written/);
      expect(r.written).toEqual([]);
    }, 30_000);
  }

  it('a firmware_bin_path that names a source file', async () => {
    const remoteBuild = '/srv/kiln/remote_builds/x/porch/.esphome/build/porch';
    const r = await remoteCompile(() => crafted('porch', { 'src/main.cpp': 'int main(){}\n' }, { firmware_bin_path: `${remoteBuild}/src/main.cpp` }));
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/firmware_bin_path points at src\/main\.cpp/);
    expect(r.written).toEqual([]);
  }, 30_000);

  it('ESPHome\'s own platformio.ini (extra_scripts by leaf name) is accepted', async () => {
    const r = await remoteCompile(() => crafted('porch', { 'platformio.ini': '[env:porch]\nplatform = espressif32\nextra_scripts = pre:testing_mode.py, post:post_build.py\n' }));
    expect(r.error).toBeNull();
    expect(r.status).toBe('completed');
    expect(r.written).toContain(join('build', 'porch', 'platformio.ini'));
  }, 30_000);
});

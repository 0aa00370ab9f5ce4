// A bundle extracted onto a file system without room (a real tmpfs, the kernel's own ENOSPC):
// out of blocks mid-write, and out of inodes while creating members. Either way the error keeps
// its errno (it is the machine's fault, not the archive's: a refusal of the archive would tell
// the sender its bundle is unsafe), the staging directory is removed and the device workspace
// of the earlier build is untouched.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canMountTmpfs, mountTmpfs, NOT_RUN_TMPFS, unmountTmpfs } from '../../../../test/support/tmpfs';
import { BundleExtractError, extractBundle, isOutOfDiskSpace, outOfDiskSpaceMessages, STAGING_DIR } from '../bundle-extract';
import { UnsafeArchiveError } from '../safe-tar';
import { bundleFor } from './tar-helpers';

let base: string;
let root: string;
let deviceDir: string;
const mounted: string[] = [];

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kiln-bundle-full-'));
  root = join(base, 'remote_builds');
  deviceDir = join(root, 'sender01', 'kitchen');
});
afterEach(async () => {
  for (const m of mounted.splice(0)) unmountTmpfs(m);
  await rm(base, { recursive: true, force: true });
});
afterAll(() => {
  for (const m of mounted.splice(0)) unmountTmpfs(m);
});

/** The workspaces root on a tmpfs with `options`, holding an earlier build's workspace. */
async function fullRoot(options: string): Promise<void> {
  mountTmpfs(root, options);
  mounted.push(root);
  await mkdir(deviceDir, { recursive: true });
  await writeFile(join(deviceDir, 'kitchen.yaml'), 'earlier: build\n');
}

async function extractError(bundle: Buffer): Promise<unknown> {
  return extractBundle({ bundle, root, deviceDir, configurationFilename: 'kitchen.yaml' }).then(
    () => new Error('extracted, but it should not have fitted'),
    (err: unknown) => err,
  );
}

async function expectNothingKept(): Promise<void> {
  expect(await readdir(join(root, STAGING_DIR))).toEqual([]);
  expect(await readdir(deviceDir)).toEqual(['kitchen.yaml']);
  expect(await readFile(join(deviceDir, 'kitchen.yaml'), 'utf8')).toBe('earlier: build\n');
}

describe('extracting a bundle onto a full file system', () => {
  it.skipIf(!canMountTmpfs)(`out of blocks mid-write: ENOSPC kept, staging removed, the earlier workspace intact${NOT_RUN_TMPFS}`, async () => {
    await fullRoot('size=1m');
    const bundle = await bundleFor('kitchen.yaml', 'esphome:\n  name: kitchen\n', [{ name: 'fonts/big.ttf', data: randomBytes(3 * 1024 * 1024) }]);
    const err = await extractError(bundle);
    expect(err).not.toBeInstanceOf(BundleExtractError);
    expect(isOutOfDiskSpace(err), String(err)).toBe(true);
    await expectNothingKept();
    const said = outOfDiskSpaceMessages(bundle, root, err as Error);
    expect(said.sender).toMatch(/^the build server is out of disk space: there was no room to unpack this bundle \(3\.\d MB, 3\.\d MB unpacked\)/);
    expect(said.log).toContain('ENOSPC');
  });

  it.skipIf(!canMountTmpfs)(`out of inodes while creating members: ENOSPC kept (not "member cannot be created"), nothing kept${NOT_RUN_TMPFS}`, async () => {
    // root, sender01/, kitchen/, kitchen.yaml, .staging/, bundle-*/ and a few members: then no inode is left.
    await fullRoot('size=4m,nr_inodes=10');
    const members = Array.from({ length: 20 }, (_, i) => ({ name: `src/d${i}/f.h`, data: `// ${i}\n` }));
    const err = await extractError(await bundleFor('kitchen.yaml', 'esphome:\n  name: kitchen\n', members));
    expect(err).not.toBeInstanceOf(BundleExtractError);
    expect(err).not.toBeInstanceOf(UnsafeArchiveError);
    expect(isOutOfDiskSpace(err), String(err)).toBe(true);
    await expectNothingKept();
  });
});

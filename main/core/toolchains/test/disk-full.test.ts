// A full disk during an install: a real 2 MB tmpfs as the toolchains folder (needs root to
// mount; NOT RUN otherwise). The venv cannot be created; the error says the disk is full and
// nothing is left behind.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWheelhouse, pyenvPython } from '../../../../test/support/esphome-wheelhouse';
import { installToolchain } from '../installer';
import { ToolchainStore } from '../store';
import type { ToolchainError } from '../version';

const PY = pyenvPython('3.12');
const base = mkdtempSync(join(tmpdir(), 'kiln-tc-full-'));
const mnt = join(base, 'mnt');
mkdirSync(mnt);
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
  mounted = true;
} catch {
  mounted = false;
}
afterAll(() => {
  if (mounted) execFileSync('umount', [mnt]);
  rmSync(base, { recursive: true, force: true });
});

describe.skipIf(!mounted || !PY)('full disk during install (real tmpfs)', () => {
  it('fails with "the disk is full", leaves nothing behind', async () => {
    const wheels = buildWheelhouse(join(base, 'wheels'), [{ version: '2099.1.0' }], PY!);
    const store = new ToolchainStore(join(mnt, 'toolchains'));
    const err = (await installToolchain(store, { version: '2099.1.0', findLinks: [wheels], noIndex: true, python: PY! }).catch((e: unknown) => e)) as ToolchainError;
    expect(err.code).toBe('disk_full');
    expect(err.message).toMatch(/the disk is full \(\d+ MB free in .*\)\. Free some space and try again\. Nothing was left behind\./);
    expect(readdirSync(store.root).filter((n) => n !== '.locks')).toEqual([]);
    expect(store.list()).toEqual([]);
  }, 120_000);
});

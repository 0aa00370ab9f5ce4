// Small tmpfs mounts for disk-full tests: the real kernel's ENOSPC, not an injected one. Needs
// root (CI runs as root, .ci/run); where mounting is not allowed the tests say NOT RUN.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `options`: tmpfs mount options besides the mode, e.g. `size=8m` or `size=4m,nr_inodes=12`. */
export function mountTmpfs(dir: string, options: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `${options},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
}

export function unmountTmpfs(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    // not mounted (or already gone)
  }
}

/** Whether this process may mount a tmpfs (root, or a container that allows it): probed once. */
export const canMountTmpfs: boolean = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tmpfs-probe-'));
  try {
    mountTmpfs(dir, 'size=1m');
    unmountTmpfs(dir);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

/** Appended to the name of a test that needs a tmpfs: vitest then reports it skipped with the reason. */
export const NOT_RUN_TMPFS = canMountTmpfs ? '' : ' [NOT RUN: needs root to mount a tmpfs]';

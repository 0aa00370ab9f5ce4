// Real venvs, real pip, offline: wheels built by the test, installed with --find-links --no-index.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheelhouse, pyenvPython } from '../../../../test/support/esphome-wheelhouse';
import { waitUntil } from '../../../../test/support/wait-until';
import { probeEsphome } from '../../api/esphome-status';
import { installToolchain } from '../installer';
import type { InstallProgress } from '../pip-progress';
import { ToolchainStore } from '../store';
import { ToolchainError } from '../version';
import { must } from '../../../../test/support/must';

const PY312 = pyenvPython('3.12');
const PY311 = pyenvPython('3.11');
const tmp = mkdtempSync(join(tmpdir(), 'kiln-tc-'));
let wheels = '';

beforeAll(() => {
  wheels = buildWheelhouse(join(tmp, 'wheels'), [{ version: '2099.1.0' }, { version: '2099.2.0' }, { version: '2099.3.0', corrupt: true }, { version: '2099.4.0', brokenRun: true }]);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function opts(extra: Parameters<typeof installToolchain>[1] = {}) {
  return { findLinks: [wheels], noIndex: true, python: PY312 ?? undefined, ...extra };
}

function freshStore(name: string): ToolchainStore {
  return new ToolchainStore(join(tmp, name));
}

/** Everything in the store folder except the lock dir: what an install left behind. */
function leftovers(store: ToolchainStore): string[] {
  try {
    return readdirSync(store.root).filter((n) => n !== '.locks');
  } catch {
    return [];
  }
}

// Two real pip installs per test: at load 15-20 on 2 cores one takes > 15 s, so these tests get more
// than the suite's 30 s default (a timeout, not a weaker assertion).
describe.skipIf(!PY312)('toolchain install (real pip, offline wheelhouse)', { timeout: 120_000 }, () => {
  it('installs a version with progress, verifies it, lists it and runs it', async () => {
    const store = freshStore('a');
    const progress: InstallProgress[] = [];
    const lines: string[] = [];
    const r = await installToolchain(store, opts({ version: '2099.1.0', onProgress: (p) => progress.push(p), onLine: (l) => lines.push(l) }));
    expect(r.alreadyInstalled).toBe(false);
    expect(r.toolchain.version).toBe('2099.1.0');
    expect(r.toolchain.pythonVersion).toMatch(/^3\.12\./);
    const phases = [...new Set(progress.map((p) => p.phase))];
    expect(phases).toEqual(['python', 'venv', 'resolving', 'downloading', 'installing', 'verifying', 'done']);
    // never goes down, ends at 1
    for (let i = 1; i < progress.length; i++) expect(must(progress[i]).fraction).toBeGreaterThanOrEqual(must(progress[i - 1]).fraction);
    expect(progress.at(-1)!.fraction).toBe(1);
    expect(lines.join('\n')).toMatch(/Successfully installed esphome-2099\.1\.0/);
    expect(store.list().map((t) => t.version)).toEqual(['2099.1.0']);
    expect(leftovers(store)).toEqual(['2099.1.0']);
    // The toolchain's command really is that esphome.
    const st = await probeEsphome(r.toolchain.command);
    expect(st).toMatchObject({ found: true, version: '2099.1.0' });
    // A second install is a no-op.
    const again = await installToolchain(store, opts({ version: '2099.1.0' }));
    expect(again.alreadyInstalled).toBe(true);
  });

  it('a broken wheel fails with pip\'s reason and leaves nothing behind', async () => {
    const store = freshStore('broken');
    const err = await installToolchain(store, opts({ version: '2099.3.0' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolchainError);
    expect((err as ToolchainError).code).toBe('install_failed');
    expect((err as Error).message).toMatch(/Could not install ESPHome 2099\.3\.0 with pip/);
    expect(leftovers(store)).toEqual([]);
    expect(store.list()).toEqual([]);
  });

  it('an esphome that installs but does not run fails the verify step, nothing left', async () => {
    const store = freshStore('norun');
    const err = (await installToolchain(store, opts({ version: '2099.4.0' })).catch((e: unknown) => e)) as ToolchainError;
    expect(err.code).toBe('install_failed');
    expect(err.message).toMatch(/does not run/);
    expect(leftovers(store)).toEqual([]);
  });

  it('a version pip cannot find says so', async () => {
    const store = freshStore('missing');
    const err = (await installToolchain(store, opts({ version: '2099.9.9' })).catch((e: unknown) => e)) as ToolchainError;
    expect(err.message).toMatch(/pip found no esphome==2099\.9\.9/);
    expect(leftovers(store)).toEqual([]);
  });

  it('bad version strings are refused before anything runs or is created', async () => {
    const store = freshStore('bad');
    for (const v of ['1.0; rm -rf /', '../x', '', '>=1', '2026.1.0 --index-url http://evil', 'x'.repeat(100)]) {
      const err = (await installToolchain(store, opts({ version: v })).catch((e: unknown) => e)) as ToolchainError;
      expect(err).toBeInstanceOf(ToolchainError);
      expect(err.code).toBe('invalid_version');
      expect(err.message).toMatch(/is not an ESPHome release version/);
    }
    expect(existsSync(store.root)).toBe(false);
  });

  it.skipIf(!PY311)('a Python that is too old for the release is refused with what to install', async () => {
    const store = freshStore('old');
    const err = (await installToolchain(store, { ...opts({ version: '2026.10.0' }), python: PY311! }).catch((e: unknown) => e)) as ToolchainError;
    expect(err.code).toBe('python_too_old');
    expect(err.message).toMatch(/Python 3\.11\.\d+ .* is too old for ESPHome 2026\.10\.0: it needs Python 3\.12 or newer/);
    expect(leftovers(store)).toEqual([]);
  });

  it('two concurrent installs of one version install it once', async () => {
    const store = freshStore('twice');
    const a: string[] = [];
    const b: string[] = [];
    const [ra, rb] = await Promise.all([
      installToolchain(store, opts({ version: '2099.2.0', onLine: (l) => a.push(l) })),
      installToolchain(store, opts({ version: '2099.2.0', onLine: (l) => b.push(l) })),
    ]);
    expect([ra.alreadyInstalled, rb.alreadyInstalled].sort()).toEqual([false, true]);
    const waiter = ra.alreadyInstalled ? a : b;
    expect(waiter.join('\n')).toMatch(/Another install of ESPHome 2099\.2\.0 is running/);
    // pip ran once
    expect([...a, ...b].filter((l) => /Successfully installed esphome-2099\.2\.0/.test(l))).toHaveLength(1);
    expect(leftovers(store)).toEqual(['2099.2.0']);
  });

  describe('Stop mid-install', () => {
    let server: Server;
    let base = '';
    const stalled: Array<() => void> = [];
    beforeAll(async () => {
      // A find-links page whose wheel download never finishes: pip is stuck in "downloading"
      // until Stop kills it (deterministic, no timing guess).
      server = createServer((req, res) => {
        if (req.url === '/' || req.url === '/index.html') {
          res.setHeader('content-type', 'text/html');
          res.end('<html><body><a href="esphome-2099.1.0-py3-none-any.whl">esphome-2099.1.0-py3-none-any.whl</a></body></html>');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100000' });
        res.write(Buffer.alloc(10));
        stalled.push(() => res.destroy());
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    });
    afterAll(async () => {
      for (const s of stalled) s();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('kills pip, removes the temp venv, lists nothing', async () => {
      const store = freshStore('stop');
      const ac = new AbortController();
      const progress: InstallProgress[] = [];
      const run = installToolchain(store, { version: '2099.1.0', findLinks: [base], noIndex: true, python: PY312!, signal: ac.signal, onProgress: (p) => progress.push(p) });
      run.catch(() => undefined);
      await waitUntil(() => progress.some((p) => p.phase === 'downloading'), { what: 'pip downloading', timeoutMs: 60_000 });
      expect(leftovers(store).some((n) => n.startsWith('.tmp-2099.1.0-'))).toBe(true);
      ac.abort();
      const err = (await run.catch((e: unknown) => e)) as ToolchainError;
      expect(err.code).toBe('cancelled');
      expect(err.message).toMatch(/stopped; nothing was left behind/);
      expect(leftovers(store)).toEqual([]);
      expect(store.list()).toEqual([]);
    });
  });

  it('remove and default switch', async () => {
    const store = freshStore('switch');
    await installToolchain(store, opts({ version: '2099.1.0' }));
    await installToolchain(store, opts({ version: '2099.2.0' }));
    expect(store.defaultVersion()).toBeNull();
    await store.setDefault('2099.1.0');
    expect(store.defaultToolchain()?.version).toBe('2099.1.0');
    await store.setDefault('2099.2.0');
    expect(store.list().map((t) => [t.version, t.isDefault])).toEqual([
      ['2099.2.0', true],
      ['2099.1.0', false],
    ]);
    // The default is kept until another is chosen.
    await expect(store.remove('2099.2.0')).rejects.toThrow(/is the default toolchain; choose another default first/);
    await store.remove('2099.1.0');
    expect(store.list().map((t) => t.version)).toEqual(['2099.2.0']);
    await expect(store.remove('2099.1.0')).rejects.toThrow(/is not installed/);
    await expect(store.setDefault('2099.1.0')).rejects.toThrow(/is not installed/);
    await expect(store.remove('../x')).rejects.toThrow(/not an ESPHome release version/);
    expect(leftovers(store).sort()).toEqual(['2099.2.0', 'default.json']);
    // default.json is private
    expect(readFileSync(join(store.root, 'default.json'), 'utf8')).toMatch(/"version":"2099\.2\.0"/);
  });
});

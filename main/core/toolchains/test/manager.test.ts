// The build server's side of toolchains: ensure() installs a version once for concurrent callers,
// keeps provisioned versions for reuse and removes the oldest unused past the limit — never the
// default, a user's own, or one a build is using. Real pip, offline wheelhouse.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheelhouse, pyenvPython } from '../../../../test/support/esphome-wheelhouse';
import { ToolchainManager, type ToolchainEvent } from '../manager';
import { ToolchainStore } from '../store';

const PY = pyenvPython('3.12');
const tmp = mkdtempSync(join(tmpdir(), 'kiln-tc-mgr-'));
let wheels = '';
beforeAll(() => {
  wheels = buildWheelhouse(join(tmp, 'wheels'), ['2099.1.0', '2099.2.0', '2099.3.0', '2099.4.0'].map((version) => ({ version })), PY ?? undefined);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!PY)('ToolchainManager (real pip)', () => {
  it('concurrent ensure() of one version: one install, both get it; events carry progress', async () => {
    const m = new ToolchainManager({ store: new ToolchainStore(join(tmp, 'a')), pip: { findLinks: [wheels], noIndex: true, python: PY! } });
    const events: ToolchainEvent[] = [];
    m.onEvent((e) => events.push(e));
    const la: string[] = [];
    const lb: string[] = [];
    const [a, b] = await Promise.all([m.ensure('2099.1.0', { onLine: (l) => la.push(l) }), m.ensure('2099.1.0', { onLine: (l) => lb.push(l) })]);
    expect(a.version).toBe('2099.1.0');
    expect(b.dir).toBe(a.dir);
    // One pip run, whose lines both callers saw.
    expect(la.filter((l) => /Successfully installed esphome-2099\.1\.0/.test(l))).toHaveLength(1);
    expect(lb.filter((l) => /Successfully installed esphome-2099\.1\.0/.test(l))).toHaveLength(1);
    const installs = events.flatMap((e) => (e.kind === 'install' ? [e.install] : []));
    expect(new Set(installs.map((i) => i.id)).size).toBe(1);
    expect(installs.at(-1)).toMatchObject({ status: 'done', version: '2099.1.0', origin: 'provision', fraction: 1 });
    expect(m.store.get('2099.1.0')?.origin).toBe('provision');
    // A provisioned install does not become the machine's default.
    expect(m.store.defaultVersion()).toBeNull();
  }, 120_000);

  it('keeps provisioned versions up to the limit, removing the oldest unused', async () => {
    const store = new ToolchainStore(join(tmp, 'b'));
    const m = new ToolchainManager({ store, pip: { findLinks: [wheels], noIndex: true, python: PY! } });
    await store.setProvisionKeep(1).catch(() => undefined);
    // A user's toolchain (default) is never evicted.
    const { done } = m.install('2099.4.0');
    await done;
    expect(store.defaultVersion()).toBe('2099.4.0');
    await store.setProvisionKeep(1);
    await m.ensure('2099.1.0');
    await m.ensure('2099.2.0', { inUse: () => new Set(['2099.1.0']) });
    // 2099.1.0 was in use: both kept for now.
    expect(store.list().map((t) => t.version)).toEqual(['2099.4.0', '2099.2.0', '2099.1.0']);
    await m.ensure('2099.3.0');
    // Limit 1: only the one just used is kept, plus the user's default.
    expect(store.list().map((t) => [t.version, t.origin])).toEqual([
      ['2099.4.0', 'user'],
      ['2099.3.0', 'provision'],
    ]);
    // Installing a provisioned version on purpose makes it the user's.
    await m.install('2099.3.0').done;
    expect(store.get('2099.3.0')?.origin).toBe('user');
    await expect(store.setProvisionKeep(0)).rejects.toThrow(/from 1 to 50/);
  }, 180_000);

  it('Stop of an install from the API side ends it cancelled', async () => {
    const m = new ToolchainManager({ store: new ToolchainStore(join(tmp, 'c')), pip: { findLinks: [wheels], noIndex: true, python: PY! } });
    const { state, done } = m.install('2099.2.0');
    expect(m.stop(state.id)).toBe(true);
    await expect(done).rejects.toThrow(/stopped; nothing was left behind/);
    expect(m.installsInProgress()[0]).toMatchObject({ status: 'cancelled' });
    expect(m.list()).toEqual([]);
    expect(m.stop('i999')).toBe(false);
  }, 60_000);
});

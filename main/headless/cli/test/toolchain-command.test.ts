// `kiln toolchain` as real child processes against real pip (offline wheelhouse built here).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, spawnKiln } from '../../../../test/e2e-remote/helpers';
import { buildWheelhouse, pyenvPython } from '../../../../test/support/esphome-wheelhouse';
import { waitUntil } from '../../../../test/support/wait-until';

const PY = pyenvPython('3.12');
const tmp = mkdtempSync(join(tmpdir(), 'kiln-tc-cli-'));
let wheels = '';

beforeAll(() => {
  wheels = buildWheelhouse(join(tmp, 'wheels'), [{ version: '2099.1.0' }, { version: '2099.2.0' }], PY ?? undefined);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function kiln(root: string, args: string[]) {
  return spawnKiln(['toolchain', ...args], { KILN_TOOLCHAINS: root });
}
const offline = () => ['--find-links', wheels, '--no-index', '--python', PY!];
const dirs = (root: string) => readdirSync(root).filter((n) => n !== '.locks').sort();

describe.skipIf(!PY)('kiln toolchain (real processes, real pip)', () => {
  it('install → list → install another → use → remove, with progress lines', async () => {
    const root = join(tmp, 'flow');
    const i1 = kiln(root, ['install', '2099.1.0', ...offline()]);
    expect((await i1.exit).code, i1.text()).toBe(0);
    const out = i1.out.join('\n');
    expect(out).toMatch(/\[\s*\d+%\] venv: creating the virtual environment/);
    expect(out).toMatch(/\[\s*\d+%\] installing: installing 1 package/);
    expect(out).toMatch(/\[100%\] done: ESPHome 2099\.1\.0 installed/);
    expect(out).toMatch(/ESPHome 2099\.1\.0 installed and is the default toolchain/);

    const i2 = kiln(root, ['install', '2099.2.0', ...offline()]);
    expect((await i2.exit).code, i2.text()).toBe(0);
    expect(i2.out.join('\n')).toMatch(/make it the default with: kiln toolchain use 2099\.2\.0/);

    const l1 = kiln(root, ['list']);
    expect((await l1.exit).code).toBe(0);
    expect(l1.out.join('\n')).toMatch(/ {2}2099\.2\.0 .*\n\* 2099\.1\.0 /);
    expect(l1.out.join('\n')).toMatch(/esphome on the PATH: (not found|\d)/);

    const u = kiln(root, ['use', '2099.2.0']);
    expect((await u.exit).code, u.text()).toBe(0);
    expect(u.out.join('\n')).toMatch(/ESPHome 2099\.2\.0 is now the default toolchain/);
    const r0 = kiln(root, ['remove', '2099.2.0']);
    expect((await r0.exit).code).toBe(1);
    expect(r0.err.join('\n')).toMatch(/is the default toolchain; choose another default first/);
    const r1 = kiln(root, ['remove', '2099.1.0']);
    expect((await r1.exit).code, r1.text()).toBe(0);
    expect(dirs(root)).toEqual(['2099.2.0', 'default.json']);
  }, 120_000);

  it('bad input: not-versions, unknown options, missing arguments', async () => {
    const root = join(tmp, 'bad');
    for (const v of ['1.0; rm -rf /', '../x', '']) {
      const c = kiln(root, ['install', v, ...offline()]);
      expect((await c.exit).code).toBe(1);
      expect(c.err.join('\n')).toMatch(/is not an ESPHome release version/);
    }
    const u = kiln(root, ['install', '--bogus']);
    expect((await u.exit).code).toBe(2);
    const m = kiln(root, ['use']);
    expect((await m.exit).code).toBe(2);
    expect(m.err.join('\n')).toMatch(/missing VERSION/);
    const n = kiln(root, ['use', '2099.5.0']);
    expect((await n.exit).code).toBe(1);
    expect(n.err.join('\n')).toMatch(/ESPHome 2099\.5\.0 is not installed/);
    expect(() => readdirSync(root)).toThrow();
  }, 60_000);

  describe('two processes, one version; Ctrl-C', () => {
    let server: Server;
    let base = '';
    let hold = true;
    const waiting: Array<() => void> = [];
    beforeAll(async () => {
      // Wheel downloads wait until released: the first install is guaranteed to be mid-download
      // when the second process starts.
      const { readFileSync } = await import('node:fs');
      server = createServer((req, res) => {
        if (req.url === '/') {
          res.setHeader('content-type', 'text/html');
          res.end('<a href="esphome-2099.1.0-py3-none-any.whl">esphome-2099.1.0-py3-none-any.whl</a>');
          return;
        }
        const send = () => res.end(readFileSync(join(wheels, 'esphome-2099.1.0-py3-none-any.whl')));
        if (hold) waiting.push(send);
        else send();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    });
    afterAll(async () => {
      hold = false;
      for (const w of waiting.splice(0)) w();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('two kiln processes installing one version install it once', async () => {
      const root = join(tmp, 'twice');
      const args = ['install', '2099.1.0', '--find-links', base, '--no-index', '--python', PY!, '--verbose'];
      const first = kiln(root, args);
      await waitUntil(() => waiting.length > 0, { timeoutMs: 60_000, what: 'the first pip to download' });
      const second = kiln(root, args);
      await waitUntil(() => second.out.some((l) => /Another install of ESPHome 2099\.1\.0 is running \(process \d+/.test(l)), { timeoutMs: 30_000, what: () => `second to wait:\n${second.text()}` });
      hold = false;
      for (const w of waiting.splice(0)) w();
      const [c1, c2] = await Promise.all([first.exit, second.exit]);
      expect(c1.code, first.text()).toBe(0);
      expect(c2.code, second.text()).toBe(0);
      expect(first.out.join('\n')).toMatch(/Successfully installed esphome-2099\.1\.0/);
      expect(second.out.join('\n')).not.toMatch(/Successfully installed/);
      expect(second.out.join('\n')).toMatch(/ESPHome 2099\.1\.0 (is installed|is already installed)/);
      expect(dirs(root)).toEqual(['2099.1.0', 'default.json']);
      hold = true;
    }, 120_000);

    it('Ctrl-C mid-install stops pip and leaves nothing behind', async () => {
      const root = join(tmp, 'sigint');
      const c = kiln(root, ['install', '2099.1.0', '--find-links', base, '--no-index', '--python', PY!]);
      // pip has asked for the wheel (the server holds it): mid-download.
      await waitUntil(() => waiting.length > 0, { timeoutMs: 60_000, what: () => `pip downloading:\n${c.text()}` });
      expect(dirs(root).some((n) => n.startsWith('.tmp-'))).toBe(true);
      c.proc.kill('SIGINT');
      const { code } = await c.exit;
      expect(code, c.text()).toBe(130);
      expect(c.err.join('\n')).toMatch(/Install of ESPHome 2099\.1\.0 stopped; nothing was left behind/);
      expect(dirs(root)).toEqual([]);
      expect(isAlive(c.proc.pid!)).toBe(false);
    }, 120_000);
  });
});

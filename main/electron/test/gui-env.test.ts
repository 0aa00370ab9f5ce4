// What a GUI launch finds: the login shell's PATH (bounded in time, real shells), the usual
// install places, managed toolchains first (issue 17 defect 5); whether a tray host exists on
// the session bus (defect 7; a real `gdbus` stand-in on PATH). No electron import here.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveGuiPath, usualDirs } from '../login-path';
import { trayHostAvailable } from '../tray-host';

const dir = mkdtempSync(join(tmpdir(), 'kiln-guienv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

describe('GUI PATH', () => {
  const home = join(dir, 'home');
  mkdirSync(join(home, '.local', 'bin'), { recursive: true });
  const managed = join(dir, 'toolchains', 'esphome', 'bin');
  mkdirSync(managed, { recursive: true });

  it('takes the login shell\'s PATH (rc-file noise ignored), then the launch PATH, then the usual places that exist', async () => {
    const shell = script('zsh-like', `echo "Welcome back"\nPATH="/opt/homebrew/bin:/Users/me/.pyenv/shims:$PATH"; export PATH\nexec /bin/sh -c "$2"`);
    const r = await resolveGuiPath({ env: { PATH: '/usr/bin:/bin', SHELL: shell, HOME: home }, platform: 'linux', home });
    expect(r.fromShell).toBe(true);
    const parts = r.path.split(':');
    expect(parts.slice(0, 5)).toEqual(['/opt/homebrew/bin', '/Users/me/.pyenv/shims', '/usr/bin', '/bin', join(home, '.local', 'bin')]);
    expect(new Set(parts).size).toBe(parts.length); // no duplicates
  });

  it('managed toolchain dirs come first when they exist; missing ones are skipped', async () => {
    const shell = script('plain-shell', 'exec /bin/sh -c "$2"');
    const r = await resolveGuiPath({ env: { PATH: '/usr/bin:/bin', SHELL: shell }, platform: 'linux', home, managedDirs: [join(dir, 'nope'), managed] });
    expect(r.path.split(':')[0]).toBe(managed);
    expect(r.path).not.toContain(join(dir, 'nope'));
  });

  it('a login shell that hangs is given up on in time; the usual places are still added', async () => {
    const shell = script('hanging-shell', 'sleep 30');
    const t0 = Date.now();
    const r = await resolveGuiPath({ env: { PATH: '/usr/bin:/bin', SHELL: shell }, platform: 'linux', home, timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.fromShell).toBe(false);
    expect(r.shellError).toMatch(/longer than 300 ms/);
    expect(r.path.split(':').slice(0, 3)).toEqual(['/usr/bin', '/bin', join(home, '.local', 'bin')]);
  });

  it('a missing or relative SHELL: the launch PATH and usual places only', async () => {
    const missing = await resolveGuiPath({ env: { PATH: '/usr/bin', SHELL: join(dir, 'no-such-shell') }, platform: 'linux', home });
    expect(missing.fromShell).toBe(false);
    expect(missing.path.split(':')[0]).toBe('/usr/bin');
    const relative = await resolveGuiPath({ env: { PATH: '/usr/bin', SHELL: 'zsh' }, platform: 'darwin', home });
    expect(relative.shellError).toMatch(/not an absolute path/);
    expect(usualDirs(home, 'darwin')).toEqual([join(home, '.local', 'bin'), '/opt/homebrew/bin', '/usr/local/bin']);
  });
});

describe('tray host', () => {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const withGdbus = (body: string) => {
    writeFileSync(join(bin, 'gdbus'), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, 'gdbus'), 0o755);
    return { PATH: `${bin}:/usr/bin:/bin` };
  };

  it('linux: a registered StatusNotifier host → shown; no watcher on the bus (stock GNOME) → not shown', async () => {
    expect(await trayHostAvailable({ platform: 'linux', env: withGdbus('echo "(<true>,)"') })).toBe(true);
    expect(await trayHostAvailable({ platform: 'linux', env: withGdbus('echo "(<false>,)"') })).toBe(false);
    expect(
      await trayHostAvailable({ platform: 'linux', env: withGdbus('echo "Error: GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown: The name org.kde.StatusNotifierWatcher was not provided" >&2; exit 1') }),
    ).toBe(false);
    expect(await trayHostAvailable({ platform: 'linux', env: withGdbus('sleep 30'), timeoutMs: 200 })).toBe(false);
  });

  it('macOS / Windows always have one; KILN_TRAY overrides', async () => {
    expect(await trayHostAvailable({ platform: 'darwin', env: {} })).toBe(true);
    expect(await trayHostAvailable({ platform: 'win32', env: {} })).toBe(true);
    expect(await trayHostAvailable({ platform: 'darwin', env: { KILN_TRAY: '0' } })).toBe(false);
    expect(await trayHostAvailable({ platform: 'linux', env: { KILN_TRAY: '1', PATH: '/nonexistent' } })).toBe(true);
  });
});

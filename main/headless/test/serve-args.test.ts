// `kiln serve` options: parsing (defaults, flags, environment) and what startServe hands to the
// composition root. No multicast: the mDNS cases inject a fake stack or turn it off.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIM } from '../../core/api/test/helpers';
import { FakeBonjour } from '../../core/peer-link/test/fake-bonjour';
import { parseServeArgs, ServeUsageError, startServe, type RunningServe, type ServeOptions } from '../serve';
import { must } from '../../../test/support/must';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): ServeOptions => {
  const o = parseServeArgs(argv, env);
  if (o === 'help') throw new Error('unexpected help');
  return o;
};

const dirs: string[] = [];
let running: RunningServe | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('kiln serve arguments', () => {
  it('defaults: ~/esphome, 127.0.0.1:6052, build server as stored (off unless turned on), mDNS, peer-link on', () => {
    const o = parse([]);
    expect(o).toMatchObject({ configDir: join(homedir(), 'esphome'), host: '127.0.0.1', port: 6052, peerLinkPort: 6055, buildServer: 'setting', mdns: true, peerLink: true });
    expect(o.dataDir).toBeUndefined();
    expect(parseServeArgs(['--help'])).toBe('help');
  });

  it('--no-mdns turns the advertising off; the other switches are independent', () => {
    expect(parse(['--no-mdns'])).toMatchObject({ mdns: false, buildServer: 'setting', peerLink: true });
    expect(parse(['--no-build-server'])).toMatchObject({ mdns: true, buildServer: 'off' });
    expect(parse(['--build-server'])).toMatchObject({ mdns: true, buildServer: 'on' });
    expect(() => parse(['--mdns'])).toThrow(ServeUsageError);
  });

  it('KILN_DATA_DIR sets the data dir (resolved); --data-dir wins; unset means <config-dir>/.kiln', () => {
    expect(parse([], { KILN_DATA_DIR: 'rel/state' }).dataDir).toBe(resolve('rel/state'));
    expect(parse(['--data-dir', '/flag/dir'], { KILN_DATA_DIR: '/env/dir' }).dataDir).toBe('/flag/dir');
    expect(parse([], { KILN_DATA_DIR: '' }).dataDir).toBeUndefined();
    expect(parse(['--config-dir', '/cfg'], { KILN_CONFIG_DIR: '/other' })).toMatchObject({ configDir: '/cfg', dataDir: undefined });
  });

  it('resolves directories and takes --opt=value', () => {
    const o = parse(['--config-dir=rel/cfg', '--data-dir', 'rel/data', '--port=0']);
    expect(o.configDir).toBe(resolve('rel/cfg'));
    expect(o.dataDir).toBe(resolve('rel/data'));
    expect(o.port).toBe(0);
  });
});

describe('startServe and mDNS', () => {
  const base = (): ServeOptions => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-serve-args-'));
    dirs.push(dir);
    return { ...parse(['--config-dir', join(dir, 'config'), '--port', '0', '--peer-link-port', '0', '--peer-link-host', '127.0.0.1', '--build-server', '--esphome', SIM, '--renderer-dir', join(dir, 'none')]) };
  };

  it('the build-server role is advertised on the stack it is given while bound, and withdrawn on stop', async () => {
    const fake = new FakeBonjour();
    const lines: string[] = [];
    running = await startServe(base(), { mdns: fake, report: () => undefined }, (l) => lines.push(l));
    const role = running.app.peerLink!.role!;
    expect(role.port).toBeGreaterThan(0);
    expect(fake.live()).toHaveLength(1);
    expect(fake.live()[0]).toMatchObject({ type: 'esphomebuilder', port: role.port, txt: { pin_sha256: running.app.peerLink!.state.identity.pin, remote_build_port: String(role.port) } });
    expect(lines).toContain(`build server: advertised over mDNS as ${must(fake.live()[0]).name} (_esphomebuilder._tcp)`);
    await running.stop();
    running = null;
    expect(fake.live()).toEqual([]);
  });

  it('a KILN_DATA_DIR data dir is where the app keeps its state (not <config-dir>/.kiln)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-serve-data-'));
    dirs.push(dir);
    const o = parse(['--config-dir', join(dir, 'config'), '--port', '0', '--no-peer-link', '--esphome', SIM, '--renderer-dir', join(dir, 'none')], { KILN_DATA_DIR: join(dir, 'state') });
    running = await startServe(o, { report: () => undefined }, () => undefined);
    expect(running.app.dataDir).toBe(join(dir, 'state'));
    const conn = running.app.service.connect(() => undefined);
    expect(await conn.call('getEnvironment', {})).toMatchObject({ dataDir: join(dir, 'state'), configDir: join(dir, 'config') });
    conn.close();
    await running.stop();
    running = null;
    expect(existsSync(join(dir, 'state', 'jobs.json'))).toBe(true);
    expect(existsSync(join(dir, 'config', '.kiln'))).toBe(false);
  });

  it('--no-mdns: nothing is advertised and nothing says so', async () => {
    const lines: string[] = [];
    running = await startServe({ ...base(), mdns: false }, { report: () => undefined }, (l) => lines.push(l));
    expect(running.app.peerLink!.role!.port).toBeGreaterThan(0);
    expect(running.app.peerLink!.role!.advertised).toBeNull();
    expect(lines.some((l) => l.includes('mDNS'))).toBe(false);
  });
});

// `kiln serve` hardening, checked with real HTTP and WebSocket requests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../../preload/contract';
import { RpcError } from '../../../renderer/src/backend/rpc-client';
import { createApp, type KilnApp } from '../../core/app';
import { cleanupDirs, REPO, SIM, tempConfigDir } from '../../core/api/test/helpers';
import { CONTENT_SECURITY_POLICY as CSP, SECURITY_HEADERS } from '../../core/csp';
import { startKilnServer, type KilnServer } from '../server';
import { openClient } from './ws-client';
import { waitUntil } from '../../../test/support/wait-until';

let app: KilnApp;
let server: KilnServer;
let staticDir: string;
const TOKEN = 'test-token-0123456789';

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method, headers: { Host: `127.0.0.1:${server.port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// A non-loopback IPv4 address of this machine, if it has one: the loopback-only test needs one.
const otherIPv4 = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal);

const wsUrl = () => `ws://127.0.0.1:${server.port}/rpc`;

beforeAll(async () => {
  process.env.ESPHOME_SIM_SPEED = '0';
  const configDir = tempConfigDir({}, ['kitchen-plug.yaml', 'secrets.yaml']);
  staticDir = join(configDir, 'www');
  mkdirSync(join(staticDir, 'assets'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>Kiln</title>');
  writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(configDir, 'outside.txt'), 'secret');
  app = await createApp({ configDir, esphome: [SIM], peerLink: false, report: () => undefined });
  server = await startKilnServer({ service: app.service, port: 0, token: TOKEN, staticDir, helloTimeoutMs: 2000 });
});

afterAll(async () => {
  await server?.close();
  await app?.stop();
  cleanupDirs();
});

describe('kiln serve: HTTP', () => {
  it('binds 127.0.0.1 by default and prints a URL with the token in the fragment', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/#token=${TOKEN}`);
  });

  it.skipIf(!otherIPv4)('is not reachable on other interfaces when bound to loopback (skipped: this machine has no non-loopback IPv4 address to try)', async () => {
    const other = otherIPv4!;
    await expect(
      new Promise((resolve, reject) => {
        const req = request({ host: other.address, port: server.port, path: '/', timeout: 2000 }, resolve);
        req.on('error', reject);
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.end();
      }),
    ).rejects.toThrow();
  });

  it('serves the window with the CSP and hardening headers', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(r.body).toContain('<title>Kiln</title>');
    expect(r.headers['content-security-policy']).toBe(CSP);
    expect(CSP).toBe(
      "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    );
    // The shared set (main/core/csp.ts, also sent by the desktop app:// protocol), on the page and on refusals.
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(r.headers[name.toLowerCase()], name).toBe(value);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('DENY');
    const refused = await get('/nope.js');
    expect(refused.status).toBe(404);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(refused.headers[name.toLowerCase()], name).toBe(value);
    expect(r.headers['cache-control']).toBe('no-store');
    const js = await get('/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['content-security-policy']).toBe(CSP);
  });

  it('refuses path traversal, unknown files and non-GET methods', async () => {
    for (const p of ['/../outside.txt', '/%2e%2e/outside.txt', '/assets/../../outside.txt', '/%2e%2e%2foutside.txt', '/nope.js']) {
      const r = await get(p);
      expect(r.status, p).toBe(404);
      expect(r.body).not.toContain('secret');
    }
    expect((await get('/', {}, 'POST')).status).toBe(405);
  });

  it('checks the Host header (DNS rebinding)', async () => {
    expect((await get('/', { Host: `evil.example:${server.port}` })).status).toBe(421);
    expect((await get('/', { Host: `127.0.0.1:${server.port + 1}` })).status).toBe(421);
    expect((await get('/', { Host: `localhost:${server.port}` })).status).toBe(200);
  });
});

describe('kiln serve: WebSocket /rpc', () => {
  it('refuses a foreign Origin (cross-site WebSocket hijacking) and a foreign Host', async () => {
    await expect(openClient(wsUrl(), { Origin: 'http://evil.example' })).rejects.toThrow(/HTTP 403/);
    await expect(openClient(wsUrl(), { Origin: `http://127.0.0.1:${server.port + 1}` })).rejects.toThrow(/HTTP 403/);
    await expect(openClient(wsUrl(), { Host: `rebind.example:${server.port}` })).rejects.toThrow(/HTTP 421/);
    const ok = await openClient(wsUrl(), { Origin: `http://127.0.0.1:${server.port}` });
    ok.ws.close();
  });

  it('without the token nothing is answered and no event is sent', async () => {
    const c = await openClient(wsUrl());
    // A call before hello: refused.
    await expect(c.client.api.getJobs({})).rejects.toMatchObject({ code: 'precondition_failed' });
    // A job runs meanwhile: this connection must not see it.
    const job = app.engine.compile({ configuration: 'kitchen-plug.yaml' });
    await app.engine.whenDone(job.job_id);
    expect(c.raw.filter((m) => (m as { t: string }).t === 'evt')).toEqual([]);
    // Wrong token: typed error, then the server closes with 4401.
    const err = await c.client.hello('wrong-token').catch((e: RpcError) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe('precondition_failed');
    expect((await c.closed).code).toBe(4401);
  });

  it('a missing token and a protocol mismatch are refused too', async () => {
    const a = await openClient(wsUrl());
    await expect(a.client.hello(undefined)).rejects.toMatchObject({ code: 'precondition_failed' });
    expect((await a.closed).code).toBe(4401);
    const b = await openClient(wsUrl());
    await expect(b.client.call('hello', { protocol: PROTOCOL_VERSION + 1, token: TOKEN })).rejects.toMatchObject({ code: 'precondition_failed', message: /protocol mismatch/ });
    expect((await b.closed).code).toBe(4401);
  });

  it('drops a client that sends garbage or no hello in time', async () => {
    const a = await openClient(wsUrl());
    a.ws.send('not json');
    expect((await a.closed).code).toBe(4401);
    const b = await openClient(wsUrl());
    expect((await b.closed).code).toBe(4401); // hello timeout 2 s
  });

  it('with the token: typed calls, typed errors, events and batched logs', async () => {
    const c = await openClient(wsUrl(), { Origin: `http://127.0.0.1:${server.port}` });
    const hello = await c.client.hello(TOKEN);
    expect(hello).toMatchObject({ protocol: PROTOCOL_VERSION, capabilities: { desktop: false, pairing: false, buildServerRole: false } });
    await expect(c.client.api.compile({ configuration: 'nope/../x.yaml' })).rejects.toMatchObject({ code: 'invalid_args' });
    const lifecycle: string[] = [];
    c.client.on('jobLifecycle', (e) => lifecycle.push(e.kind));
    const batches: number[] = [];
    c.client.on('logBatch', (b) => batches.push(b.lines.length));
    const job = await c.client.api.compile({ configuration: 'kitchen-plug.yaml' });
    await c.client.api.followLog({ jobId: job.job_id });
    await waitUntil(() => lifecycle.includes('completed'), 20_000);
    expect(lifecycle).toContain('started');
    const lines = batches.reduce((a, b) => a + b, 0);
    expect(batches.length).toBeLessThan(Math.max(2, lines / 5));
    c.ws.close();
  });
});

describe('kiln serve: the command', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('starts on --port 0, prints the URL, serves, and shuts down on SIGTERM', async () => {
    const configDir = tempConfigDir({}, ['kitchen-plug.yaml', 'secrets.yaml']);
    child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'main/headless/cli/kiln.ts'), 'serve', '--config-dir', configDir, '--port', '0', '--esphome', SIM, '--no-peer-link', '--renderer-dir', staticDir],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ESPHOME_SIM_SPEED: '0' } },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const url = await waitUntil(() => /KILN_SERVE_URL=(\S+)/.exec(out)?.[1], { timeoutMs: 20_000, what: 'serve URL' });
    const u = new URL(url);
    expect(u.hostname).toBe('127.0.0.1');
    expect(Number(u.port)).toBeGreaterThan(0);
    expect(u.hash).toMatch(/^#token=[A-Za-z0-9_-]{40,}$/);
    expect(out).toContain('Kiln simulator');
    const res = await fetch(new URL('/', url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CSP);
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

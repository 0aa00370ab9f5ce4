// app:// protocol: scheme privileges, serving the built renderer from real temp files, the CSP
// header, and refusal of every way out of the root (.., encoded, backslash, symlink).
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from '../../core/csp';
import { createAppProtocolHandler, registerAppScheme, resolveAppPath, serveAppProtocol } from '../protocol';
import { fake, resetFakeElectron } from './fake-electron';

let dir: string;
let root: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-proto-'));
  root = join(dir, 'renderer');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>Kiln</title>');
  writeFileSync(join(root, 'assets', 'app-1234.js'), 'console.log(1)');
  writeFileSync(join(root, 'assets', 'app-1234.css'), 'body{}');
  writeFileSync(join(dir, 'secret.txt'), 'outside the root');
  writeFileSync(join(dir, 'renderer-evil.txt'), 'sibling with a shared prefix');
  symlinkSync(join(dir, 'secret.txt'), join(root, 'assets', 'link.txt'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => resetFakeElectron());

const get = (url: string, method = 'GET') => createAppProtocolHandler(root)(new Request(url, { method }));

describe('app:// scheme', () => {
  it('registers app as standard, secure and fetch-capable', () => {
    registerAppScheme();
    expect(fake.privilegedSchemes).toEqual([
      expect.objectContaining({ scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true, supportFetchAPI: true }) }),
    ]);
  });

  it('serves index.html and assets with content types and the CSP header', async () => {
    serveAppProtocol(root);
    const handler = fake.protocolHandlers.get('app')!;
    const index = await handler(new Request('app://kiln/'));
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<title>Kiln</title>');
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    // The same headers as `kiln serve` (main/core/csp.ts), on files and on refusals.
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(index.headers.get(name), name).toBe(value);
    const refused = await get('app://kiln/../secret.txt');
    expect(refused.status).toBeGreaterThanOrEqual(400);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(refused.headers.get(name), name).toBe(value);
    const js = await get('app://kiln/assets/app-1234.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect((await get('app://kiln/assets/app-1234.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('serves the renderer once it is built, even after a request came before the root existed', async () => {
    const later = join(dir, 'later');
    const handler = createAppProtocolHandler(later);
    expect((await handler(new Request('app://kiln/index.html'))).status).toBe(404);
    mkdirSync(later);
    writeFileSync(join(later, 'index.html'), 'built');
    const res = await handler(new Request('app://kiln/index.html'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('built');
  });

  it('uses a strict CSP: self only, no inline script, no objects, no base', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("object-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("base-uri 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it.each([
    'app://kiln/..%2fsecret.txt',
    'app://kiln/assets/..%2f..%2fsecret.txt',
    'app://kiln/..%5csecret.txt',
    'app://kiln/%2e%2e%5c%2e%2e%5csecret.txt',
    'app://kiln/%00index.html',
    'app://kiln/C:%2fWindows%2fwin.ini',
    'app://kiln/%E0%A4%A', // malformed escape
    'app://kiln/..%2frenderer-evil.txt',
  ])('refuses %s', async (url) => {
    const res = await get(url);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('outside');
  });

  it.each(['app://kiln/assets/../../../secret.txt', 'app://kiln/%2e%2e/secret.txt', 'app://kiln/.%2E/.%2e/secret.txt'])(
    'URL parsing collapses dot segments of %s, so they stay inside the root',
    async (url) => {
      const res = await get(url);
      expect(res.status).toBe(404); // resolved to <root>/secret.txt, which does not exist
      expect(await res.text()).not.toContain('outside');
    },
  );

  it('refuses a symlink that points outside the root', async () => {
    const res = await get('app://kiln/assets/link.txt');
    expect(res.status).toBe(403);
  });

  it('answers 404 for other hosts and missing files, 405 for writes', async () => {
    expect((await get('app://other/index.html')).status).toBe(404);
    expect((await get('app://kiln/missing.js')).status).toBe(404);
    expect((await get('app://kiln/assets')).status).toBe(404);
    expect((await get('app://kiln/index.html', 'POST')).status).toBe(405);
    const head = await get('app://kiln/index.html', 'HEAD');
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('resolveAppPath maps / to index.html and refuses escapes', () => {
    expect(resolveAppPath('/r', '/')).toBe(join('/r', 'index.html'));
    expect(resolveAppPath('/r', '/a/./b.js')).toBe(join('/r', 'a', 'b.js'));
    expect(resolveAppPath('/r', '/a/../b.js')).toBeNull();
    expect(resolveAppPath('/r', '/%2e%2e/x')).toBeNull();
  });
});

// The window's CSP is defined once (main/core/csp.ts); renderer/index.html's <meta> fallback must
// say the same thing, and the header policy must be that plus the header-only directives.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, META_CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from '../csp';

const INDEX_HTML = resolve(__dirname, '../../../renderer/index.html');

/** Every `<meta http-equiv="Content-Security-Policy" content="…">` in the page, attribute order free. */
function metaPolicies(html: string): string[] {
  const out: string[] = [];
  for (const tag of html.match(/<meta\b[^>]*>/gis) ?? []) {
    const attr = (name: string) => new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'is').exec(tag)?.[1];
    if (attr('http-equiv')?.toLowerCase() === 'content-security-policy') out.push(attr('content') ?? '');
  }
  return out;
}

const directives = (policy: string) => policy.split(';').map((d) => d.trim()).filter(Boolean);

describe('content security policy', () => {
  it('renderer/index.html carries exactly the shared <meta> policy, once', () => {
    const metas = metaPolicies(readFileSync(INDEX_HTML, 'utf8'));
    expect(metas).toEqual([META_CONTENT_SECURITY_POLICY]);
  });

  it('the header policy is the <meta> policy plus the header-only directives', () => {
    expect(CONTENT_SECURITY_POLICY.startsWith(META_CONTENT_SECURITY_POLICY + '; ')).toBe(true);
    const extra = directives(CONTENT_SECURITY_POLICY).slice(directives(META_CONTENT_SECURITY_POLICY).length);
    expect(extra).toEqual(["frame-ancestors 'none'", "form-action 'none'"]);
    // A <meta> policy cannot carry these (browsers ignore them there and warn).
    expect(META_CONTENT_SECURITY_POLICY).not.toMatch(/frame-ancestors|form-action|report-uri|sandbox/);
  });

  it('is strict: self only, no inline or eval, no objects, no base, no wildcards', () => {
    const d = directives(CONTENT_SECURITY_POLICY);
    expect(d).toEqual(expect.arrayContaining(["default-src 'self'", "script-src 'self'", "connect-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'"]));
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(new Set(d.map((x) => x.split(' ')[0])).size).toBe(d.length);
  });

  it('the security headers carry the header policy and cannot be changed at run time', () => {
    expect(SECURITY_HEADERS['Content-Security-Policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(SECURITY_HEADERS).toMatchObject({ 'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer' });
    expect(Object.isFrozen(SECURITY_HEADERS)).toBe(true);
  });
});

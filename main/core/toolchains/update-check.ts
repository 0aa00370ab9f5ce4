// "Is there a newer ESPHome?" from PyPI's JSON API (or a mirror's). Offline, a proxy error or a
// malformed answer is "could not check" with the reason — never an error the user must handle.
import { compareVersions, isEsphomeVersion } from './version';

export const PYPI_JSON_URL = 'https://pypi.org/pypi/esphome/json';

export type UpdateCheck =
  | { status: 'ok'; latest: string; current: string | null; newer: boolean; checkedAt: string }
  | { status: 'unknown'; reason: string; current: string | null; checkedAt: string };

export async function checkForUpdate(current: string | null, opts: { url?: string; timeoutMs?: number; fetchImpl?: typeof fetch } = {}): Promise<UpdateCheck> {
  const checkedAt = new Date().toISOString();
  const unknown = (reason: string): UpdateCheck => ({ status: 'unknown', reason: `could not check: ${reason}`, current, checkedAt });
  let body: unknown;
  try {
    const res = await (opts.fetchImpl ?? fetch)(opts.url ?? PYPI_JSON_URL, { signal: AbortSignal.timeout(opts.timeoutMs ?? 8000), headers: { accept: 'application/json' } });
    if (!res.ok) return unknown(`the package index answered HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > 8 * 1024 * 1024) return unknown('the answer is too large');
    body = JSON.parse(text);
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return unknown(e.name === 'TimeoutError' ? 'the package index did not answer in time' : e.cause?.code ? `${e.cause.code} (offline?)` : e.message);
  }
  const latest = (body as { info?: { version?: unknown } } | null)?.info?.version;
  if (!isEsphomeVersion(latest)) return unknown('the package index gave no usable version');
  return { status: 'ok', latest, current, newer: current === null || !isEsphomeVersion(current) ? true : compareVersions(latest, current) > 0, checkedAt };
}

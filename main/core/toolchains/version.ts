// ESPHome version strings that may reach a `pip install esphome==<v>` argument or a folder name.
// An allowlist, not a sanitiser: exactly the shapes PyPI publishes for esphome (final releases and
// a/b/rc pre-releases, upstream's `is_pinnable_version`), so `1.0; rm -rf /`, `../x`, `` or
// `>=1` can never become an argument or a path.
export const MAX_VERSION_LENGTH = 32;
const PINNABLE_RE = /^(\d{1,6}(?:\.\d{1,6}){0,3})(?:(a|b|rc)(\d{1,4}))?$/;

export class ToolchainError extends Error {
  constructor(
    message: string,
    /** 'invalid_version' | 'no_python' | 'python_too_old' | 'install_failed' | 'cancelled' | 'not_installed' | 'in_use' | 'disk_full' */
    readonly code: ToolchainErrorCode,
  ) {
    super(message);
    this.name = 'ToolchainError';
  }
}
export type ToolchainErrorCode = 'invalid_version' | 'no_python' | 'python_too_old' | 'install_failed' | 'cancelled' | 'not_installed' | 'in_use' | 'disk_full';

export function isEsphomeVersion(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_VERSION_LENGTH && PINNABLE_RE.test(v);
}

/** Throws a plain-words error for anything that is not an installable ESPHome release. */
export function checkVersion(v: unknown): string {
  if (isEsphomeVersion(v)) return v;
  const shown = typeof v === 'string' ? (v === '' ? '(empty)' : JSON.stringify(v.slice(0, 64))) : String(typeof v);
  throw new ToolchainError(`${shown} is not an ESPHome release version (expected e.g. 2026.10.0 or 2026.11.0b2)`, 'invalid_version');
}

const PRE_ORDER: Record<string, number> = { a: 0, b: 1, rc: 2 };

/** Sort key comparison: trailing .0 parts ignored, a pre-release before its final. */
export function compareVersions(a: string, b: string): number {
  const ka = key(a);
  const kb = key(b);
  const n = Math.max(ka.parts.length, kb.parts.length);
  for (let i = 0; i < n; i++) {
    const d = (ka.parts[i] ?? 0) - (kb.parts[i] ?? 0);
    if (d !== 0) return d;
  }
  return ka.pre[0] - kb.pre[0] || ka.pre[1] - kb.pre[1] || ka.pre[2] - kb.pre[2];
}

function key(v: string): { parts: number[]; pre: [number, number, number] } {
  const m = PINNABLE_RE.exec(v);
  if (m?.[1] === undefined) throw new ToolchainError(`not a version: ${v}`, 'invalid_version');
  const parts = m[1].split('.').map(Number);
  const pre = m[2] === undefined ? undefined : PRE_ORDER[m[2]]; // the regex admits only a, b, rc
  return { parts, pre: pre !== undefined ? [0, pre, Number(m[3])] : [1, 0, 0] };
}

/** "3.12.1" → [3, 12, 1]; null when it is not a dotted number. */
export function parsePythonVersion(v: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/**
 * The oldest Python an ESPHome release installs on, when PyPI cannot be asked: 2026.x declares
 * Requires-Python >= 3.12 (pip on 3.11 refuses it); older releases ran on 3.11.
 */
export function minPythonFor(esphomeVersion: string | null): [number, number] {
  if (esphomeVersion === null) return [3, 12];
  const year = Number(esphomeVersion.split('.')[0]);
  return year >= 2026 ? [3, 12] : [3, 11];
}

/** ">=3.12" / ">=3.11,<3.14" → the lower bound, or null. */
export function minFromRequiresPython(spec: string | null | undefined): [number, number] | null {
  if (!spec) return null;
  const m = />=\s*(\d+)\.(\d+)/.exec(spec);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * The one wait-until helper for tests: polls `fn` until it returns a value that is not
 * `undefined`, `null` or `false`, and returns that value. A condition that throws counts as
 * "not met yet" (the thing it reads may not exist yet); the last error is reported on timeout.
 *
 * One default deadline for the whole suite (10 s, or KILN_TEST_WAIT_MS) so a loaded CI machine
 * does not need per-file tuning; pass `timeoutMs` only when the test is about a time bound.
 */
export const DEFAULT_WAIT_MS = Number(process.env.KILN_TEST_WAIT_MS ?? 10_000);

export interface WaitOptions {
  timeoutMs?: number;
  /** poll interval, default 10 ms */
  stepMs?: number;
  /** what is being waited for, in the timeout message */
  what?: string | (() => string);
}

export async function waitUntil<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: WaitOptions | number = {},
): Promise<T> {
  const o: WaitOptions = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const timeoutMs = o.timeoutMs ?? DEFAULT_WAIT_MS;
  const step = o.stepMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const what = typeof o.what === 'function' ? o.what() : (o.what ?? 'condition');
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, step));
  }
}

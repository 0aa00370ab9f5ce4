// Waiting on work that is not ours to stop: the wait ends when `signal` aborts (rejecting with the
// caller's own error), the work itself goes on. Used where a run waits for something shared (a
// toolchain install, a bundle made by the dispatch pool).

/** `p`, or `reason()` as soon as `signal` aborts (at once when it already has). */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, reason: () => Error): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(reason());
    const onAbort = (): void => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

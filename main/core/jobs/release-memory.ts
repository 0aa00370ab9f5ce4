// Starting with an oversized job store (issue 18 §3): reading, parsing and pruning a history of
// thousands of jobs leaves V8's heap grown by tens of MB after the pruned jobs are garbage;
// V8 only shrinks it after a full collection, which an idle server may not run for a long
// time. One explicit full GC right after the prune gives that memory back (measured: bench
// `fleet`, RSS after start). `--expose-gc` is switched on at runtime for this one call.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | null | undefined;

/** Runs a full garbage collection; false when this runtime does not allow it. */
export function collectGarbageNow(): boolean {
  if (gcFn === undefined) {
    try {
      const g = (globalThis as { gc?: () => void }).gc;
      if (typeof g === 'function') gcFn = g;
      else {
        setFlagsFromString('--expose-gc');
        gcFn = runInNewContext('gc') as () => void;
      }
    } catch {
      gcFn = null;
    }
  }
  if (!gcFn) return false;
  gcFn();
  return true;
}

// Giving memory back after a burst of garbage (issue 18): an oversized job store read, parsed and
// pruned at start (bench `fleet`), a build server's log flood (bench `logs`). V8 shrinks its heap
// only in a memory-reducing full collection, which an idle process may never run: nothing it does
// allocates enough to trigger one. A plain full GC (`gc()` under --expose-gc) is not enough —
// measured on a `kiln receiver` after a 1M-line flood: heapTotal 51 → 49 MB, RSS unchanged, the
// young generation's semi-spaces (32 MB) kept. V8's memory-reducing collection (what DevTools'
// "collect garbage" runs: HeapProfiler.collectGarbage, reachable in-process through
// node:inspector's Session — no port is opened) also shrinks the young generation and unmaps the
// freed pages: heapTotal 55 → 15 MB, RSS −46 MB, in one call of 20–90 ms.
import { Session } from 'node:inspector';

/**
 * One memory-reducing full collection. Rejects where the runtime has no inspector (node built
 * without it): then memory is left to V8's own schedule.
 */
export function reduceMemory(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let session: Session;
    try {
      session = new Session();
      session.connect();
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    session.post('HeapProfiler.collectGarbage', (err) => {
      // Disconnecting inside the session's own callback never returns (node 20): leave it first.
      setImmediate(() => {
        session.disconnect();
        if (err) reject(err);
        else resolve();
      });
    });
  });
}

// How many `esphome bundle` processes run at once in this process, and in which order (issue 18 §2).
// A bundle is a CPU-bound process start (Python for the real CLI, ~0.2 s of node for the
// simulator), so running more of them than there are cores only makes every one of them later:
// a pool of 4 idle build servers bundling 4 jobs (plus 2 bundled ahead) all at once started its
// first builds after ~0.9 s, against ~0.25 / 0.5 s when two run at a time (measured with the P6
// benchmark, docs/notes/performance.md). A bundle a job bound to a server waits for ("now") goes
// before one made ahead for a job that is still waiting; a bundle made ahead that a bound job then
// waits for is raised to "now" (`promote`).
import { availableParallelism } from 'node:os';
import PQueue from 'p-queue';

export type BundlePriority = 'now' | 'ahead';

const PRIORITY: Record<BundlePriority, number> = { now: 1, ahead: 0 };

/** Two on this 2-core class of machine; never more than 4, since each bundle also reads and hashes files. */
export const BUNDLE_CONCURRENCY = Math.max(1, Math.min(4, availableParallelism()));

export class BundleSlots {
  private readonly queue: PQueue;
  private seq = 0;

  constructor(concurrency = BUNDLE_CONCURRENCY) {
    this.queue = new PQueue({ concurrency });
  }

  /**
   * Runs `work` when a slot is free, "now" before "ahead" (first come first served within one).
   * A signal aborted while it still waits removes it from the queue (it rejects with the signal's
   * reason); once started, `work` handles the signal itself.
   */
  run<T>(work: () => Promise<T>, priority: BundlePriority, signal?: AbortSignal): { done: Promise<T>; promote: () => void } {
    const id = String(++this.seq);
    let started = false;
    const done = this.queue.add(
      () => {
        started = true;
        return work();
      },
      { priority: PRIORITY[priority], id, signal },
    );
    const promote = (): void => {
      if (started || signal?.aborted) return;
      try {
        this.queue.setPriority(id, PRIORITY.now);
      } catch {
        // Started or removed between the check and the call: nothing left to raise.
      }
    };
    return { done, promote };
  }

  /** Bundles running now. */
  get running(): number {
    return this.queue.pending;
  }

  /** Bundles waiting for a slot. */
  get waiting(): number {
    return this.queue.size;
  }
}

// Give a build server's memory back once its builds are over (issue 18 §1, docs/notes/performance.md P4).
// Measured on a `kiln receiver` after a 1M-line flood: the JavaScript heap held 15–19 MB of live
// objects (no more than before the job), yet RSS stayed 50–110 MB above its baseline for as long
// as it idled — V8's young generation stays grown (32 MB of semi-spaces), the garbage promoted
// during the flood sits in old space, and 25–55 MB of dead Buffers' backing stores
// (`arrayBuffers`) wait for a full collection that never comes, because an idle process allocates
// nothing that would trigger one. One memory-reducing collection (jobs/release-memory.ts) once the
// server has gone quiet gives that back — heapTotal to ~15 MB. glibc's main heap, which holds the
// flood's Buffers, is not returned by this; since `kiln receiver` writes its console echo in
// chunks (cli/console-lines.ts) it ends a few MB over its baseline (performance.md "Memory after bursts").
import type { EventBus } from '../events';

/** Quiet time (no job output, no running build) before the collection. */
export const IDLE_COLLECT_DELAY_MS = 2_000;

export type GcFn = () => Promise<void>;

export interface IdleCollectorOptions {
  bus: EventBus;
  /** A build runs or its output is still being sent: the collection waits (checked every delayMs). */
  busy(): boolean;
  /** The collection (jobs/release-memory.ts reduceMemory); null: never collect. */
  gc: GcFn | null;
  delayMs?: number;
  /** Told what one collection released (memoryUsage before → after), for diagnostics. */
  onCollected?(before: NodeJS.MemoryUsage, after: NodeJS.MemoryUsage): void;
}

/**
 * Runs one full collection `delayMs` after the last build ended and its output stopped (and once
 * nothing is busy: no build running, no output left to send); any new output or start pushes it back. At most one collection per quiet period: an idle server does not
 * collect again until a build has run.
 */
export class IdleCollector {
  private timer: NodeJS.Timeout | null = null;
  private dirty = false;
  private readonly offs: Array<() => void>;
  collections = 0;

  constructor(private readonly opts: IdleCollectorOptions) {
    const activity = (): void => this.touch();
    const ended = (): void => {
      this.dirty = true;
      this.arm();
    };
    const b = opts.bus;
    this.offs = [b.on('job_started', activity), b.on('job_output', activity), b.on('job_completed', ended), b.on('job_failed', ended), b.on('job_cancelled', ended)];
  }

  stop(): void {
    for (const off of this.offs) off();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private touch(): void {
    this.dirty = true;
    if (this.timer) this.arm(); // output after the end (or a new start) pushes the collection back
  }

  private arm(): void {
    if (!this.opts.gc) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), this.opts.delayMs ?? IDLE_COLLECT_DELAY_MS);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const gc = this.opts.gc;
    if (!this.dirty || !gc) return;
    if (this.opts.busy()) {
      this.arm(); // still building or sending: look again later
      return;
    }
    this.dirty = false;
    const before = process.memoryUsage();
    gc().then(
      () => {
        this.collections++;
        this.opts.onCollected?.(before, process.memoryUsage());
      },
      () => undefined, // no inspector in this runtime: memory is left to V8's own schedule
    );
  }
}

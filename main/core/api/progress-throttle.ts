// Spaces jobProgress events per job: a build can report progress hundreds of times a second, a
// window needs at most ~10 updates a second. The first value goes out at once, later ones at most
// every `intervalMs` (the latest value wins), and a pending value is flushed before the job's next
// lifecycle event so a window never sees progress after the job moved on.

interface Pending {
  value: number;
  timer: ReturnType<typeof setTimeout> | null;
  last: number;
}

export class ProgressThrottle {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly emit: (jobId: string, progress: number) => void,
    private readonly intervalMs = 100,
  ) {}

  queue(jobId: string, progress: number): void {
    const now = Date.now();
    const p = this.pending.get(jobId);
    if (!p) {
      this.pending.set(jobId, { value: progress, timer: null, last: now });
      this.emit(jobId, progress);
      return;
    }
    p.value = progress;
    if (p.timer) return;
    const wait = Math.max(0, p.last + this.intervalMs - now);
    if (wait === 0) {
      p.last = now;
      this.emit(jobId, progress);
      return;
    }
    p.timer = setTimeout(() => {
      p.timer = null;
      p.last = Date.now();
      this.emit(jobId, p.value);
    }, wait);
  }

  /** Sends a value still waiting for its slot now. */
  flush(jobId: string): void {
    const p = this.pending.get(jobId);
    if (p?.timer) {
      clearTimeout(p.timer);
      p.timer = null;
      p.last = Date.now();
      this.emit(jobId, p.value);
    }
  }

  /** The job ended: its last value goes out, then it is forgotten. */
  drop(jobId: string): void {
    this.flush(jobId);
    this.pending.delete(jobId);
  }

  dispose(): void {
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
    this.pending.clear();
  }
}

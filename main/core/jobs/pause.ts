// Queue pause/resume: while paused no queued job starts on any lane and the dispatch pool is not
// woken; a pool dispatch that still arrives is bound but held until resume. Running jobs go on;
// enqueue and cancel work as usual. Persisted (jobs.json `"paused"`), so a restart stays paused.
import { ApiError } from '../errors';
import type { EngineContext } from './engine-context';
import type { FirmwareJob } from './model';
import type { RunLifecycle } from './run-lifecycle';

export class PauseControl {
  /** pause()/resume() before start() win over the persisted flag. */
  private override: boolean | null = null;

  constructor(
    private readonly ctx: EngineContext,
    private readonly runs: RunLifecycle,
  ) {}

  /** At start: the flag from jobs.json, unless pause()/resume() came first. */
  restore(persisted: boolean): void {
    const paused = this.override ?? persisted;
    if (paused === this.ctx.paused) return;
    this.ctx.paused = paused;
    this.ctx.bus.emit('queue_paused_changed', { paused });
  }

  set(paused: boolean): void {
    const { ctx } = this;
    if (ctx.state === 'stopping' || ctx.state === 'stopped') throw new ApiError('unavailable', `job engine is ${ctx.state}`);
    if (ctx.state !== 'started') this.override = paused;
    if (paused === ctx.paused) return;
    ctx.paused = paused;
    ctx.bus.emit('queue_paused_changed', { paused });
    if (ctx.state !== 'started') return;
    void ctx.persist();
    if (paused) return;
    for (const [id, held] of [...ctx.heldDispatches]) {
      ctx.heldDispatches.delete(id);
      held.release(held.job.status === 'queued' ? this.runs.execute(held.job, null) : Promise.resolve());
    }
    ctx.schedulePump();
    ctx.wakePool();
  }

  /** A pool dispatch while paused: resolves when the job has run after resume (or was cancelled, or the engine stopped). */
  hold(job: FirmwareJob): Promise<void> {
    return new Promise<void>((resolve) => {
      this.ctx.heldDispatches.set(job.job_id, { job, release: (run) => void run.then(resolve, resolve) });
    });
  }

  /** Engine stop: held dispatches stay queued (on disk too) and go back to the pool at the next start. */
  releaseAll(): void {
    for (const held of [...this.ctx.heldDispatches.values()]) held.release(Promise.resolve());
    this.ctx.heldDispatches.clear();
  }
}

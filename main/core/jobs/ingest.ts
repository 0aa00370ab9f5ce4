// The shared per-chunk ingest (upstream `_ingest_output_line`, firmware-jobs.md §8): used for local
// process output and for output a remote runner relays, so both get the same buffering, events,
// phase stamps and progress.
import type { EventBus } from '../events';
import type { ErrorScrape } from './error-scrape';
import { nowIso, type FirmwareJob } from './model';
import { appendChunk, trimInflight } from './output';
import { compilePhaseMarker, parseProgress } from './progress';

/**
 * append (CR collapse) → in-flight trim → `job_output` (every chunk) → compile-phase stamp →
 * progress (published only when it rises). `scrape` sees the chunk before any trim.
 */
export function ingestChunk(job: FirmwareJob, bus: EventBus, chunk: string, scrape?: ErrorScrape): void {
  scrape?.feed(chunk);
  appendChunk(job.output, chunk);
  trimInflight(job);
  bus.emit('job_output', { job_id: job.job_id, line: chunk });
  if (job.compile_ended_at === null) {
    const marker = compilePhaseMarker(chunk, job.compile_started_at !== null);
    if (marker === 'start') job.compile_started_at = nowIso();
    else if (marker === 'end') job.compile_ended_at = nowIso();
  }
  const reading = parseProgress(chunk, job.ninja_total);
  if (reading) {
    job.ninja_total = reading.ninjaTotal;
    if (job.progress === null || reading.progress > job.progress) {
      job.progress = reading.progress;
      bus.emit('job_progress', { job_id: job.job_id, progress: reading.progress });
    }
  }
}

/** Explicit phase reset (remote install seam, re-route): 0 and an event, bypassing the clamp. */
export function resetProgress(job: FirmwareJob, bus: EventBus): void {
  job.progress = 0;
  job.ninja_total = 0;
  bus.emit('job_progress', { job_id: job.job_id, progress: 0 });
}

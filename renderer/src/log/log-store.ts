// Registry of job logs: LogBuffers live outside React; a zustand store only carries a version
// number per job, bumped at most once per animation frame however many batches arrived, so a
// 5k lines/s stream costs one render per frame (electron.md §4.4 item 5).
import { create } from 'zustand';
import { LogBuffer } from './log-buffer';

interface LogVersions {
  versions: Record<string, number>;
}

export const useLogVersion = create<LogVersions>(() => ({ versions: {} }));

const buffers = new Map<string, LogBuffer>();
const dirty = new Set<string>();
let frame: number | null = null;

const schedule: (fn: () => void) => number =
  typeof requestAnimationFrame === 'function' ? (fn) => requestAnimationFrame(fn) : (fn) => setTimeout(fn, 16) as unknown as number;

export function logBuffer(jobId: string): LogBuffer {
  let b = buffers.get(jobId);
  if (!b) buffers.set(jobId, (b = new LogBuffer()));
  return b;
}

/**
 * Forgets a job's log: its buffer (all its lines), a pending repaint and its version entry, so a
 * closed log's memory can be collected. Opening it again fetches it from the backend.
 */
export function dropLog(jobId: string): void {
  buffers.delete(jobId);
  dirty.delete(jobId);
  if (jobId in useLogVersion.getState().versions) {
    useLogVersion.setState((s) => {
      const versions = { ...s.versions };
      delete versions[jobId];
      return { versions };
    });
  }
}

/** How many job logs are held (diagnostics and the renderer memory benchmark). */
export function heldLogCount(): number {
  return buffers.size;
}

/** Marks a job's log changed; the version bump happens on the next frame. */
export function touchLog(jobId: string): void {
  dirty.add(jobId);
  if (frame !== null) return;
  frame = schedule(() => {
    frame = null;
    const ids = [...dirty];
    dirty.clear();
    useLogVersion.setState((s) => {
      const versions = { ...s.versions };
      for (const id of ids) versions[id] = (versions[id] ?? 0) + 1;
      return { versions };
    });
  });
}

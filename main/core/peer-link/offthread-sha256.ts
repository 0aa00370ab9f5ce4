// SHA-256 of a large payload computed on a worker thread while the payload is being written,
// for the chunk assembler (transfer.ts). Why (measured, docs/notes/performance.md): on the
// receiving side the hash ran on the thread that also decrypts and decodes every chunk; moving it
// to a worker raised the 64 MiB bundle upload to a real build server from ~68 to ~105–140 MB/s
// on the 2-core CI machine. The payload lives in a SharedArrayBuffer: the owner writes bytes in
// order and publishes how many are written; the worker (sha256-worker.cjs, a plain module file)
// hashes up to there and waits for more. The worker is only an accelerator: when none is free,
// the file is missing, or it gave up or does not answer, the owner hashes the same bytes itself
// (`digestHex` returns undefined), so the result never depends on it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Control words (Int32) ahead of the digest bytes in the control SharedArrayBuffer (see the worker). */
const AVAIL = 0; // bytes written by the owner; -1 = abandoned
const STATE = 1; // RUNNING, DONE (digest written), GAVE_UP
const RUNNING = 0;
const DONE = 1;
const DIGEST_OFFSET = 16;
const CONTROL_BYTES = DIGEST_OFFSET + 32;

/** Next to this module in the sources, next to the bundle in builds (both copy it there). */
const WORKER_FILE = new URL('./sha256-worker.cjs', import.meta.url);
/** Checked once: a build without the file hashes on the owner's thread instead of waiting on a dead worker. */
let workerFileExists: boolean | undefined;

export interface OffThreadHashOptions {
  /** The worker gives up after this long without new bytes (a stalled or dropped transfer). */
  idleMs?: number;
}

/** Most workers alive at once; a transfer finding all busy hashes on its own thread. */
const MAX_WORKERS = 2;
const DEFAULT_IDLE_MS = 60_000;
/** The worker is woken at most once per this many new bytes (and at the end). */
const NOTIFY_STEP = 256 * 1024;

interface PooledWorker {
  worker: Worker;
  busy: boolean;
}

const pool: PooledWorker[] = [];

function acquire(): PooledWorker | undefined {
  const idle = pool.find((w) => !w.busy);
  if (idle) return idle;
  if (pool.length >= MAX_WORKERS) return undefined;
  workerFileExists ??= WORKER_FILE.protocol === 'file:' && existsSync(fileURLToPath(WORKER_FILE));
  if (!workerFileExists) return undefined;
  let worker: Worker;
  try {
    worker = new Worker(WORKER_FILE, { execArgv: [], stdout: false, stderr: false });
  } catch {
    return undefined;
  }
  const entry: PooledWorker = { worker, busy: false };
  // A dead worker leaves the pool (its job falls back to hashing on the owner's thread).
  worker.on('message', () => {
    entry.busy = false;
  });
  const drop = (): void => {
    const i = pool.indexOf(entry);
    if (i >= 0) pool.splice(i, 1);
  };
  worker.on('error', drop);
  worker.on('exit', drop);
  // A worker never keeps the process alive (after the listeners: adding one refs it again).
  worker.unref();
  pool.push(entry);
  return entry;
}

// An owner dropped without finishing (a transfer abandoned mid-way) releases its worker.
const abandonOnGc = new FinalizationRegistry<Int32Array>((ctrl) => {
  Atomics.store(ctrl, AVAIL, -1);
  Atomics.notify(ctrl, AVAIL);
});

export class OffThreadSha256 {
  /** The payload (SharedArrayBuffer-backed, `total` bytes), written only through `append`. */
  readonly buffer: Buffer;
  private readonly ctrl: Int32Array;
  private readonly digestBytes: Uint8Array;
  private filled = 0;
  private notified = 0;
  private finished = false;

  /** A hasher with a worker, or undefined when none is available (hash on this thread then). */
  static start(total: number, opts: OffThreadHashOptions = {}): OffThreadSha256 | undefined {
    if (!(total > 0) || total > 0x7fffffff || typeof SharedArrayBuffer !== 'function') return undefined;
    const entry = acquire();
    if (!entry) return undefined;
    const hasher = new OffThreadSha256(total);
    entry.busy = true;
    try {
      entry.worker.postMessage({ data: hasher.buffer.buffer, control: hasher.ctrl.buffer, total, idleMs: opts.idleMs ?? DEFAULT_IDLE_MS });
    } catch {
      entry.busy = false;
      return undefined;
    }
    return hasher;
  }

  private constructor(total: number) {
    this.buffer = Buffer.from(new SharedArrayBuffer(total));
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    this.ctrl = new Int32Array(control, 0, 2);
    this.digestBytes = new Uint8Array(control, DIGEST_OFFSET, 32);
    abandonOnGc.register(this, this.ctrl, this);
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.filled;
  }

  /** Copies `bytes` after the bytes appended so far (they must fit) and lets the worker hash them. */
  append(bytes: Uint8Array): void {
    const end = this.filled + bytes.length;
    if (end > this.buffer.length) throw new RangeError(`append of ${bytes.length} bytes overflows the ${this.buffer.length}-byte payload`);
    this.buffer.set(bytes, this.filled);
    this.filled = end;
    this.written(end);
  }

  /** The first `bytes` bytes of `buffer` are final: the worker may hash up to there. */
  private written(bytes: number): void {
    if (this.finished) return;
    Atomics.store(this.ctrl, AVAIL, bytes);
    if (bytes - this.notified >= NOTIFY_STEP || bytes === this.buffer.length) {
      this.notified = bytes;
      Atomics.notify(this.ctrl, AVAIL);
    }
  }

  /**
   * The digest of all `buffer` bytes, waiting (blocking, at most `timeoutMs`) for the worker to
   * catch up; undefined when it gave up, was abandoned or did not answer in time.
   */
  digestHex(timeoutMs = 5_000): string | undefined {
    if (this.finished) return undefined;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = Atomics.load(this.ctrl, STATE);
      if (state === DONE) {
        this.release();
        return Buffer.from(this.digestBytes).toString('hex');
      }
      if (state !== RUNNING) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(this.ctrl, STATE, RUNNING, left);
    }
    this.abandon();
    return undefined;
  }

  /** Stops the worker's part (the transfer failed or is hashed elsewhere). Idempotent. */
  abandon(): void {
    if (this.finished) return;
    Atomics.store(this.ctrl, AVAIL, -1);
    Atomics.notify(this.ctrl, AVAIL);
    this.release();
  }

  private release(): void {
    this.finished = true;
    abandonOnGc.unregister(this);
  }
}

/** Diagnostics for tests: workers alive and how many are hashing. */
export function offThreadHashWorkers(): { alive: number; busy: number } {
  return { alive: pool.length, busy: pool.filter((w) => w.busy).length };
}

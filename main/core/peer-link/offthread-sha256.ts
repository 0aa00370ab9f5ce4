// SHA-256 of a large payload computed on a worker thread while the payload is being written,
// for the chunk assembler (transfer.ts). Why: hashing 64 MiB costs ~40 ms, and on the receiving
// side of a transfer it ran on the thread that also decrypts and decodes every chunk, which is
// the bottleneck of the whole transfer; the sending side of a transfer leaves a core partly
// idle. The payload lives in a SharedArrayBuffer: the owner writes bytes in order and publishes
// how many are written; the worker hashes up to there and waits for more. The worker is only an
// accelerator: when none is free, or it gave up, or it does not answer, the owner hashes the
// same bytes itself (`digestHex` returns undefined), so the result never depends on it.
import { Worker } from 'node:worker_threads';

/** Control words (Int32) ahead of the digest bytes in the control SharedArrayBuffer. */
const AVAIL = 0; // bytes written by the owner; -1 = abandoned
const STATE = 1; // RUNNING, DONE (digest written), GAVE_UP
const RUNNING = 0;
const DONE = 1;
const GAVE_UP = 2;
const DIGEST_OFFSET = 16;
const REGIONS_OFFSET = DIGEST_OFFSET + 32;
/**
 * The worker also touches the payload's pages ahead of the owner (a fresh 64 MiB buffer costs
 * ~30 ms of page faults on first write), one region at a time. A region belongs to whoever
 * claims it first: the worker (TOUCHING, then TOUCHED) or the owner (OWNER), so the worker never
 * writes where the owner has written or is writing.
 */
const REGION_BYTES = 1024 * 1024;
const FREE = 0;
const TOUCHING = 1;
const TOUCHED = 2;
const OWNER = 3;
const PAGE_BYTES = 4096;

/** Plain CommonJS for an eval worker: no loader hooks (tsx) needed or wanted in the thread. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ data, control, total, idleMs }) => {
  const ctrl = new Int32Array(control, 0, 2);
  const bytes = Buffer.from(data, 0, total);
  const regions = new Int32Array(control, ${REGIONS_OFFSET});
  for (let r = 0; r < regions.length && Atomics.load(ctrl, ${AVAIL}) >= 0; r++) {
    if (Atomics.compareExchange(regions, r, ${FREE}, ${TOUCHING}) !== ${FREE}) continue;
    const end = Math.min(total, (r + 1) * ${REGION_BYTES});
    for (let p = r * ${REGION_BYTES}; p < end; p += ${PAGE_BYTES}) bytes[p] = 0;
    Atomics.store(regions, r, ${TOUCHED});
    Atomics.notify(regions, r);
  }
  const hash = createHash('sha256');
  let pos = 0;
  let state = ${GAVE_UP};
  for (;;) {
    const avail = Atomics.load(ctrl, ${AVAIL});
    if (avail < 0) break;
    if (avail > pos) {
      hash.update(bytes.subarray(pos, avail));
      pos = avail;
      if (pos >= total) {
        hash.digest().copy(Buffer.from(control, ${DIGEST_OFFSET}, 32));
        state = ${DONE};
        break;
      }
      continue;
    }
    if (Atomics.wait(ctrl, ${AVAIL}, avail, idleMs) === 'timed-out' && Atomics.load(ctrl, ${AVAIL}) === avail) break;
  }
  Atomics.store(ctrl, ${STATE}, state);
  Atomics.notify(ctrl, ${STATE});
  parentPort.postMessage(state);
});
`;

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
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], stdout: false, stderr: false });
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
  private readonly regions: Int32Array;
  /** Bytes below this are in regions the owner may write (claimed or touched by the worker). */
  private claimedUpTo = 0;
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
    const regionCount = Math.ceil(total / REGION_BYTES);
    const control = new SharedArrayBuffer(REGIONS_OFFSET + 4 * regionCount);
    this.ctrl = new Int32Array(control, 0, 2);
    this.digestBytes = new Uint8Array(control, DIGEST_OFFSET, 32);
    this.regions = new Int32Array(control, REGIONS_OFFSET, regionCount);
    abandonOnGc.register(this, this.ctrl, this);
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.filled;
  }

  /**
   * Copies `bytes` after the bytes appended so far (they must fit) and lets the worker hash them.
   * The only way to write the payload: the worker may be touching pages ahead of this point.
   */
  append(bytes: Uint8Array): void {
    const end = this.filled + bytes.length;
    if (end > this.buffer.length) throw new RangeError(`append of ${bytes.length} bytes overflows the ${this.buffer.length}-byte payload`);
    this.claim(end);
    this.buffer.set(bytes, this.filled);
    this.filled = end;
    this.written(end);
  }

  /**
   * Takes the regions below `end` from the worker's page touching (waiting for a region it is
   * touching right now, well under a millisecond).
   */
  private claim(end: number): void {
    while (this.claimedUpTo < end && this.claimedUpTo < this.buffer.length) {
      const r = this.claimedUpTo / REGION_BYTES;
      while (Atomics.compareExchange(this.regions, r, FREE, OWNER) === TOUCHING) Atomics.wait(this.regions, r, TOUCHING, 100);
      this.claimedUpTo += REGION_BYTES;
    }
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

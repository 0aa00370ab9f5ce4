// The job store's append-only journal (jobs.journal, JSON lines, 0600) next to the jobs.json
// snapshot: each save appends only the jobs that changed since the last one, so persisting an
// enqueue costs one small write + fdatasync whatever the history size. Records are whole job
// states (idempotent): replaying the journal over a snapshot that already contains them (a crash
// between compaction's rename and truncate) gives the same state.
//
// fsync policy: every append is followed by fdatasync before save() resolves, so an acknowledged
// change survives a power loss; a kill -9 mid-append loses at most that record, whose torn line
// is ignored (with a notice) and cut off before the next append.
import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE } from '../private-fs';

export const JOURNAL_FILE = 'jobs.journal';

export type JournalRecord = { op: 'put'; job: unknown } | { op: 'del'; id: string } | { op: 'meta'; paused: boolean };

export interface ParsedJournal {
  records: JournalRecord[];
  /** Byte length of the well-formed prefix (a torn last line starts here). */
  validBytes: number;
  warnings: string[];
}

function asRecord(v: unknown): JournalRecord | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (r.op === 'put' && typeof r.job === 'object' && r.job !== null) return { op: 'put', job: r.job };
  if (r.op === 'del' && typeof r.id === 'string') return { op: 'del', id: r.id };
  if (r.op === 'meta' && typeof r.paused === 'boolean') return { op: 'meta', paused: r.paused };
  return null;
}

/** Parses journal text; never throws. A last line without its newline is a torn write. */
export function parseJournal(buf: Buffer, file: string): ParsedJournal {
  const records: JournalRecord[] = [];
  const warnings: string[] = [];
  let pos = 0;
  let validBytes = 0;
  let lineNo = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    lineNo++;
    if (nl === -1) {
      warnings.push(`ignored a torn last record in ${file} (line ${lineNo}, ${buf.length - pos} bytes): the process stopped while writing it`);
      break;
    }
    const line = buf.subarray(pos, nl).toString('utf8');
    pos = nl + 1;
    validBytes = pos;
    if (line.trim() === '') continue;
    let rec: JournalRecord | null = null;
    try {
      rec = asRecord(JSON.parse(line));
    } catch {
      rec = null;
    }
    if (rec) records.push(rec);
    else warnings.push(`skipped an unreadable record in ${file} (line ${lineNo})`);
  }
  return { records, validBytes, warnings };
}

/** Appends records; one writer (the data-dir lock guarantees a single process). */
export class JournalWriter {
  private fh: FileHandle | null = null;
  /** Bytes in the journal (what compaction's threshold compares). */
  size = 0;

  constructor(readonly file: string) {}

  /** Opens for appending, cutting a torn tail first (at `validBytes`). */
  async open(validBytes: number): Promise<void> {
    if (this.fh) return;
    const fh = await open(this.file, 'a+', PRIVATE_FILE_MODE);
    await fh.chmod(PRIVATE_FILE_MODE);
    const st = await fh.stat();
    if (st.size > validBytes) {
      await fh.truncate(validBytes);
      await fh.datasync();
    }
    this.size = Math.min(st.size, validBytes);
    this.fh = fh;
  }

  async append(records: readonly string[]): Promise<void> {
    if (records.length === 0) return;
    if (!this.fh) await this.open(0);
    const data = Buffer.from(records.join('\n') + '\n', 'utf8');
    await this.fh!.write(data);
    await this.fh!.datasync();
    this.size += data.length;
  }

  /** Empties the journal (after its records were compacted into the snapshot). */
  async reset(): Promise<void> {
    if (!this.fh) await this.open(0);
    await this.fh!.truncate(0);
    await this.fh!.datasync();
    this.size = 0;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}

/** One record line; `jobJson` is the job's JSON text already serialized. */
export function putLine(jobJson: string): string {
  return `{"op":"put","job":${jobJson}}`;
}
export function delLine(id: string): string {
  return JSON.stringify({ op: 'del', id });
}
export function metaLine(paused: boolean): string {
  return JSON.stringify({ op: 'meta', paused });
}

/** A job as persisted (unvalidated). */
export type PersistedJob = { job_id: string; status: string; output?: string[] } & Record<string, unknown>;
export interface PersistedState {
  version?: number;
  paused?: boolean;
  jobs: PersistedJob[];
}

/**
 * The persisted state as the next load will see it (snapshot + journal), read synchronously
 * without validation: for tests and diagnostics that look at the data dir of a running engine.
 */
export function readPersistedState(dataDir: string): PersistedState {
  let doc: PersistedState = { jobs: [] };
  try {
    doc = JSON.parse(readFileSync(join(dataDir, 'jobs.json'), 'utf8')) as typeof doc;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let buf: Buffer;
  try {
    buf = readFileSync(join(dataDir, JOURNAL_FILE));
  } catch {
    return doc;
  }
  const order = new Map(doc.jobs.map((j) => [j.job_id, j]));
  for (const rec of parseJournal(buf, JOURNAL_FILE).records) {
    if (rec.op === 'meta') doc.paused = rec.paused;
    else if (rec.op === 'del') order.delete(rec.id);
    else order.set((rec.job as PersistedJob).job_id, rec.job as PersistedJob);
  }
  return { ...doc, jobs: [...order.values()] };
}

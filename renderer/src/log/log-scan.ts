// Reading a job's log for the window (issue 16): the build phase when no percentage is known
// (PlatformIO prints "Compiling …" lines, then "Linking …"), search over every line the window
// holds, and the first error line. Works on the LogBuffer, never on rendered rows.
import type { LogBuffer } from './log-buffer';

const ANSI_RE = /(?:\x1b|\\033)\[[0-9;?]*[A-Za-z]/g;
export const plain = (s: string): string => s.replace(ANSI_RE, '').replace(/[\r\n]+$/, '');

export interface Phase {
  /** "Compiling 312 files…", "Linking…", "Reading configuration…"; '' when nothing is known. */
  text: string;
  compiled: number;
}

interface Memo {
  scanned: number;
  base: number;
  compiled: number;
  text: string;
}
const memo = new WeakMap<LogBuffer, Memo>();

function phaseOfLine(l: string, compiled: number): string | null {
  if (/^Compiling \S/.test(l)) return `Compiling ${compiled} file${compiled === 1 ? '' : 's'}…`;
  if (/^Linking \S/.test(l)) return 'Linking…';
  if (/^(Archiving|Indexing) \S/.test(l)) return `Compiling ${compiled} files… (archiving libraries)`;
  if (/^Building \S|^Generating .*\.bin|^esptool|elf2image/.test(l)) return 'Building the firmware image…';
  if (/^(Downloading|Unpacking)\b|^(Tool|Library) Manager:/.test(l)) return 'Downloading build tools…';
  if (/^INFO Reading configuration/.test(l)) return 'Reading configuration…';
  if (/^INFO Generating C\+\+ source/.test(l)) return 'Generating C++ source…';
  if (/^INFO Compiling app/.test(l)) return 'Starting the compiler…';
  if (/^Processing \S+ \(/.test(l)) return 'Preparing the build…';
  if (/^(INFO )?Uploading\b|^Writing at 0x/.test(l)) return 'Uploading…';
  return null;
}

/** The phase of a running build, scanned incrementally (only rows added since the last call). */
export function buildPhase(buf: LogBuffer): Phase {
  let m = memo.get(buf);
  const base = buf.droppedFront + buf.prepended;
  if (!m || m.base !== base || m.scanned > buf.length) {
    m = { scanned: 0, base, compiled: 0, text: '' };
    memo.set(buf, m);
  }
  // Every row but the last is final; the last may still grow (CR-collapse), so it is looked at
  // each time without being remembered.
  const done = Math.max(0, buf.length - 1);
  for (let i = m.scanned; i < done; i++) {
    const l = plain(buf.get(i));
    if (/^Compiling \S/.test(l)) m.compiled++;
    m.text = phaseOfLine(l, m.compiled) ?? m.text;
  }
  m.scanned = done;
  if (buf.length === 0) return { text: '', compiled: 0 };
  const last = plain(buf.get(buf.length - 1));
  const compiled = m.compiled + (/^Compiling \S/.test(last) ? 1 : 0);
  return { text: phaseOfLine(last, compiled) ?? m.text.replace(/^Compiling \d+ files?…/, `Compiling ${compiled} file${compiled === 1 ? '' : 's'}…`), compiled };
}

/** Row indexes (buffer rows) whose text contains `query` (case-insensitive). */
export function searchLog(buf: LogBuffer, query: string, limit = 10_000): number[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const hits: number[] = [];
  for (let i = 0; i < buf.length && hits.length < limit; i++) if (plain(buf.get(i)).toLowerCase().includes(q)) hits.push(i);
  return hits;
}

const ERROR_RE = /(^ERROR |: (fatal )?error: |^Failed config$|undefined reference to|^\*\*\* \[.+\] Error \d|^\[[\d:]+\]\[E\]|^\[E\]\[)/;

/** The first line that says what failed, or -1. */
export function firstErrorRow(buf: LogBuffer): number {
  for (let i = 0; i < buf.length; i++) if (ERROR_RE.test(plain(buf.get(i)))) return i;
  return -1;
}

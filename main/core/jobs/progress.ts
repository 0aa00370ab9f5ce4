// Progress and compile-phase parsing (firmware-jobs.md §9.1–9.3). Pure functions: the engine
// decides what to publish.

/** Real CSI sequences and their `--dashboard` literal form (`\033[…`), stripped before matching. */
const CSI_RE = /\x1b\[[0-9;?]*[A-Za-z]/g;
const LITERAL_CSI_RE = /\\033\[[0-9;?]*[A-Za-z]/g;

export function stripAnsi(line: string): string {
  return line.replace(CSI_RE, '').replace(LITERAL_CSI_RE, '');
}

/** `_PROGRESS_PATTERNS`, tried in order; the first that matches decides. */
export const PROGRESS_PATTERNS: readonly RegExp[] = [
  /^\s*\[\s*(\d{1,3})\s*%\s*\]/, // PlatformIO `[ 17%] Compiling …`
  /\(\s*(\d{1,3})\s*%\s*\)/, // esptool v4 `Writing at 0x… (45 %)`
  /Writing at\b.*?(\d{1,3})(?:\.\d+)?\s*%/, // esptool v5 `Writing at 0x… [==>  ]  84.8% …`
  /^\s*Uploading:.*?\b(\d{1,3})\s*%/, // ESPHome OTA `Uploading: [====] 100% Done...`
];

/** `_NINJA_PROGRESS_PATTERN` (trailing space included; leading real CSI tolerated). */
export const NINJA_PROGRESS_PATTERN = /^(?:\x1b\[[0-9;]*[A-Za-z])*\s*\[\s*(\d+)\s*\/\s*(\d+)\s*\] /;
export const NINJA_MIN_TOTAL = 100;

export interface ProgressReading {
  progress: number;
  /** The job's `ninja_total` after this chunk. */
  ninjaTotal: number;
}

/**
 * The progress a chunk reports, or null. `ninjaTotal` is the job's current largest ninja total:
 * a counter counts only when done ≤ total, total ≥ 100 and total ≥ the largest seen so far.
 */
export function parseProgress(line: string, ninjaTotal: number): ProgressReading | null {
  const text = stripAnsi(line);
  for (const re of PROGRESS_PATTERNS) {
    const m = re.exec(text);
    if (m?.[1] !== undefined) {
      const v = Number.parseInt(m[1], 10);
      return v >= 0 && v <= 100 ? { progress: v, ninjaTotal } : null;
    }
  }
  const n = NINJA_PROGRESS_PATTERN.exec(text);
  if (n?.[1] === undefined || n[2] === undefined) return null;
  const done = Number.parseInt(n[1], 10);
  const total = Number.parseInt(n[2], 10);
  if (done > total || total < NINJA_MIN_TOTAL || total < ninjaTotal) return null;
  return { progress: Math.floor((done * 100) / total), ninjaTotal: total };
}

const COMPILE_START_RE =
  /^\s*(?:Compiling |Archiving |Linking |Indexing |Generating |Building in |Reading CMake configuration)|^\s*\[\s*\d{1,3}\s*%\s*\]/;
const COMPILE_END_RE = /\[(?:SUCCESS|FAILED)\] Took |Successfully compiled program|ninja: build stopped/;

/** Which compile-phase stamp a chunk sets, given whether the start is already stamped. */
export function compilePhaseMarker(line: string, started: boolean): 'start' | 'end' | null {
  const text = stripAnsi(line);
  if (!started) return COMPILE_START_RE.test(text) || NINJA_PROGRESS_PATTERN.test(text) ? 'start' : null;
  return COMPILE_END_RE.test(text) ? 'end' : null;
}

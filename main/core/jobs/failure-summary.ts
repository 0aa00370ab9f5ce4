// What failed, in one line (issue 16 "Say what failed"): the first decisive error line of a job's
// log — esphome's `Failed config` block (with file and line), the invalid-YAML error (with line
// and column), the compiler's `error:`, the linker's undefined reference, an upload `ERROR` — and
// the kind of failure, so the window can give advice that fits (fix the YAML, fix the code, check
// the device's connection, the build server was lost). Shapes: esphome-cli.md §2.3, §5.
//
// Fed chunk by chunk (lines may be split across chunks); nothing here looks at more than one line
// at a time except the `Failed config` block and the YAML error's "in <file>, line L, column C".

export type FailureKind = 'config' | 'compile' | 'upload' | 'server_lost' | 'esphome' | 'other';

export interface FailureSummary {
  kind: FailureKind;
  /** The decisive line in plain text (ANSI removed), '' when the log had none. */
  line: string;
  /** Where esphome or the compiler pointed: file (as printed) and 1-based line/column. */
  file?: string;
  lineNo?: number;
  column?: number;
}

// Real ESC sequences and the literal `\033[…m` esphome prints under --dashboard.
const ANSI_RE = /(?:\x1b|\\033)\[[0-9;?]*[A-Za-z]/g;
export const stripAnsi = (s: string): string => s.replace(ANSI_RE, '');

const FAILED_CONFIG_RE = /^Failed config\s*$/;
const SOURCE_RE = /^(\S[^:]*): \[source (.+):(\d+)\]\s*$/;
const YAML_KEY_RE = /^\s*-?\s*[A-Za-z0-9_.-]+:(\s|$)/;
const READ_CONFIG_RE = /^ERROR Error while reading config: (.*)$/;
const YAML_MARK_RE = /^\s*in "(.+)", line (\d+), column (\d+)/;
const GCC_ERROR_RE = /^(.+?):(\d+):(?:(\d+):)? (?:fatal )?error: (.+)$/;
const UNDEFINED_REF_RE = /undefined reference to .+/;
const TARGET_ERROR_RE = /^\*\*\* \[(.+)\] Error (\d+)/;
const ERROR_LINE_RE = /^ERROR (.+)$/;
const KILLED_RE = /Killed signal terminated program (\S+)/;
const NINJA_STOPPED_RE = /^ninja: build stopped: (.+)$/;
const MOVE_RE = /^\*\*\* (Lost .+ mid-build.*?) \*\*\*$/;

interface Found {
  line: string;
  file?: string;
  lineNo?: number;
  column?: number;
}

/** Scans a job's output as it streams; `summary()` at the end says what failed. */
export class FailureScanner {
  private partial = '';
  private config: Found | null = null;
  private configDomain: Found | null = null;
  private inConfigBlock = false;
  private yaml: Found | null = null;
  private yamlMarks = 0;
  private yamlDetail: string[] = [];
  private compile: Found | null = null;
  private link: Found | null = null;
  private target: Found | null = null;
  private killed: Found | null = null;
  private error: Found | null = null;
  /** "Lost fast-box mid-build — …" notices the remote runner wrote (the row's history). */
  readonly moves: string[] = [];

  feed(chunk: string): void {
    const text = this.partial + chunk;
    const parts = text.split(/\r?\n|\r(?!\n)/);
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.line(stripAnsi(p));
  }

  /** Feeds whole stored lines (each may end with its terminator). */
  feedLines(lines: readonly string[]): void {
    for (const l of lines) this.feed(/[\r\n]$/.test(l) ? l : `${l}\n`);
  }

  private line(l: string): void {
    const move = MOVE_RE.exec(l.trim());
    if (move?.[1] !== undefined) this.moves.push(move[1]);
    if (this.inConfigBlock) {
      this.configLine(l);
      return;
    }
    if (FAILED_CONFIG_RE.test(l)) {
      this.inConfigBlock = !this.config;
      return;
    }
    if (this.yaml && this.yamlMarks < 2) {
      const m = YAML_MARK_RE.exec(l);
      if (m) {
        // PyYAML prints the context mark first and the problem mark second: the second is where
        // the file is wrong.
        this.yamlMarks++;
        this.yaml.file = m[1];
        this.yaml.lineNo = Number(m[2]);
        this.yaml.column = Number(m[3]);
      } else if (l.trim() && this.yamlDetail.length < 4) {
        this.yamlDetail.push(l.trim());
      }
      return;
    }
    const rc = READ_CONFIG_RE.exec(l);
    if (rc && !this.yaml) {
      this.yaml = { line: (rc[1] ?? '').trim() };
      return;
    }
    if (!this.compile) {
      const g = GCC_ERROR_RE.exec(l);
      if (g?.[1] !== undefined && !/^\s/.test(l) && !g[1].includes(' ')) {
        this.compile = { line: l.trim(), file: g[1], lineNo: Number(g[2]), ...(g[3] ? { column: Number(g[3]) } : {}) };
        return;
      }
    }
    if (!this.link) {
      const u = UNDEFINED_REF_RE.exec(l);
      if (u) this.link = { line: u[0].trim() };
    }
    if (!this.target) {
      const t = TARGET_ERROR_RE.exec(l) ?? NINJA_STOPPED_RE.exec(l);
      if (t) this.target = { line: l.trim() };
    }
    if (!this.killed) {
      const k = KILLED_RE.exec(l);
      if (k) this.killed = { line: `${k[0]} (the computer ran out of memory while compiling)` };
    }
    if (!this.error) {
      const e = ERROR_LINE_RE.exec(l);
      if (e?.[1] !== undefined) this.error = { line: e[1].trim() };
    }
  }

  private configLine(l: string): void {
    const src = SOURCE_RE.exec(l);
    if (src) {
      if (!this.configDomain) this.configDomain = { line: src[1] ?? '', file: src[2], lineNo: Number(src[3]) };
      return;
    }
    if (!this.configDomain) return;
    const t = l.trim();
    // The block ends at the next INFO/ERROR log line or a non-indented line.
    if (/^(INFO|WARNING|ERROR) /.test(l)) {
      this.inConfigBlock = false;
      this.line(l);
      return;
    }
    if (!t || YAML_KEY_RE.test(l) || t.startsWith('[source')) return;
    // The first indented line that is not YAML is esphome's message for this block.
    this.config = { line: `${this.configDomain.line}: ${t.replace(/\s*\[source [^\]]+\]$/, '')}`, file: this.configDomain.file, lineNo: this.configDomain.lineNo };
    this.inConfigBlock = false;
  }

  /**
   * The summary for a failed job: `error` is the job's own error text (the process's exit, or the
   * remote runner's reason), `jobType` and `remote` pick the kind when the log has nothing decisive.
   */
  summary(job: { error: string | null; job_type: string; source?: string; remote?: boolean }): FailureSummary {
    if (this.partial) {
      const rest = this.partial;
      this.partial = '';
      this.line(stripAnsi(rest));
    }
    const err = job.error ?? '';
    if (isServerLost(err)) return { kind: 'server_lost', line: serverLostLine(err) };
    if (/No module named '?esphome|esphome (command )?(was )?not found|esphome is not importable/i.test(err)) return { kind: 'esphome', line: firstSentence(err) };
    if (this.config) return { kind: 'config', ...this.config };
    if (this.yaml) {
      const detail = this.yamlDetail.filter((d) => !/^(while|in ")/.test(d)).pop();
      return { kind: 'config', ...this.yaml, line: detail ? `${this.yaml.line.replace(/:$/, '')}: ${detail}` : this.yaml.line };
    }
    if (this.configDomain) return { kind: 'config', line: `${this.configDomain.line}: invalid configuration`, file: this.configDomain.file, lineNo: this.configDomain.lineNo };
    if (this.compile) return { kind: 'compile', ...this.compile };
    if (this.link) return { kind: 'compile', ...this.link };
    if (this.killed) return { kind: 'compile', ...this.killed };
    if (job.job_type === 'upload' && this.error) return { kind: 'upload', ...this.error };
    if (this.target) return { kind: 'compile', ...this.target };
    if (this.error) return { kind: job.job_type === 'upload' ? 'upload' : 'other', ...this.error };
    return { kind: job.job_type === 'upload' ? 'upload' : 'other', line: '' };
  }
}

/** The remote runner's "session lost" / "server lost" reasons (remote-runner.ts). */
export function isServerLost(error: string): boolean {
  return /session lost|server lost|Lost .+ mid-build|build server (was )?lost|connection closed by the peer|peer_hung_up/i.test(error);
}

function serverLostLine(err: string): string {
  return err.replace(/^remote build: /, '');
}

function firstSentence(s: string): string {
  const i = s.indexOf(': the configured');
  return i > 0 ? s.slice(0, i) : s;
}

/** One-shot: the summary of a whole stored log. */
export function summarizeFailure(lines: readonly string[], job: { error: string | null; job_type: string }): FailureSummary {
  const s = new FailureScanner();
  s.feedLines(lines);
  return s.summary(job);
}

// Error scrape for local jobs (firmware-jobs.md §9.4): a process that exits 0 but printed one of
// these did not really succeed (typically a broken esphome installation).

export const ERROR_PATTERNS: readonly string[] = ['ModuleNotFoundError', 'ImportError', 'FileNotFoundError', 'command not found'];
// `python -m esphome` without the package prints the name unquoted ("No module named esphome").
const NO_ESPHOME_MODULE_RE = /No module named '?esphome'?(?![\w.])/;

export const EXIT0_ERROR_MESSAGE = 'Process exited 0 but output contains errors';
export const NO_ESPHOME_MODULE_MESSAGE =
  "esphome is not importable / not runnable (No module named 'esphome'): the configured esphome command runs a Python without the esphome package. Install it there (`pip install esphome`) or set the esphome command (Settings → esphome command, `kiln build --esphome CMD`, or KILN_ESPHOME).";

export class ErrorScrape {
  patternSeen = false;
  noEsphomeModule = false;

  /** Checked for every chunk at append time, before any trim can drop it. */
  feed(chunk: string): void {
    if (!this.noEsphomeModule && NO_ESPHOME_MODULE_RE.test(chunk)) this.noEsphomeModule = true;
    if (!this.patternSeen && ERROR_PATTERNS.some((p) => chunk.includes(p))) this.patternSeen = true;
  }

  /** The failure message for an exit-0 run, or null when the run is clean. */
  exit0Error(): string | null {
    if (!this.patternSeen) return null;
    return this.noEsphomeModule ? NO_ESPHOME_MODULE_MESSAGE : EXIT0_ERROR_MESSAGE;
  }

  /** The failure message for a non-zero exit. */
  exitError(exitCode: number): string {
    return this.noEsphomeModule ? NO_ESPHOME_MODULE_MESSAGE : `Process exited with code ${exitCode}`;
  }
}

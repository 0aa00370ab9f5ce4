// pip's output (non-tty, `--progress-bar off`) → phases and a fraction for a progress bar.
// pip prints "Collecting X" per requirement while resolving, "Downloading X (size)" /
// "Using cached X" per file it fetches, "Installing collected packages: a, b" once, and
// "Successfully installed …" at the end. The total of downloads is not known ahead, so
// "downloading N of M" counts against the packages collected so far.
export type InstallPhase = 'python' | 'venv' | 'resolving' | 'downloading' | 'installing' | 'verifying' | 'done';

export interface InstallProgress {
  phase: InstallPhase;
  /** 0..1, never goes down. */
  fraction: number;
  /** One line for humans: "downloading 12 of 40 (platformio-6.1.18)". */
  message: string;
  /** Packages collected / fetched so far. */
  collected: number;
  downloaded: number;
}

export class PipProgressParser {
  private collected = 0;
  private downloaded = 0;
  private phase: InstallPhase = 'resolving';
  private fraction = 0.05;
  private message = 'resolving';

  constructor(private readonly onProgress: (p: InstallProgress) => void) {}

  /** Feed one line of pip output (without its terminator). */
  line(raw: string): void {
    const line = raw.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim();
    let m: RegExpExecArray | null;
    if ((m = /^Collecting (\S+)/.exec(line))) {
      this.collected++;
      if (this.phase === 'resolving' || this.phase === 'downloading') {
        this.set(this.phase, this.phase === 'resolving' ? 0.05 + Math.min(0.2, this.collected * 0.005) : this.fraction, this.phase === 'resolving' ? `resolving (${this.collected} packages so far, ${m[1]})` : this.downloadingText(m[1] ?? ''));
      }
    } else if ((m = /^(?:Downloading|Using cached|Processing) (\S+)/.exec(line))) {
      this.downloaded++;
      const [, file = ''] = m;
      const name = file.split('/').pop() ?? file;
      this.set('downloading', 0.25 + 0.5 * Math.min(1, this.downloaded / Math.max(this.collected, 1)), this.downloadingText(name));
    } else if ((m = /^Installing collected packages: (.*)$/.exec(line))) {
      const n = (m[1] ?? '').split(',').filter((s) => s.trim()).length;
      this.set('installing', 0.8, `installing ${n} package${n === 1 ? '' : 's'}`);
    } else if (/^Successfully installed /.test(line)) {
      this.set('installing', 0.9, 'installed');
    }
  }

  /** A step outside pip (creating the venv, verifying). */
  step(phase: InstallPhase, fraction: number, message: string): void {
    this.set(phase, fraction, message);
  }

  private downloadingText(name: string): string {
    return `downloading ${this.downloaded} of ${Math.max(this.collected, this.downloaded)} (${name})`;
  }

  private set(phase: InstallPhase, fraction: number, message: string): void {
    this.phase = phase;
    this.fraction = Math.max(this.fraction, Math.min(1, fraction));
    this.message = message;
    this.onProgress({ phase, fraction: this.fraction, message: this.message, collected: this.collected, downloaded: this.downloaded });
  }
}

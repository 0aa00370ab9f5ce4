// SIGTERM / SIGINT for the long-running commands (`kiln serve`, `kiln receiver`), listened to
// before they start: their ready line is printed while they start, and a supervisor (or a test)
// may stop them the moment it reads it. A signal that came before the command could stop is kept
// and acted on as soon as it can, instead of the default action killing the process mid-way
// (seen in CI: `kiln serve` SIGTERMed right after its ready line exited by the signal, not 0).
// After the first signal nothing listens any more: a second one ends the process at once.

type Stop = (signal: NodeJS.Signals) => void;

export class StopSignals {
  private received: NodeJS.Signals | null = null;
  private stop: Stop | null = null;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.dispose();
    if (this.stop) this.stop(signal);
    else this.received = signal;
  };

  constructor() {
    process.on('SIGTERM', this.onSignal);
    process.on('SIGINT', this.onSignal);
  }

  /** Calls `stop` on the first signal, at once when it already came. */
  onStop(stop: Stop): void {
    if (this.received) stop(this.received);
    else this.stop = stop;
  }

  /** Stops listening (the command ended without a signal). */
  dispose(): void {
    process.off('SIGTERM', this.onSignal);
    process.off('SIGINT', this.onSignal);
  }
}

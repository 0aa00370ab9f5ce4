// `kiln serve` entry for the CLI dispatcher (./command.ts); the work is in ../serve.ts.
import { DataDirLockedError } from '../../core/data-dir-lock';
import { parseServeArgs, SERVE_USAGE, ServeUsageError, startServe } from '../serve';
import type { CliCommand } from './command';
import { kilnVersion } from './version';
import { StopSignals } from './stop-signals';

export const command: CliCommand = {
  summary: 'serve the Kiln window to a browser (job queue, pairing, build server) on 127.0.0.1',
  usage: SERVE_USAGE,
  async run(args) {
    let opts;
    try {
      opts = parseServeArgs(args);
    } catch (err) {
      if (err instanceof ServeUsageError) {
        process.stderr.write(`kiln serve: ${err.message}\n${SERVE_USAGE}`);
        return 2;
      }
      throw err;
    }
    if (opts === 'help') {
      process.stdout.write(SERVE_USAGE);
      return 0;
    }
    // Listening before the start: its ready line is printed while it starts (stop-signals.ts).
    const signals = new StopSignals();
    let running;
    try {
      running = await startServe(opts, { appVersion: kilnVersion() });
    } catch (err) {
      signals.dispose();
      if (err instanceof DataDirLockedError) {
        process.stderr.write(`kiln serve: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
    return await new Promise<number>((resolveExit) => {
      const shutdown = (signal: string) => {
        process.stdout.write(`kiln serve: ${signal}, shutting down\n`);
        running.stop().then(
          () => resolveExit(0),
          (err) => {
            process.stderr.write(`kiln serve: shutdown failed: ${(err as Error).message}\n`);
            resolveExit(1);
          },
        );
      };
      signals.onStop(shutdown);
    });
  },
};

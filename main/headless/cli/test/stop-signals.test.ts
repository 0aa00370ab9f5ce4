// StopSignals with real signals to a real process: a SIGTERM that arrives while the command is
// still starting is kept and acted on once it can stop (exit 0, not killed by the signal).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';

const MODULE = resolve(import.meta.dirname, '../stop-signals.ts');

function child(script: string): { out: string[]; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; kill: (s: NodeJS.Signals) => void } {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: string[] = [];
  proc.stdout.on('data', (b: Buffer) => out.push(...b.toString().split('\n').filter(Boolean)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  return { out, exit, kill: (s) => proc.kill(s) };
}

describe.skipIf(process.platform === 'win32')('StopSignals', () => {
  it('a SIGTERM while the command still starts is kept: the command stops cleanly once started (exit 0)', async () => {
    // "Starting" takes 600 ms after the ready line, as if the handler were installed late.
    const c = child(`
      import { StopSignals } from ${JSON.stringify(MODULE)};
      const signals = new StopSignals();
      console.log('ready');
      await new Promise((r) => setTimeout(r, 600));
      console.log('started');
      signals.onStop((sig) => { console.log('stopping on ' + sig); process.exit(0); });
      setInterval(() => {}, 1000);
    `);
    await waitUntil(() => c.out.includes('ready'), { timeoutMs: 30_000, what: 'ready' });
    c.kill('SIGTERM');
    expect(await c.exit).toEqual({ code: 0, signal: null });
    expect(c.out).toEqual(['ready', 'started', 'stopping on SIGTERM']);
  }, 60_000);

  it('after the first signal nothing listens: a second one ends the process at once', async () => {
    const c = child(`
      import { StopSignals } from ${JSON.stringify(MODULE)};
      const signals = new StopSignals();
      signals.onStop((sig) => console.log('stopping on ' + sig)); // a stop that never finishes
      console.log('ready');
      setInterval(() => {}, 1000);
    `);
    await waitUntil(() => c.out.includes('ready'), { timeoutMs: 30_000, what: 'ready' });
    c.kill('SIGINT');
    await waitUntil(() => c.out.includes('stopping on SIGINT'), { timeoutMs: 10_000, what: 'stopping' });
    c.kill('SIGTERM');
    expect(await c.exit).toEqual({ code: null, signal: 'SIGTERM' });
  }, 60_000);
});

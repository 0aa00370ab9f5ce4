// kiln receiver's console writer (console-lines.ts): small chunks, one write in flight, so node
// never batches a flood's echo into large native blocks (issue 18 §1, performance.md P4).
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';
import { ConsoleLines, ECHO_CHUNK_CHARS, type LineStream } from '../console-lines';

/** A stream whose writes complete only when the test says so. */
class HeldStream implements LineStream {
  readonly writes: string[] = [];
  private readonly callbacks: Array<(err?: Error | null) => void> = [];
  write(chunk: string, cb: (err?: Error | null) => void): boolean {
    this.writes.push(chunk);
    this.callbacks.push(cb);
    return true;
  }
  get inFlight(): number {
    return this.callbacks.length;
  }
  complete(err?: Error): void {
    must(this.callbacks.shift(), 'a write in flight')(err ?? null);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ConsoleLines', () => {
  it('a line is written at once; the rest of its burst waits for that write, then leaves in chunks of at most ECHO_CHUNK_CHARS, in order, one write at a time', async () => {
    const s = new HeldStream();
    const c = new ConsoleLines(s);
    const lines = Array.from({ length: 1000 }, (_, i) => `[job j] line ${String(i).padStart(4, '0')} ${'x'.repeat(20)}`);
    for (const l of lines) c.line(l);
    expect(s.writes).toEqual([`${must(lines[0])}\n`]); // not delayed, and not one write per line
    await tick();
    expect(s.writes).toHaveLength(1);
    // Nothing more is handed over while that write is in flight, however many lines arrive.
    c.line('[build server] a notice');
    await tick();
    expect(s.writes).toHaveLength(1);
    while (s.inFlight > 0) {
      s.complete();
      await tick();
    }
    for (const w of s.writes) expect(w.length).toBeLessThanOrEqual(ECHO_CHUNK_CHARS);
    expect(s.writes.length).toBeGreaterThan(5);
    expect(s.writes.join('')).toBe([...lines, '[build server] a notice'].map((l) => `${l}\n`).join(''));
    expect(c.backlog).toBe(0);
  });

  it('a line longer than a chunk goes alone, whole', async () => {
    const s = new HeldStream();
    const c = new ConsoleLines(s);
    const long = 'L'.repeat(ECHO_CHUNK_CHARS * 2);
    c.line('before');
    c.line(long);
    c.line('after');
    for (let i = 0; i < 5 && s.writes.length < 3; i++) {
      await tick();
      if (s.inFlight > 0) s.complete();
    }
    expect(s.writes).toEqual(['before\n', `${long}\n`, 'after\n']);
  });

  it('flush hands everything waiting to the stream at once', () => {
    const s = new HeldStream();
    const c = new ConsoleLines(s);
    c.line('one'); // written at once; its write stays in flight
    c.line('two');
    c.line('three');
    c.flush();
    expect(s.writes).toEqual(['one\n', 'two\nthree\n']);
    expect(c.backlog).toBe(0);
    c.flush();
    expect(s.writes).toHaveLength(2);
  });

  it('a failed write (stdout gone) stops printing without throwing', async () => {
    const s = new HeldStream();
    const c = new ConsoleLines(s);
    c.line('one');
    c.line('two');
    s.complete(new Error('EPIPE'));
    await tick();
    c.line('three');
    await tick();
    expect(s.writes).toEqual(['one\n']);
    expect(c.backlog).toBe(0);
  });

  it('over a real pipe read slowly: every byte arrives and node never holds more than one chunk', async () => {
    // The reader pauses between reads, so the pipe fills and writes stay pending.
    const reader = spawn(process.execPath, ['-e', `let n = 0; process.stdin.on('data', (d) => { n += d.length; process.stdin.pause(); setTimeout(() => process.stdin.resume(), 2); }); process.stdin.on('end', () => process.stdout.write(String(n)));`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let reply = '';
    reader.stdout.on('data', (d: Buffer) => (reply += d.toString()));
    const ended = new Promise<void>((r) => reader.on('close', () => r()));
    const c = new ConsoleLines(reader.stdin);
    let expectedBytes = 0;
    let maxHeld = 0;
    for (let burst = 0; burst < 40; burst++) {
      for (let i = 0; i < 2000; i++) {
        const l = `[job j] burst ${burst} line ${i} ${'y'.repeat(40)}`;
        c.line(l);
        expectedBytes += l.length + 1;
      }
      maxHeld = Math.max(maxHeld, reader.stdin.writableLength);
      await tick();
      maxHeld = Math.max(maxHeld, reader.stdin.writableLength);
    }
    await waitUntil(() => {
      maxHeld = Math.max(maxHeld, reader.stdin.writableLength);
      return c.backlog === 0 && reader.stdin.writableLength === 0;
    }, { timeoutMs: 60_000, what: () => `the reader to take everything (backlog ${c.backlog})` });
    reader.stdin.end();
    await ended;
    expect(Number(reply)).toBe(expectedBytes);
    // Node's Writable holds only the one chunk being written: it never batches lines into a writev.
    expect(maxHeld).toBeLessThanOrEqual(ECHO_CHUNK_CHARS);
    expect(maxHeld).toBeGreaterThan(0);
  }, 90_000);
});

// OutputPump (issue 18 §1): bounded in-flight frames, coalescing within the frame cap, elision
// with a counted notice past the bound, job states after their job's output, close drops all.
import { describe, expect, it } from 'vitest';
import { outputLines } from '../../esphome/line-splitter';
import { NOISE_TAG_BYTES } from '../../peer-link/transfer';
import { elisionNotice, OutputPump } from '../output-pump';
import type { Frame } from '../frame-parse';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

/** A session whose sends resolve only when the test says so (a sender that reads on demand). */
function manualSession() {
  const sent: Frame[] = [];
  const pending: Array<() => void> = [];
  return {
    sent,
    get inFlight() {
      return pending.length;
    },
    send: (f: Frame): Promise<void> => {
      sent.push(f);
      return new Promise<void>((r) => pending.push(r));
    },
    /** The sender reads `n` frames. */
    drain(n = Infinity) {
      for (let i = 0; i < n && pending.length > 0; i++) pending.shift()!();
    },
  };
}

const lines = (frames: Frame[], jobId = 'j1'): string[] => frames.filter((f) => f.type === 'job_output' && f.job_id === jobId).flatMap((f) => outputLines(f.line as string));
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('OutputPump', () => {
  it('never has more than maxInFlight frames handed to the session; waiting lines are coalesced in order', async () => {
    const s = manualSession();
    const pump = new OutputPump({ send: s.send, maxInFlight: 2 });
    for (let i = 0; i < 10_000; i++) pump.output('j1', `line ${i}\n`);
    await nextTurn();
    expect(s.inFlight).toBe(2);
    while (s.inFlight > 0) {
      s.drain(1);
      await nextTurn();
      expect(s.inFlight).toBeLessThanOrEqual(2);
    }
    const got = lines(s.sent);
    expect(got).toEqual(Array.from({ length: 10_000 }, (_, i) => `line ${i}\n`));
    // Several lines per frame, every frame within the cap.
    expect(s.sent.length).toBeLessThan(200);
    for (const f of s.sent) expect(Buffer.byteLength(JSON.stringify(f)) + NOISE_TAG_BYTES).toBeLessThanOrEqual(61440);
  });

  it('past the bound drops the oldest waiting lines and says how many, counted across drops; the newest lines survive', async () => {
    const s = manualSession();
    const pump = new OutputPump({ send: s.send, maxInFlight: 1, maxQueuedBytes: 10_000 });
    const total = 50_000;
    for (let i = 0; i < total; i++) pump.output('j1', `line ${String(i).padStart(6, '0')}\n`);
    pump.jobFrame('j1', { type: 'job_state_changed', job_id: 'j1', status: 'completed', error_message: '' });
    expect(pump.waitingBytes).toBeLessThanOrEqual(10_000);
    while (s.sent.at(-1)?.type !== 'job_state_changed') {
      s.drain();
      await nextTurn();
    }
    const got = lines(s.sent);
    const notices = got.filter((l) => l.includes('elided by the build server'));
    expect(notices.length).toBeGreaterThan(0);
    const elided = notices.reduce((n, l) => n + Number(/(\d+) line\(s\) elided/.exec(l)![1]), 0);
    const kept = got.filter((l) => l.startsWith('line '));
    expect(kept.length + elided).toBe(total);
    expect(pump.elidedTotal).toBe(elided);
    expect(kept.at(-1)).toBe(`line ${String(total - 1).padStart(6, '0')}\n`);
    // Kept lines stay in order.
    const nums = kept.map((l) => Number(l.slice(5)));
    expect(nums.every((n, i) => i === 0 || n > must(nums[i - 1]))).toBe(true);
    expect(elisionNotice(3)).toMatch(/^\.\.\. \[output trimmed: 3 line\(s\) elided by the build server/);
  });

  it("a job's terminal state goes after that job's last waiting line; other frames and other jobs' states do not wait", async () => {
    const s = manualSession();
    const pump = new OutputPump({ send: s.send, maxInFlight: 1 });
    for (let i = 0; i < 5000; i++) pump.output('j1', `a ${i}\n`);
    await nextTurn();
    // j2 has nothing waiting: its state goes at once, ahead of j1's backlog.
    pump.jobFrame('j2', { type: 'job_state_changed', job_id: 'j2', status: 'cancelled', error_message: '' });
    expect(s.sent.at(-1)).toMatchObject({ job_id: 'j2', status: 'cancelled' });
    pump.jobFrame('j1', { type: 'job_state_changed', job_id: 'j1', status: 'completed', error_message: '' });
    expect(s.sent.some((f) => f.job_id === 'j1' && f.type === 'job_state_changed')).toBe(false);
    while (s.sent.at(-1)?.status !== 'completed') {
      s.drain();
      await nextTurn();
    }
    const iState = s.sent.findIndex((f) => f.type === 'job_state_changed' && f.job_id === 'j1');
    expect(iState).toBe(s.sent.length - 1);
    expect(lines(s.sent)).toHaveLength(5000);
  });

  it('a line longer than a frame is split by the spec rule; close drops everything waiting', async () => {
    const s = manualSession();
    const pump = new OutputPump({ send: s.send, maxInFlight: 1 });
    const long = `${'x'.repeat(150_000)}\n`;
    pump.output('j1', 'before\n');
    pump.output('j1', long);
    pump.output('j1', 'after\n');
    await waitUntil(
      async () => {
        s.drain();
        await nextTurn();
        return lines(s.sent).join('').endsWith('after\n');
      },
      { timeoutMs: 5000, what: 'all lines sent' },
    );
    expect(lines(s.sent).join('')).toBe(`before\n${long}after\n`);
    for (const f of s.sent) expect(Buffer.byteLength(JSON.stringify(f)) + NOISE_TAG_BYTES).toBeLessThanOrEqual(61440);
    for (let i = 0; i < 1000; i++) pump.output('j1', 'late\n');
    pump.close();
    expect(pump.waitingBytes).toBe(0);
    const n = s.sent.length;
    s.drain();
    await nextTurn();
    expect(s.sent.length).toBe(n);
  });

  it('outputLines splits a coalesced value into terminated lines (CR and CRLF kept)', () => {
    expect(outputLines('one\n')).toEqual(['one\n']);
    expect(outputLines('partial')).toEqual(['partial']);
    expect(outputLines('a\nb\r\nc\rd\n')).toEqual(['a\n', 'b\r\n', 'c\r', 'd\n']);
    expect(outputLines('a\nrest')).toEqual(['a\n', 'rest']);
  });
});

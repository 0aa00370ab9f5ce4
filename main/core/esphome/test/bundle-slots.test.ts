import { describe, expect, it } from 'vitest';
import { BundleSlots } from '../bundle-slots';
import { must } from '../../../../test/support/must';

/** A unit of work the test ends by hand, recording when it started. */
function gate(log: string[], name: string): { work: () => Promise<string>; end: () => void } {
  let end!: () => void;
  const done = new Promise<void>((r) => (end = r));
  return {
    work: async () => {
      log.push(name);
      await done;
      return name;
    },
    end,
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('bundle slots', () => {
  it('runs at most `concurrency` at once, "now" before "ahead", first come first served within each', async () => {
    const slots = new BundleSlots(2);
    const started: string[] = [];
    const g = Object.fromEntries(['a1', 'a2', 'a3', 'n1', 'n2'].map((n) => [n, gate(started, n)]));
    const run = (n: string, p: 'now' | 'ahead') => slots.run(must(g[n]).work, p).done;
    const all = [run('a1', 'ahead'), run('a2', 'ahead'), run('a3', 'ahead'), run('n1', 'now'), run('n2', 'now')];
    await tick();
    expect(started).toEqual(['a1', 'a2']); // both slots were free
    expect(slots.running).toBe(2);
    expect(slots.waiting).toBe(3);
    must(g.a1).end();
    await tick();
    expect(started).toEqual(['a1', 'a2', 'n1']); // "now" overtakes the waiting "ahead"
    must(g.a2).end();
    await tick();
    expect(started).toEqual(['a1', 'a2', 'n1', 'n2']);
    must(g.n1).end();
    must(g.n2).end();
    await tick();
    expect(started.at(-1)).toBe('a3');
    must(g.a3).end();
    expect(await Promise.all(all)).toEqual(['a1', 'a2', 'a3', 'n1', 'n2']);
  });

  it('promote raises a waiting "ahead" to "now"; after it started, promote does nothing', async () => {
    const slots = new BundleSlots(1);
    const started: string[] = [];
    const busy = gate(started, 'busy');
    const first = gate(started, 'first-ahead');
    const raised = gate(started, 'raised');
    const now = gate(started, 'now');
    slots.run(busy.work, 'now');
    slots.run(first.work, 'ahead');
    const r = slots.run(raised.work, 'ahead');
    slots.run(now.work, 'now');
    r.promote();
    busy.end();
    await tick();
    // Raised to "now": after the "now" queued before the raise, before the older "ahead".
    expect(started).toEqual(['busy', 'now']);
    now.end();
    await tick();
    expect(started).toEqual(['busy', 'now', 'raised']);
    r.promote(); // running: nothing to raise, no error
    raised.end();
    await tick();
    expect(started.at(-1)).toBe('first-ahead');
    first.end();
  });

  it('a wait ended by its signal leaves the queue (rejects with the reason) and never runs; a running one is not touched', async () => {
    const slots = new BundleSlots(1);
    const started: string[] = [];
    const busy = gate(started, 'busy');
    const running = slots.run(busy.work, 'now');
    const ctl = new AbortController();
    const never = gate(started, 'never');
    const waiting = slots.run(never.work, 'ahead', ctl.signal);
    const reason = new Error('cancelled by the user');
    ctl.abort(reason);
    await expect(waiting.done).rejects.toBe(reason);
    expect(slots.waiting).toBe(0);
    waiting.promote(); // aborted: nothing to raise, no error
    busy.end();
    expect(await running.done).toBe('busy');
    await tick();
    expect(started).toEqual(['busy']);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogBatcher, type LogBatch } from '../log-batcher';
import { must } from '../../../../test/support/must';

describe('LogBatcher', () => {
  afterEach(() => vi.useRealTimers());

  it('coalesces lines into one batch per interval with consecutive sequence numbers', () => {
    vi.useFakeTimers();
    const batches: LogBatch[] = [];
    const b = new LogBatcher('abc', 5, (x) => batches.push(x), () => undefined, { intervalMs: 50 });
    for (let i = 0; i < 100; i++) b.push(`line ${i}\n`);
    expect(batches).toHaveLength(0);
    vi.advanceTimersByTime(49);
    expect(batches).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(batches).toHaveLength(1);
    expect(must(batches[0]).firstSeq).toBe(5);
    expect(must(batches[0]).lines).toHaveLength(100);
    b.push('next\n');
    vi.advanceTimersByTime(50);
    expect(batches[1]).toEqual({ jobId: 'abc', firstSeq: 105, lines: ['next\n'] });
  });

  it('flushes at once when 64 KiB are pending', () => {
    vi.useFakeTimers();
    const batches: LogBatch[] = [];
    const b = new LogBatcher('j', 0, (x) => batches.push(x), () => undefined);
    const line = 'x'.repeat(1023) + '\n';
    for (let i = 0; i < 63; i++) b.push(line);
    expect(batches).toHaveLength(0);
    b.push(line);
    expect(batches).toHaveLength(1);
    expect(must(batches[0]).lines).toHaveLength(64);
  });

  it('reports a gap instead of queueing when the transport is backed up', () => {
    const batches: LogBatch[] = [];
    const gaps: Array<{ fromSeq: number; toSeq: number }> = [];
    let backlog = 10 * 1024 * 1024;
    const b = new LogBatcher('j', 0, (x) => batches.push(x), (g) => gaps.push(g), { backlog: () => backlog, maxBacklogBytes: 1024 });
    b.push('a\n');
    b.push('b\n');
    b.flush();
    expect(batches).toHaveLength(0);
    expect(gaps).toEqual([{ jobId: 'j', fromSeq: 0, toSeq: 2 }]);
    backlog = 0;
    b.push('c\n');
    b.flush();
    expect(batches).toEqual([{ jobId: 'j', firstSeq: 2, lines: ['c\n'] }]);
  });

  it('close flushes what is pending and ignores later lines', () => {
    const batches: LogBatch[] = [];
    const b = new LogBatcher('j', 0, (x) => batches.push(x), () => undefined);
    b.push('a\n');
    b.close();
    b.push('b\n');
    b.flush();
    expect(batches).toEqual([{ jobId: 'j', firstSeq: 0, lines: ['a\n'] }]);
  });
});

import { describe, expect, it } from 'vitest';
import { CHUNK, LogBuffer } from '../log-buffer';

const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `line ${from + i}\n`);

describe('LogBuffer', () => {
  it('holds 100k+ lines in chunks with O(1) random access', () => {
    const b = new LogBuffer();
    for (let i = 0; i < 12; i++) b.applyBatch(i * 10_000, lines(10_000, i * 10_000));
    expect(b.length).toBe(120_000);
    expect(b.get(0)).toBe('line 0\n');
    expect(b.get(CHUNK)).toBe(`line ${CHUNK}\n`);
    expect(b.get(119_999)).toBe('line 119999\n');
    expect(b.get(120_000)).toBe('');
  });

  it('drops the oldest lines past the cap and keeps indexes consistent', () => {
    const b = new LogBuffer(25_000);
    b.applyBatch(0, lines(30_000));
    expect(b.length).toBe(25_000);
    expect(b.droppedFront).toBe(5_000);
    expect(b.get(0)).toBe('line 5000\n');
    expect(b.get(24_999)).toBe('line 29999\n');
    b.applyBatch(30_000, lines(7_000, 30_000));
    expect(b.length).toBe(25_000);
    expect(b.get(0)).toBe('line 12000\n');
    expect(b.get(24_999)).toBe('line 36999\n');
  });

  it('collapses carriage-return progress into one row, like the backend', () => {
    const b = new LogBuffer();
    b.reset(['start\n', 'Uploading 10%\r']);
    b.applyBatch(2, ['Uploading 50%\r', 'Uploading 100%\r', '\n', 'done\n']);
    expect([b.get(0), b.get(1), b.get(2), b.get(3)]).toEqual(['start\n', 'Uploading 100%\r', '\n', 'done\n']);
    expect(b.length).toBe(4);
  });

  it('skips lines it already has and counts real gaps', () => {
    const b = new LogBuffer();
    b.reset(lines(10));
    b.applyBatch(5, lines(10, 5)); // 5..14: 5..9 are duplicates
    expect(b.length).toBe(15);
    expect(b.get(14)).toBe('line 14\n');
    b.applyBatch(20, lines(2, 20)); // 15..19 missing
    expect(b.skipped).toBe(5);
    expect(b.length).toBe(17);
    b.markGap(22, 30);
    expect(b.skipped).toBe(13);
    expect(b.nextSeq).toBe(30);
  });

  it('text() returns the retained log for downloads', () => {
    const b = new LogBuffer();
    b.reset(['a\n', 'b\n']);
    expect(b.text()).toBe('a\nb\n');
  });
});

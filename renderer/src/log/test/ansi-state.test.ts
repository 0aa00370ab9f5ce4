import { describe, expect, it } from 'vitest';
import { toSegments } from '../ansi';
import { hasEscape, sgrStateAfter } from '../ansi-state';
import { LogBuffer } from '../log-buffer';

describe('SGR state across lines', () => {
  it('tracks colours and attributes, real ESC and the literal \\033 form alike', () => {
    expect(sgrStateAfter('plain text\n', '')).toBe('');
    expect(sgrStateAfter('plain text\n', '31')).toBe('31');
    expect(sgrStateAfter('\x1b[1;31mERROR starts here\n', '')).toBe('1;31');
    expect(sgrStateAfter('\\033[1;31mERROR starts here\n', '')).toBe('1;31');
    expect(sgrStateAfter('\x1b[0m back to normal\n', '1;31')).toBe('');
    expect(sgrStateAfter('\x1b[m bare reset\n', '1;31')).toBe('');
    expect(sgrStateAfter('\x1b[44mblue bg\n', '1;31')).toBe('1;31;44');
    expect(sgrStateAfter('\x1b[22;39m', '1;2;31;44')).toBe('44');
    expect(sgrStateAfter('\x1b[38;5;208morange \x1b[48;2;1;2;3mtc\n', '')).toBe('38;5;208;48;2;1;2;3');
    expect(sgrStateAfter('\x1b[4m\x1b[24m', '')).toBe('');
    expect(sgrStateAfter('\x1b[93;4m', '')).toBe('4;93');
  });

  it('ignores non-colour sequences and truncated extended colours', () => {
    expect(sgrStateAfter('\x1b[2K\x1b[1Aprogress\r', '32')).toBe('32');
    expect(sgrStateAfter('\x1b[38;5m', '32')).toBe('32');
    expect(hasEscape('no escapes \\ here [0m')).toBe(false);
    expect(hasEscape('\\x1b[0m')).toBe(true);
  });

  it('a line without escapes renders with the colour carried in (not its log level)', () => {
    expect(toSegments('[W][wifi]: weak\n')).toEqual([{ text: '[W][wifi]: weak', className: 'lvl-w' }]);
    expect(toSegments('[W][wifi]: weak\n', '1;31')).toEqual([{ text: '[W][wifi]: weak', className: 'ansi-red-fg ansi-bold' }]);
    // The line's own codes still apply on top of the carried state.
    const segs = toSegments('still red \\033[0mthen plain\n', '31');
    expect(segs).toEqual([
      { text: 'still red ', className: 'ansi-red-fg' },
      { text: 'then plain', className: '' },
    ]);
  });
});

describe('LogBuffer.ansiStateBefore (lazy, memoised)', () => {
  it('carries a colour opened on one line into the following lines until a reset', () => {
    const b = new LogBuffer();
    b.reset(['plain\n', '\x1b[32mgreen opens\n', 'still green\n', 'green \x1b[0mends\n', 'plain again\n']);
    expect([0, 1, 2, 3, 4].map((i) => b.ansiStateBefore(i))).toEqual(['', '', '32', '32', '']);
    // Rendering row 2 with its carried state colours it although it has no escape itself.
    expect(toSegments(b.get(2), b.ansiStateBefore(2))).toEqual([{ text: 'still green', className: 'ansi-green-fg' }]);
  });

  it('scans only up to the row asked for, and picks up appended rows later', () => {
    const b = new LogBuffer();
    b.reset(['\x1b[33myellow\n', 'y\n']);
    expect(b.ansiStateBefore(1)).toBe('33');
    b.applyBatch(2, ['\x1b[0m\n', 'plain\n', '\\033[35mmagenta\n', 'm\n']);
    expect(b.ansiStateBefore(5)).toBe('35');
    expect(b.ansiStateBefore(3)).toBe('');
    expect(b.ansiStateBefore(1)).toBe('33');
  });

  it('a carriage-return row that is overwritten is re-scanned', () => {
    const c = new LogBuffer();
    c.reset(['\x1b[31mprogress 10%\r']);
    expect(c.ansiStateBefore(1)).toBe('31'); // row 0 scanned and memoised
    c.applyBatch(1, ['\x1b[0mprogress 100%\r']); // overwrites row 0 (CR collapse)
    expect(c.length).toBe(1);
    expect(c.ansiStateBefore(1)).toBe('');
  });

  it('keeps the state of rows that fell off the cap', () => {
    const b = new LogBuffer(10);
    b.applyBatch(0, ['\x1b[36mcyan from the start\n', ...Array.from({ length: 20 }, (_, i) => `row ${i}\n`)]);
    expect(b.droppedFront).toBe(11);
    expect(b.ansiStateBefore(0)).toBe('36');
    expect(toSegments(b.get(5), b.ansiStateBefore(5))[0]!.className).toBe('ansi-cyan-fg');
  });

  it('prepended earlier lines recompute the carried state from the new first row', () => {
    const b = new LogBuffer();
    b.reset(['tail 1\n', 'tail 2\n'], 2, 2);
    expect(b.ansiStateBefore(1)).toBe('');
    b.prepend(['\x1b[1mbold from the start\n', 'b\n'], 0);
    expect(b.firstIndex).toBe(0);
    expect(b.prepended).toBe(2);
    expect(b.length).toBe(4);
    expect([b.get(0), b.get(2), b.get(3)]).toEqual(['\x1b[1mbold from the start\n', 'tail 1\n', 'tail 2\n']);
    expect(b.ansiStateBefore(3)).toBe('1');
  });
});

describe('ANSI carry over 100k rows stays cheap', () => {
  it('first state lookup at the bottom of 100k rows (every 10th coloured) takes well under a frame budget', () => {
    const b = new LogBuffer();
    const rows = Array.from({ length: 100_000 }, (_, n) =>
      n % 10 === 0 ? `\\033[32mINFO\\033[0m step ${n}: \\033[1;33mwarning-ish\\033[0m text\n` : `Compiling component_${n}.cpp.o\n`,
    );
    b.reset(rows);
    const t = performance.now();
    expect(b.ansiStateBefore(99_999)).toBe('');
    const ms = performance.now() - t;
    console.log(`ansi carry: first lookup at row 99999 of 100k rows: ${ms.toFixed(1)} ms`);
    // Measured ~10-20 ms on the shared CI box; the limit leaves room for a loaded machine.
    expect(ms).toBeLessThan(150);
    const t2 = performance.now();
    for (let i = 99_950; i < 100_000; i++) b.ansiStateBefore(i);
    expect(performance.now() - t2).toBeLessThan(5);
  });
});

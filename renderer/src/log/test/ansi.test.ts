import { describe, expect, it } from 'vitest';
import { normaliseEscapes, stripTerminator, toSegments } from '../ansi';

describe('ANSI rendering', () => {
  it('renders esphome --dashboard literal \\033[ like a real ESC', () => {
    const literal = toSegments('\\033[1;31mERROR\\033[0m boom\n');
    const real = toSegments('\x1b[1;31mERROR\x1b[0m boom\n');
    expect(literal).toEqual(real);
    expect(literal[0]).toMatchObject({ text: 'ERROR', className: 'ansi-red-fg ansi-bold' });
    expect(literal[1]).toMatchObject({ text: ' boom', className: '' });
  });

  it('drops non-colour sequences and keeps background and truecolour', () => {
    const segs = toSegments('\x1b[2K\x1b[33;44mwarn\x1b[38;2;1;2;3mtc\r');
    expect(segs.map((s) => s.text).join('')).toBe('warntc');
    expect(segs[0]!.className).toBe('ansi-yellow-fg ansi-blue-bg');
    expect(segs[1]!.color).toBe('rgb(1, 2, 3)');
  });

  it('colours plain lines by ESPHome log level', () => {
    expect(toSegments('[12:00:01][W][wifi:123]: weak signal\n')[0]!.className).toBe('lvl-w');
    expect(toSegments('[E][api]: failed\n')[0]!.className).toBe('lvl-e');
    expect(toSegments('INFO Reading configuration\n')[0]!.className).toBe('lvl-i');
    expect(toSegments('Compiling foo.cpp.o\n')[0]!.className).toBe('');
  });

  it('never produces markup: text stays text', () => {
    const segs = toSegments('<img src=x onerror=alert(1)>\n');
    expect(segs).toEqual([{ text: '<img src=x onerror=alert(1)>', className: '' }]);
  });

  it('helpers', () => {
    expect(stripTerminator('a\r\n')).toBe('a');
    expect(stripTerminator('a\r')).toBe('a');
    expect(normaliseEscapes('\\x1b[0m\\e[1m')).toBe('\x1b[0m\x1b[1m');
  });
});

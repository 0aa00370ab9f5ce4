import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_PARTIAL_BYTES, splitChunks } from '../line-splitter';

function split(parts: Array<string | Buffer>): string[] {
  const out: string[] = [];
  const s = new LineSplitter((c) => out.push(c));
  for (const p of parts) s.push(typeof p === 'string' ? Buffer.from(p) : p);
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('keeps terminators: \\n, bare \\r, and \\r\\n as one', () => {
    expect(split(['a\nb\rc\r\nd'])).toEqual(['a\n', 'b\r', 'c\r\n', 'd']);
  });

  it('decides a trailing \\r only when the next read arrives', () => {
    expect(split(['abc\r', '\ndef\r', 'ghi\n'])).toEqual(['abc\r\n', 'def\r', 'ghi\n']);
    expect(split(['x\r'])).toEqual(['x\r']);
    expect(split(['\r', '\n'])).toEqual(['\r\n']);
  });

  it('joins a line split across reads and flushes a trailing partial at EOF', () => {
    expect(split(['hel', 'lo wo', 'rld\npart', 'ial'])).toEqual(['hello world\n', 'partial']);
  });

  it('decodes UTF-8 split across reads and replaces invalid bytes', () => {
    const euro = Buffer.from('€\n'); // 3-byte sequence
    expect(split([euro.subarray(0, 1), euro.subarray(1, 2), euro.subarray(2)])).toEqual(['€\n']);
    expect(split([Buffer.from([0x61, 0xff, 0x62, 0x0a])])).toEqual(['a\uFFFDb\n']);
  });

  it('emits an endless unterminated run in bounded pieces', () => {
    const out = split([Buffer.alloc(MAX_PARTIAL_BYTES + 10, 0x61), 'b\n']);
    expect(out.length).toBe(2);
    expect(out[0]!.length).toBe(MAX_PARTIAL_BYTES + 10);
    expect(out[1]).toBe('b\n');
  });
});

describe('splitChunks', () => {
  it('splits text the same way', () => {
    expect(splitChunks('a\nb\rc\r\nd')).toEqual(['a\n', 'b\r', 'c\r\n', 'd']);
    expect(splitChunks('')).toEqual([]);
  });
});

// Emoji fingerprint and hex display (ui-and-users.md §5.3).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emojiFingerprint, emojiNames, emojiString, groupedHex, isPin, PIN_EMOJI_COUNT, PIN_EMOJI_TABLE } from '../fingerprint';
import { must } from '../../../../test/support/must';

const codepoints = (s: string) => [...s].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`).join(' ');

describe('emoji fingerprint', () => {
  it('has the 64 Matrix SAS entries with the exact code points of the spec table', () => {
    expect(PIN_EMOJI_TABLE).toHaveLength(64);
    expect(new Set(PIN_EMOJI_TABLE.map((e) => e.emoji)).size).toBe(64);
    expect(new Set(PIN_EMOJI_TABLE.map((e) => e.name)).size).toBe(64);
    // Rows copied from the spec table, including every variation-selector entry.
    const spotChecks: Array<[number, string, string]> = [
      [0, 'U+1F436', 'Dog'],
      [21, 'U+2601 U+FE0F', 'Cloud'],
      [29, 'U+2764 U+FE0F', 'Heart'],
      [31, 'U+1F916', 'Robot'],
      [36, 'U+1F44D', 'Thumbs up'],
      [37, 'U+2602 U+FE0F', 'Umbrella'],
      [38, 'U+231B U+FE0F', 'Hourglass'],
      [39, 'U+23F0', 'Clock'],
      [41, 'U+1F4A1', 'Light bulb'],
      [43, 'U+270F U+FE0F', 'Pencil'],
      [45, 'U+2702 U+FE0F', 'Scissors'],
      [49, 'U+260E U+FE0F', 'Telephone'],
      [53, 'U+2708 U+FE0F', 'Aeroplane'],
      [56, 'U+26BD U+FE0F', 'Ball'],
      [60, 'U+2693 U+FE0F', 'Anchor'],
      [63, 'U+1F4CC', 'Pin'],
    ];
    for (const [i, cps, name] of spotChecks) {
      expect(codepoints(must(PIN_EMOJI_TABLE[i]).emoji), `#${i}`).toBe(cps);
      expect(must(PIN_EMOJI_TABLE[i]).name).toBe(name);
    }
  });

  it('reproduces the worked example: dd 69 d4 0a eb f… → Trophy, Fire, Clock, Moon, Lion, Lock, Key', () => {
    const pin = 'dd69d40aebf' + '0'.repeat(53);
    expect(emojiFingerprint(pin).map((e) => e.name)).toEqual(['Trophy', 'Fire', 'Clock', 'Moon', 'Lion', 'Lock', 'Key']);
    expect(emojiNames(pin)).toBe('Trophy, Fire, Clock, Moon, Lion, Lock, Key');
    expect(emojiString(pin).split(' ')).toHaveLength(PIN_EMOJI_COUNT);
    // digits after the 11th never matter; upper-case hex reads the same
    expect(emojiFingerprint('DD69D40AEBF' + 'f'.repeat(53))).toEqual(emojiFingerprint(pin));
  });

  it('uses the leading 42 bits, most significant first', () => {
    expect(emojiFingerprint('0'.repeat(64)).map((e) => e.name)).toEqual(Array(7).fill('Dog'));
    expect(emojiFingerprint('f'.repeat(64)).map((e) => e.name)).toEqual(Array(7).fill('Pin'));
    // 0x04 in the first 6 bits: 000001 00… → Cat then Dogs
    expect(emojiFingerprint('04' + '0'.repeat(62)).map((e) => e.name)).toEqual(['Cat', 'Dog', 'Dog', 'Dog', 'Dog', 'Dog', 'Dog']);
    // the 42nd bit (last bit of the 7th group) is bit 2 of the 11th hex digit
    expect(emojiFingerprint('0000000000' + '4' + '0'.repeat(53)).map((e) => e.name).at(-1)).toBe('Cat');
    expect(emojiFingerprint('0000000000' + '2' + '0'.repeat(53)).map((e) => e.name).at(-1)).toBe('Dog');
  });

  it('a non-hex character ends the list early; an empty pin gives nothing', () => {
    expect(emojiFingerprint('')).toEqual([]);
    expect(emojiFingerprint('dd69z')).toHaveLength(2); // 16 valid bits → two whole groups
    expect(emojiFingerprint('dd69z').map((e) => e.name)).toEqual(['Trophy', 'Fire']);
    expect(emojiFingerprint('zzzz')).toEqual([]);
  });

  it('groupedHex shows space-separated byte pairs', () => {
    expect(groupedHex('ABcdef0123')).toBe('ab cd ef 01 23');
    expect(groupedHex('a'.repeat(64)).split(' ')).toHaveLength(32);
    expect(groupedHex('')).toBe('');
  });

  it('isPin accepts only 64 lowercase hex chars', () => {
    expect(isPin('a'.repeat(64))).toBe(true);
    expect(isPin('A'.repeat(64))).toBe(false);
    expect(isPin('a'.repeat(63))).toBe(false);
    expect(isPin(42)).toBe(false);
  });

  it('the module has no imports at all (the renderer bundles it)', () => {
    const src = readFileSync(new URL('../fingerprint.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/^\s*import\s/m);
    expect(src).not.toMatch(/require\(/);
  });
});

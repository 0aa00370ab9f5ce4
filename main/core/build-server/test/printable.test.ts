import { describe, expect, it } from 'vitest';
import { printableName, printableOutput } from '../printable';

describe('printable text from senders', () => {
  it('names lose every control character and escape sequence', () => {
    expect(printableName('A\x1b]0;title\x07B\x1b[2JC\x1b[31mD\x1b[0m\rE\nF\x07\x9b2JG\u202eH\x1bPdcs\x1b\\I\tJ')).toBe('ABCDEFGHI J');
    expect(printableName('Küche 🔥')).toBe('Küche 🔥');
  });
  it('build output keeps SGR colours and drops the rest', () => {
    expect(printableOutput('\x1b[32mINFO\x1b[0m ok\x1b]0;pwned\x07\x1b[2J\x1b[HPassword:\x1b[?25l')).toBe('\x1b[32mINFO\x1b[0m okPassword:');
    expect(printableOutput('tab\tstays')).toBe('tab\tstays');
    expect(printableOutput('lone escape at end\x1b')).toBe('lone escape at end');
  });
});

// The option parsing shared by `kiln build` and `kiln pair` (args.ts), and both commands' use of it.
import { describe, expect, it } from 'vitest';
import { onePositional, parseStrictArgs } from '../args';
import { parseBuildArgs } from '../build-command';
import { PairUsageError, parsePairArgs } from '../pair-command';

class TestUsage extends Error {}
const usage = (m: string) => new TestUsage(m);
const OPTIONS = { name: { type: 'string' }, yes: { type: 'boolean', short: 'y' } } as const;

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

describe('parseStrictArgs', () => {
  it('returns typed values and positionals; --opt=value, short flags and options after positionals work', () => {
    const r = parseStrictArgs(['a.yaml', '--name=x', '-y'], OPTIONS, usage);
    expect(r.values).toEqual({ name: 'x', yes: true });
    expect(r.positionals).toEqual(['a.yaml']);
    expect(parseStrictArgs(['--name', 'y', 'b', 'c'], OPTIONS, usage)).toMatchObject({ values: { name: 'y' }, positionals: ['b', 'c'] });
  });

  it('unknown options, missing values and values on boolean flags become the caller\u2019s usage error', () => {
    for (const argv of [['--bogus'], ['--name'], ['--yes=1'], ['-z']]) {
      const err = thrown(() => parseStrictArgs(argv, OPTIONS, usage));
      expect(err, argv.join(' ')).toBeInstanceOf(TestUsage);
      expect(err.message.length).toBeGreaterThan(0);
    }
    expect(thrown(() => parseStrictArgs(['--bogus'], OPTIONS, usage)).message).toMatch(/bogus/);
  });
});

describe('onePositional', () => {
  it('returns the one argument; none or several are usage errors naming it', () => {
    expect(onePositional(['x'], '<yaml>', usage)).toBe('x');
    const none = thrown(() => onePositional([], '<yaml>', usage));
    expect(none).toBeInstanceOf(TestUsage);
    expect(none.message).toBe('missing <yaml>');
    expect(thrown(() => onePositional(['a', 'b'], '<host[:port]>', usage)).message).toBe('expected one <host[:port]>, got 2');
  });
});

describe('the commands through it', () => {
  it('kiln pair: its own usage error with the shared wording', () => {
    expect(thrown(() => parsePairArgs([], {}, '/'))).toBeInstanceOf(PairUsageError);
    expect(thrown(() => parsePairArgs([], {}, '/')).message).toBe('missing <host[:port]>');
    expect(thrown(() => parsePairArgs(['a', 'b'], {}, '/')).message).toBe('expected one <host[:port]>, got 2');
    expect(thrown(() => parsePairArgs(['h', '--bogus'], {}, '/'))).toBeInstanceOf(PairUsageError);
  });

  it('kiln build: the same wording for its <yaml>, and unknown options refused', () => {
    expect(thrown(() => parseBuildArgs([], {}, '/')).message).toBe('missing <yaml>');
    expect(thrown(() => parseBuildArgs(['a.yaml', 'b.yaml'], {}, '/')).message).toBe('expected one <yaml>, got 2');
    expect(thrown(() => parseBuildArgs(['a.yaml', '--bogus'], {}, '/')).message).toMatch(/bogus/);
  });
});

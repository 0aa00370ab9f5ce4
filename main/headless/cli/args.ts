// Option parsing shared by the `kiln` subcommands built on node:util's parseArgs (build, pair):
// strict (an unknown option or a missing value is a usage error, raised as the command's own
// error type so it prints its usage and exits 2) and exactly one positional argument.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Builds the command's usage error from a message. */
export type UsageErrorOf = (message: string) => Error;

/** parseArgs with positionals allowed and strict checking; its errors become usage errors. */
export function parseStrictArgs<O extends OptionsConfig>(args: string[], options: O, usageError: UsageErrorOf) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError((err as Error).message);
  }
}

/** The single positional argument, named `name` in the error (e.g. `<yaml>`). */
export function onePositional(positionals: readonly string[], name: string, usageError: UsageErrorOf): string {
  const only = positionals[0];
  if (positionals.length !== 1 || only === undefined) throw usageError(positionals.length === 0 ? `missing ${name}` : `expected one ${name}, got ${positionals.length}`);
  return only;
}

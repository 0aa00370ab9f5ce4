/**
 * The value, or a thrown Error when it is missing. Tests index arrays and maps whose contents
 * the test itself just checked or produced; `must(rows[0])` narrows such a read without a `!`
 * and fails the test with a plain message if the assumption is wrong.
 */
export function must<T>(value: T | undefined, what = 'a value'): T {
  if (value === undefined) throw new Error(`expected ${what}`);
  return value;
}

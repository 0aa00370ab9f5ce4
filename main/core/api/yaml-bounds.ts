// Bounds for YAML that comes from outside (an imported file, a configuration on disk): the
// `yaml` library composes flow collections recursively, so 500 KiB of `[[[[…` costs seconds of
// event loop before it ends in a stack overflow, and aliases can expand a small file into a huge
// tree. ESPHome configurations are a few KiB with flow nesting of two or three levels, so the
// limits below sit far above any real file and far below what can hurt the process.

import { MAX_IMPORT_YAML_BYTES } from '../../../preload/contract';

/** Largest YAML Kiln parses (UTF-8 bytes); the window checks the same number before sending. */
export const MAX_YAML_BYTES = MAX_IMPORT_YAML_BYTES;
/** Deepest flow-collection nesting (`[` / `{`) accepted. */
export const MAX_FLOW_DEPTH = 64;
/** Aliases resolved while converting to plain values (yaml's own default is 100). */
export const MAX_ALIAS_COUNT = 100;
/**
 * Lines plus flow-item separators (a stand-in for the number of nodes the parser builds): parse
 * time grows with it (~30 µs a node on a quiet 2-core machine), so it is capped at a level a
 * real configuration (a few thousand lines) never reaches.
 */
export const MAX_YAML_NODES = 10_000;
/** Alias tokens (`*name`) in the text; real files use a handful. */
export const MAX_ALIAS_TOKENS = 1_000;
/**
 * Block indicators (`- `, `: `, `? `) on one line: each opens a nested compact collection and
 * the parser recurses once per level (`: : : …` ×2,500 overflowed its stack). Real lines hold one
 * or two; a lambda's C++ (`a ? b : c`, `std::`) stays far below.
 */
export const MAX_INDICATORS_PER_LINE = 64;

/**
 * Throws a plain-worded Error when `text` is over a bound; linear time. Every bracket counts,
 * also inside quotes, comments and lambdas: any cleverness about YAML's quoting rules here could
 * be out-guessed by a crafted file, and real files (balanced C++ braces, a few flow lists) stay
 * far below the limit anyway.
 */
export function checkYamlBounds(text: string): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_YAML_BYTES) throw new Error(`it is larger than ${MAX_YAML_BYTES / 1024} KiB (${bytes} bytes)`);
  let depth = 0;
  let nodes = 0;
  let aliases = 0;
  let indicators = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) indicators = 0;
    else if ((c === 0x2d || c === 0x3a || c === 0x3f) && (i + 1 === text.length || text.charCodeAt(i + 1) === 0x20 || text.charCodeAt(i + 1) === 0x0a || text.charCodeAt(i + 1) === 0x09)) {
      if (++indicators > MAX_INDICATORS_PER_LINE) throw new Error(`it nests more than ${MAX_INDICATORS_PER_LINE} collections on one line`);
    }
    if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_FLOW_DEPTH) throw new Error(`it nests lists or mappings more than ${MAX_FLOW_DEPTH} levels deep`);
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
    else if (c === 0x0a || c === 0x2c) {
      if (++nodes > MAX_YAML_NODES) throw new Error(`it has more than ${MAX_YAML_NODES} lines and list items`);
    } else if (c === 0x2a && (i === 0 || /[\s[{,:]/.test(text.charAt(i - 1))) && /[^\s,[\]{}]/.test(text[i + 1] ?? ' ')) {
      if (++aliases > MAX_ALIAS_TOKENS) throw new Error(`it uses more than ${MAX_ALIAS_TOKENS} aliases`);
    }
  }
}

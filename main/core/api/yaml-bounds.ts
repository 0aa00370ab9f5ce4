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
 * Throws a plain-worded Error when `text` is over a bound; linear time. Every bracket counts,
 * also inside quotes, comments and lambdas: any cleverness about YAML's quoting rules here could
 * be out-guessed by a crafted file, and real files (balanced C++ braces, a few flow lists) stay
 * far below the limit anyway.
 */
export function checkYamlBounds(text: string): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_YAML_BYTES) throw new Error(`it is larger than ${MAX_YAML_BYTES / 1024} KiB (${bytes} bytes)`);
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_FLOW_DEPTH) throw new Error(`it nests lists or mappings more than ${MAX_FLOW_DEPTH} levels deep`);
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
}

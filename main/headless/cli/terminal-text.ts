// What may reach the user's terminal from outside. Build output from a build server (and from
// esphome) is shown with its colours, but a hostile build server could also send an OSC title
// change, a clear-screen, cursor moves or a fake password prompt. So build output keeps SGR
// (colour/style: `ESC [ <digits;:> m`) and line structure, and loses every other escape or
// control sequence; names and labels lose all control characters.

/** Build output for a terminal: SGR kept, every other escape/control sequence removed. */
export function sanitizeBuildOutput(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === 0x1b) {
      const end = escapeEnd(text, i);
      const seq = text.slice(i, end);
      if (/^\x1b\[[0-9;:]*m$/.test(seq)) out += seq;
      i = end;
      continue;
    }
    if (c === 0x0d) {
      // A bare CR would let later text overwrite what is on the line (a fake prompt over a real
      // one); CRLF is a line end. PlatformIO's progress redraws become separate lines.
      out += '\n';
      i += text.charCodeAt(i + 1) === 0x0a ? 2 : 1;
      continue;
    }
    if (c === 0x9b) {
      // 8-bit CSI: skip the whole sequence, never kept.
      i = csiEnd(text, i + 1);
      continue;
    }
    if (isControl(c) && c !== 0x0a && c !== 0x09) {
      i++;
      continue;
    }
    out += text[i];
    i++;
  }
  return out;
}

/** A single-line name or label: every control character removed (C0, DEL, C1). */
export function plainText(text: string): string {
  return text.replace(/\x1b\[[0-9;:?]*[ -/]*[@-~]|[\x00-\x1f\x7f-\x9f]/g, '');
}

function isControl(c: number): boolean {
  return c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f);
}

/** Index just past the escape sequence that starts at `i` (text[i] === ESC). */
function escapeEnd(text: string, i: number): number {
  const next = text[i + 1];
  if (next === undefined) return i + 1;
  if (next === '[') return csiEnd(text, i + 2);
  // OSC, DCS, SOS, PM, APC: a string up to ST (ESC \) or BEL; unterminated = to the end.
  if (next === ']' || next === 'P' || next === 'X' || next === '^' || next === '_') {
    for (let j = i + 2; j < text.length; j++) {
      if (text.charCodeAt(j) === 0x07) return j + 1;
      if (text.charCodeAt(j) === 0x1b && text[j + 1] === '\\') return j + 2;
    }
    return text.length;
  }
  // nF sequences: intermediates (0x20–0x2f) then a final byte; other two-byte escapes (ESC c…).
  let j = i + 1;
  while (j < text.length && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
  return Math.min(j + 1, text.length);
}

/** Index just past a CSI body starting at `j`: parameters, intermediates, one final byte. */
function csiEnd(text: string, j: number): number {
  while (j < text.length && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x3f) j++;
  while (j < text.length && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
  return Math.min(j + 1, text.length);
}

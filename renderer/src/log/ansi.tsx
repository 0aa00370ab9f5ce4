// ANSI → React elements (never innerHTML, so the CSP holds and log text cannot inject markup).
// esphome --dashboard prints ESC as the literal text `\033`; real ESC bytes also occur (from
// PlatformIO/esptool). Both are rendered the same; non-SGR sequences (cursor moves, erase) are
// dropped by anser. Lines without colour get ESPHome's log-level colours. Colour state carries
// across lines (ansi-state.ts): a line starts with the state the previous ones left.
import Anser from 'anser';
import { memo, type ReactNode } from 'react';

const LITERAL_ESC = /\\(?:033|x1b|x1B|u001b|e)\[/g;
const HAS_ESC = /\x1b\[|\\(?:033|x1b|x1B|u001b|e)\[/;
/** `[12:00:01][W][wifi:123]:` or a bare `[W][wifi]` prefix, or esphome's `INFO ` / `WARNING ` / `ERROR `. */
const LEVEL = /^(?:\[\d\d:\d\d:\d\d(?:\.\d+)?\])?\[([EWICDV]|VV)\]|^(INFO|WARNING|ERROR|DEBUG) /;
const LEVEL_CLASS: Record<string, string> = {
  E: 'lvl-e',
  ERROR: 'lvl-e',
  W: 'lvl-w',
  WARNING: 'lvl-w',
  I: 'lvl-i',
  INFO: 'lvl-i',
  C: 'lvl-c',
  D: 'lvl-d',
  DEBUG: 'lvl-d',
  V: 'lvl-v',
  VV: 'lvl-v',
};

export function stripTerminator(line: string): string {
  return line.replace(/\r?\n$|\r$/, '');
}

export function normaliseEscapes(text: string): string {
  return text.replace(LITERAL_ESC, '\x1b[');
}

export interface Segment {
  text: string;
  className: string;
  color?: string;
  background?: string;
}

/** `initial`: the SGR state carried in from earlier lines ("" = default; see ansi-state.ts). */
export function toSegments(raw: string, initial = ''): Segment[] {
  const line = stripTerminator(raw);
  const plain = !HAS_ESC.test(line);
  if (plain && !initial) {
    const m = LEVEL.exec(line);
    const lvl = m ? LEVEL_CLASS[m[1] ?? m[2] ?? ''] : undefined;
    return [{ text: line, className: lvl ?? '' }];
  }
  const text = (initial ? `\x1b[${initial}m` : '') + (plain ? line : normaliseEscapes(line));
  const entries = Anser.ansiToJson(text, { use_classes: true, remove_empty: true });
  const out: Segment[] = [];
  for (const e of entries) {
    if (!e.content) continue;
    const classes: string[] = [];
    const seg: Segment = { text: e.content, className: '' };
    if (e.fg === 'ansi-truecolor' && e.fg_truecolor) seg.color = `rgb(${e.fg_truecolor})`;
    else if (e.fg) classes.push(`${e.fg}-fg`);
    if (e.bg === 'ansi-truecolor' && e.bg_truecolor) seg.background = `rgb(${e.bg_truecolor})`;
    else if (e.bg) classes.push(`${e.bg}-bg`);
    for (const d of e.decorations) classes.push(`ansi-${d}`);
    seg.className = classes.join(' ');
    out.push(seg);
  }
  return out;
}

function render(raw: string, state: string): ReactNode {
  const segs = toSegments(raw, state);
  const only = segs.length === 1 ? segs[0] : undefined;
  if (only && !only.color && !only.background) {
    return only.className ? <span className={only.className}>{only.text}</span> : only.text;
  }
  return segs.map((s, i) => (
    <span
      key={i}
      className={s.className || undefined}
      // A React style object is applied through the CSSOM, which `style-src 'self'` allows.
      style={s.color || s.background ? { color: s.color, backgroundColor: s.background } : undefined}
    >
      {s.text}
    </span>
  ));
}

export const AnsiLine = memo(function AnsiLine({ text, state = '' }: { text: string; state?: string }) {
  return <>{render(text, state)}</>;
});

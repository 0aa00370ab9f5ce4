// SGR (colour/style) state that carries from one log line to the next, like a terminal
// (ui-and-users.md §2). A state is the SGR parameter string that recreates it ("1;31", "" =
// default), so it is cheap to store, compare and prepend to the next line for the renderer.
// Pure functions, no React: LogBuffer memoises the state per line lazily (log-buffer.ts).

/** A real ESC or esphome --dashboard's literal `\033` form, followed by `[`. */
const ESC_INTRO = /\x1b\[|\\(?:033|x1b|x1B|u001b|e)\[/;
/** Only SGR sequences (`…m`) change colours; cursor moves and erases are ignored. */
const SGR_SEQ = /(?:\x1b|\\(?:033|x1b|x1B|u001b|e))\[([0-9;]*)m/g;

interface Sgr {
  /** Attribute codes that are on (1 bold … 9 strikethrough). */
  attrs: number[];
  /** "" default, "31", "91", "38;5;n", "38;2;r;g;b". */
  fg: string;
  bg: string;
}

/** Attribute code → the codes that turn it off. */
const ATTR_OFF: Record<number, number[]> = { 21: [1], 22: [1, 2], 23: [3], 24: [4], 25: [5], 27: [7], 28: [8], 29: [9] };

function parse(state: string): Sgr {
  const s: Sgr = { attrs: [], fg: '', bg: '' };
  if (state) apply(s, state);
  return s;
}

function serialise(s: Sgr): string {
  const parts = [...s.attrs].sort((a, b) => a - b).map(String);
  if (s.fg) parts.push(s.fg);
  if (s.bg) parts.push(s.bg);
  return parts.join(';');
}

/** Applies one SGR parameter list ("1;31", "" = reset) to `s`. */
function apply(s: Sgr, params: string): void {
  const p = params === '' ? [0] : params.split(';').map((x) => (x === '' ? 0 : Number(x)));
  for (let i = 0; i < p.length; i++) {
    const n = p[i]!;
    if (n === 0) {
      s.attrs = [];
      s.fg = '';
      s.bg = '';
    } else if (n >= 1 && n <= 9) {
      const code = n === 6 ? 5 : n;
      if (!s.attrs.includes(code)) s.attrs.push(code);
    } else if (ATTR_OFF[n]) {
      s.attrs = s.attrs.filter((a) => !ATTR_OFF[n]!.includes(a));
    } else if ((n >= 30 && n <= 37) || (n >= 90 && n <= 97)) {
      s.fg = String(n);
    } else if ((n >= 40 && n <= 47) || (n >= 100 && n <= 107)) {
      s.bg = String(n);
    } else if (n === 39) {
      s.fg = '';
    } else if (n === 49) {
      s.bg = '';
    } else if (n === 38 || n === 48) {
      // Extended colours: 5;n (256) or 2;r;g;b (truecolour). A truncated one is dropped.
      const mode = p[i + 1];
      const take = mode === 5 ? 2 : mode === 2 ? 4 : 0;
      if (take === 0 || i + take >= p.length) break;
      const value = `${n};${p.slice(i + 1, i + 1 + take).join(';')}`;
      if (n === 38) s.fg = value;
      else s.bg = value;
      i += take;
    }
  }
}

/** Whether a line can change the state at all (the fast path for the common plain line). */
export function hasEscape(line: string): boolean {
  // indexOf first: far cheaper than the regex for the many lines without any '['.
  return line.indexOf('[') >= 0 && ESC_INTRO.test(line);
}

/** The state after `line`, given the state before it. */
export function sgrStateAfter(line: string, before: string): string {
  if (!hasEscape(line)) return before;
  const params: string[] = [];
  let lastReset = -1;
  SGR_SEQ.lastIndex = 0;
  for (let m = SGR_SEQ.exec(line); m; m = SGR_SEQ.exec(line)) {
    // A plain reset wipes everything before it: esphome's lines end with one, so most lines
    // come out as "" without applying anything.
    if (m[1] === '' || m[1] === '0') lastReset = params.length;
    params.push(m[1] ?? '');
  }
  if (params.length === 0) return before;
  if (lastReset === params.length - 1) return '';
  const s = lastReset >= 0 ? parse('') : parse(before);
  for (let i = lastReset + 1; i < params.length; i++) apply(s, params[i]!);
  return serialise(s);
}

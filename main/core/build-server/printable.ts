// Text from a sender (labels, device names, its build's output) printed on the build server's
// terminal: control characters and escape sequences would let a sender retitle the window, clear
// the screen or draw a fake prompt there. `printableName` removes every one of them;
// `printableOutput` keeps SGR colour sequences (ESC [ … m) of build output and drops the rest.

// ESC-introduced sequences: CSI (ESC [ params final), OSC/DCS/SOS/PM/APC strings up to BEL or
// ST, and two-character escapes. The 8-bit C1 introducers (0x9b CSI, 0x9d OSC, …) likewise.
const STRING_SEQ = /(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|$)/g;
const CSI_SEQ = /(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?/g;
const TWO_CHAR_ESC = /\x1b[\x20-\x7e]?/g;
// C0 except TAB, DEL, C1, and the Unicode bidi overrides/isolates (they reorder what follows).
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const SGR = /^\x1b\[[0-9;:]*m$/;

/** A sender-chosen name or label with every control character and escape sequence removed. */
export function printableName(text: string): string {
  return text.replace(STRING_SEQ, '').replace(CSI_SEQ, '').replace(TWO_CHAR_ESC, '').replace(CONTROLS, '').replace(/\t/g, ' ');
}

/** One line of build output: SGR colours kept, every other escape and control removed. */
export function printableOutput(line: string): string {
  return line
    .replace(STRING_SEQ, '')
    .replace(CSI_SEQ, (seq) => (SGR.test(seq) ? seq : ''))
    .replace(/\x1b(?!\[[0-9;:]*m)[\x20-\x7e]?/g, '')
    .replace(CONTROLS, (c) => (c === '\x1b' ? c : ''));
}

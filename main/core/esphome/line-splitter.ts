// Byte stream → output chunks (firmware-jobs.md §8): split at `\n` or a bare `\r`, `\r\n` is one
// terminator, every chunk keeps its terminator, UTF-8 decoded with replacement, a trailing
// partial chunk flushed at EOF. Splitting on bytes is safe for UTF-8: 0x0A/0x0D never occur inside
// a multi-byte sequence, so each chunk is decoded on its own.

const LF = 0x0a;
const CR = 0x0d;

/** An unterminated run longer than this is emitted as is so one endless line cannot exhaust memory. */
export const MAX_PARTIAL_BYTES = 1024 * 1024;

export class LineSplitter {
  private parts: Buffer[] = [];
  private partLen = 0;
  /** A `\r` at the end of the data seen so far: `\r\n` or a bare `\r`, decided by the next byte. */
  private pendingCR = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly emit: (chunk: string) => void) {}

  push(data: Uint8Array): void {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let start = 0;
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (buf.length > 0 && buf[0] === LF) {
        this.flush(Buffer.from('\r\n'));
        start = i = 1;
      } else {
        this.flush(Buffer.from('\r'));
      }
    }
    for (; i < buf.length; i++) {
      const b = buf[i];
      if (b === LF) {
        this.flush(buf.subarray(start, i + 1));
        start = i + 1;
      } else if (b === CR) {
        if (i + 1 < buf.length) {
          const end = buf[i + 1] === LF ? i + 2 : i + 1;
          this.flush(buf.subarray(start, end));
          i = end - 1;
          start = end;
        } else {
          // Terminator undecided until the next read: keep the body, remember the CR.
          this.append(buf.subarray(start, i));
          this.pendingCR = true;
          start = buf.length;
        }
      }
    }
    if (start < buf.length) {
      this.append(buf.subarray(start));
      if (this.partLen >= MAX_PARTIAL_BYTES) this.flush(Buffer.alloc(0));
    }
  }

  /** EOF: emit whatever is left (a lone `\r` is a bare-CR terminator). */
  end(): void {
    if (this.pendingCR) {
      this.pendingCR = false;
      this.flush(Buffer.from('\r'));
    } else if (this.partLen > 0) {
      this.flush(Buffer.alloc(0));
    }
  }

  private append(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(Buffer.from(b));
    this.partLen += b.length;
  }

  private flush(tail: Buffer): void {
    const bytes = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail]);
    this.parts = [];
    this.partLen = 0;
    if (bytes.length === 0) return;
    this.emit(this.decoder.decode(bytes));
  }
}

/** Splits already-decoded text the same way (logs on disk, wire output, tests). */
export function splitChunks(text: string): string[] {
  return text.match(/[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+/g) ?? [];
}

/**
 * The lines of one received `job_output` value (several when the build server coalesced them),
 * terminators kept. A single line (the common case) skips the regex.
 */
export function outputLines(text: string): string[] {
  const nl = text.indexOf('\n');
  if ((nl === -1 || nl === text.length - 1) && !text.includes('\r')) return [text];
  return splitChunks(text);
}

import { describe, expect, it } from 'vitest';
import { APP_FRAME_MAX_BYTES, NOISE_TAG_BYTES } from '../../peer-link/transfer';
import { capErrorMessage, coerceDisplayName, coerceVersion, ERROR_MESSAGE_MAX_CHARS, parseChunk, parseSubmitHeader, splitOutputLine } from '../frame-parse';

const frameBytes = (jobId: string, line: string) =>
  Buffer.byteLength(JSON.stringify({ type: 'job_output', job_id: jobId, stream: 'stdout', line })) + NOISE_TAG_BYTES;

describe('splitOutputLine', () => {
  it('keeps a normal line whole', () => {
    expect(splitOutputLine('abc', 'INFO hello\n')).toEqual(['INFO hello\n']);
  });

  it.each([
    ['ascii', 'x'.repeat(200_000) + '\n'],
    ['quotes and control chars', '"\u0001\\'.repeat(30_000) + '\r\n'],
    ['multi-byte and astral', 'é€😀'.repeat(20_000) + '\r'],
    ['no terminator', 'y'.repeat(70_000)],
  ])('splits an oversized %s line under the frame cap, terminator only on the last piece', (_n, line) => {
    const pieces = splitOutputLine('0123456789ab', line);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(line);
    for (const p of pieces) expect(frameBytes('0123456789ab', p)).toBeLessThanOrEqual(APP_FRAME_MAX_BYTES);
    for (const p of pieces.slice(0, -1)) expect(/[\r\n]$/.test(p)).toBe(false);
    const term = /(\r\n|\n|\r)$/.exec(line)?.[0];
    if (term) expect(pieces.at(-1)!.endsWith(term)).toBe(true);
    // pieces are filled: all but the last use most of the budget
    for (const p of pieces.slice(0, -1)) expect(frameBytes('0123456789ab', p)).toBeGreaterThan(APP_FRAME_MAX_BYTES - 8);
  });

  it('around the unmeasured fast path: worst-case escaping lines just below and above it stay under the cap', () => {
    const id = 'job-0123456789';
    // A control char escapes to six bytes: the fast path's own worst case.
    for (let n = 10_170; n <= 10_260; n += 3) {
      const line = '\u0001'.repeat(n) + '\n';
      const pieces = splitOutputLine(id, line);
      expect(pieces.join('')).toBe(line);
      for (const p of pieces) expect(frameBytes(id, p)).toBeLessThanOrEqual(APP_FRAME_MAX_BYTES);
      if (frameBytes(id, line) <= APP_FRAME_MAX_BYTES) expect(pieces).toEqual([line]);
    }
    // A small cap still refuses as before.
    expect(() => splitOutputLine('', '', 80)).toThrow(/too small/);
  });

  it('never splits a surrogate pair', () => {
    const pieces = splitOutputLine('j', '😀'.repeat(40_000) + '\n');
    for (const p of pieces) expect(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(p)).toBe(false);
  });
});

describe('frame schema', () => {
  const header = { type: 'submit_job', job_id: 'a', configuration_filename: 'x.yaml', target: 'compile', total_bundle_bytes: 3, num_chunks: 1, bundle_sha256: 'f' };
  it('accepts the header and rejects wrong types (bool never an int)', () => {
    expect(parseSubmitHeader(header)).not.toBeNull();
    expect(parseSubmitHeader({ ...header, total_bundle_bytes: true })).toBeNull();
    expect(parseSubmitHeader({ ...header, num_chunks: 1.5 })).toBeNull();
    expect(parseSubmitHeader({ ...header, job_id: 7 })).toBeNull();
    expect(parseSubmitHeader({ ...header, bundle_sha256: undefined })).toBeNull();
  });
  it('chunk schema', () => {
    const c = { type: 'submit_job_chunk', job_id: 'a', chunk_index: 0, data_b64: '', is_last: true };
    expect(parseChunk(c)).not.toBeNull();
    expect(parseChunk({ ...c, is_last: 1 })).toBeNull();
    expect(parseChunk({ ...c, chunk_index: '0' })).toBeNull();
    expect(parseChunk({ ...c, chunk_index: false })).toBeNull();
  });
  it('coerces display names and versions', () => {
    expect(coerceDisplayName('Kitchen')).toBe('Kitchen');
    expect(coerceDisplayName(5)).toBe('');
    expect(coerceDisplayName('x'.repeat(257))).toBe('');
    expect(coerceVersion('2025.12.2')).toBe('2025.12.2');
    expect(coerceVersion('2026.2.0b1')).toBe('2026.2.0b1');
    expect(coerceVersion('2026.2.0.dev20260101')).toBe('2026.2.0.dev20260101');
    expect(coerceVersion('1.0; rm -rf /')).toBe('');
    expect(coerceVersion('9'.repeat(65))).toBe('');
    expect(coerceVersion(2025)).toBe('');
  });
  it('caps error_message', () => {
    expect(capErrorMessage('boom')).toBe('boom');
    expect(capErrorMessage(null)).toBe('');
    expect(capErrorMessage('e'.repeat(100_000)).length).toBeLessThanOrEqual(ERROR_MESSAGE_MAX_CHARS);
  });
});

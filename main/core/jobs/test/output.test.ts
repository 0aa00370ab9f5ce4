import { describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { ingestChunk } from '../ingest';
import { createJob } from '../model';
import { appendChunk, parseTrimNotice, trimNotice, trimTerminal, TRIM_NOTICE_PREFIX } from '../output';

/** Number of real output entries (the notice is not output). */
const outputLineCount = (output: readonly string[]): number => (parseTrimNotice(output[0]) === null ? output.length : output.length - 1);

describe('CR collapse', () => {
  it('a chunk after an entry ending in \\r replaces it unless it is a bare \\n', () => {
    const out: string[] = [];
    for (const c of ['start\n', 'Uploading 10%\r', 'Uploading 50%\r', 'Uploading 100% Done\r\n', 'next\n']) appendChunk(out, c);
    expect(out).toEqual(['start\n', 'Uploading 100% Done\r\n', 'next\n']);
    const out2: string[] = [];
    for (const c of ['bar 100%\r', '\n', 'after\n']) appendChunk(out2, c);
    expect(out2).toEqual(['bar 100%\r', '\n', 'after\n']);
  });

  it('job_output fires for every chunk, collapsed or not', () => {
    const bus = new EventBus();
    const job = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    const lines: string[] = [];
    bus.on('job_output', (e) => lines.push(e.line));
    for (const c of ['a\r', 'b\r', 'c\n']) ingestChunk(job, bus, c);
    expect(lines).toEqual(['a\r', 'b\r', 'c\n']);
    expect(job.output).toEqual(['c\n']);
  });
});

describe('output caps', () => {
  it('trims a running job above 4000 entries to its last 2000 with the notice, accumulating N', () => {
    const bus = new EventBus();
    const job = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    for (let i = 0; i < 4000; i++) ingestChunk(job, bus, `l${i}\n`);
    expect(job.output.length).toBe(4000);
    ingestChunk(job, bus, 'l4000\n');
    expect(job.output.length).toBe(2001);
    expect(job.output[0]).toBe('... [output trimmed: 2001 earlier line(s) elided]\n');
    expect(job.output[1]).toBe('l2001\n');
    expect(job.output[2000]).toBe('l4000\n');
    for (let i = 4001; i <= 6000; i++) ingestChunk(job, bus, `l${i}\n`);
    expect(outputLineCount(job.output)).toBe(4000);
    ingestChunk(job, bus, 'l6001\n');
    expect(job.output[0]).toBe(trimNotice(2001 + 2001));
    expect(parseTrimNotice(job.output[0])).toBe(4002);
    expect(job.output[1]).toBe('l4002\n');
    expect(job.output.at(-1)).toBe('l6001\n');
  });

  it('under the cap nothing is copied, with or without a notice (the check runs on every chunk)', () => {
    const job = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    job.output = [trimNotice(3), ...Array.from({ length: 3999 }, (_, i) => `x${i}\n`)];
    const before = job.output;
    ingestChunk(job, new EventBus(), 'last\n');
    expect(job.output).toBe(before);
    expect(outputLineCount(job.output)).toBe(4000);
  });

  it('trims a terminal job to 2000 entries, adding to an existing notice', () => {
    const job = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    job.output = [trimNotice(7), ...Array.from({ length: 2500 }, (_, i) => `x${i}\n`)];
    expect(trimTerminal(job)).toBe(true);
    expect(job.output.length).toBe(2001);
    expect(job.output[0]).toBe(`${TRIM_NOTICE_PREFIX} 507 earlier line(s) elided]\n`);
    expect(job.output[1]).toBe('x500\n');
    const small = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    small.output = ['a\n'];
    expect(trimTerminal(small)).toBe(false);
  });
});

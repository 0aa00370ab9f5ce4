import { describe, expect, it } from 'vitest';
import { EventBus } from '../../events';
import { ingestChunk, resetProgress } from '../ingest';
import { createJob } from '../model';
import { compilePhaseMarker, parseProgress, stripAnsi } from '../progress';

describe('parseProgress: the four patterns', () => {
  it('1: PlatformIO per-file [ NN%]', () => {
    expect(parseProgress('[ 17%] Compiling foo.cpp.o\n', 0)?.progress).toBe(17);
    expect(parseProgress('  [100%] Linking\n', 0)?.progress).toBe(100);
  });
  it('2: esptool v4 (NN %)', () => {
    expect(parseProgress('Writing at 0x00010000... (45 %)\n', 0)?.progress).toBe(45);
  });
  it('3: esptool v5 Writing at … NN.N% (unanchored, integer part)', () => {
    expect(parseProgress('Writing at 0x0008f3c0 [============>                 ]  42.1% 278528/662311 bytes...\r', 0)?.progress).toBe(42);
    expect(parseProgress('\x1b[2KWriting at 0x0010b2a0 [====] 100.0% 662311/662311 bytes...\n', 0)?.progress).toBe(100);
  });
  it('4: ESPHome OTA Uploading: … NN%', () => {
    expect(parseProgress('Uploading: [=============                 ] 33% \r', 0)?.progress).toBe(33);
    expect(parseProgress('Uploading: [============================================================] 100% Done...\r\n', 0)?.progress).toBe(100);
  });
  it('first matching pattern decides; out-of-range values are rejected', () => {
    expect(parseProgress('[150%] weird\n', 0)).toBeNull();
    // pattern 1 wins over a later (NN %) on the same line
    expect(parseProgress('[ 10%] Writing (90 %)\n', 0)?.progress).toBe(10);
  });
  it('download bars and RAM/Flash lines are not progress', () => {
    expect(parseProgress('Downloading  [####################################]  100%\n', 0)).toBeNull();
    expect(parseProgress('Unpacking  [#########                    ]  30%\n', 0)).toBeNull();
    expect(parseProgress('RAM:   [=         ]  11.6% (used 38012 bytes from 327680 bytes)\n', 0)).toBeNull();
    expect(parseProgress('Flash: [======    ]  58.1% (used 1066817 bytes from 1835008 bytes)\n', 0)).toBeNull();
    expect(parseProgress('INFO Compiling app...\n', 0)).toBeNull();
  });
  it('matches on a copy without real CSI or the literal \\033[ form', () => {
    expect(parseProgress('\\033[0;36mUploading: [==  ] 12% \r', 0)?.progress).toBe(12);
    expect(parseProgress('\x1b[0;36mUploading: [==  ] 13% \r', 0)?.progress).toBe(13);
    expect(stripAnsi('\\033[1;31mERR\\033[0m \x1b[32mok\x1b[0m')).toBe('ERR ok');
  });
});

describe('parseProgress: ninja gate', () => {
  it('counts [done/total] when total >= 100 and done <= total', () => {
    expect(parseProgress('[50/200] Building C object x.obj\r', 0)).toEqual({ progress: 25, ninjaTotal: 200 });
    expect(parseProgress('\x1b[0;32m[199/200] Linking\n', 0)).toEqual({ progress: 99, ninjaTotal: 200 });
    expect(parseProgress('\\033[0;32m[3/300] Building\r', 0)).toEqual({ progress: 1, ninjaTotal: 300 });
  });
  it('ignores small sub-builds, done > total, and totals smaller than the largest seen', () => {
    expect(parseProgress('[99/99] Building bootloader\r', 0)).toBeNull();
    expect(parseProgress('[201/200] x\r', 0)).toBeNull();
    expect(parseProgress('[123/123] bootloader\r', 400)).toBeNull();
    expect(parseProgress('[400/400] app\r', 400)).toEqual({ progress: 100, ninjaTotal: 400 });
  });
  it('needs the trailing space', () => {
    expect(parseProgress('[5/200]x\n', 0)).toBeNull();
  });
});

describe('compilePhaseMarker', () => {
  it('stamps start on compile lines, ninja counters, [NN%]; end on success/failure banners', () => {
    expect(compilePhaseMarker('Compiling .pioenvs/x/src/main.cpp.o\n', false)).toBe('start');
    expect(compilePhaseMarker('Reading CMake configuration...\n', false)).toBe('start');
    expect(compilePhaseMarker('[1/10] Building\r', false)).toBe('start');
    expect(compilePhaseMarker('[ 5%] x\n', false)).toBe('start');
    expect(compilePhaseMarker('INFO Generating C++ source...\n', false)).toBeNull();
    expect(compilePhaseMarker('===== [SUCCESS] Took 3.2 seconds =====\n', true)).toBe('end');
    expect(compilePhaseMarker('INFO Successfully compiled program.\n', true)).toBe('end');
    expect(compilePhaseMarker('ninja: build stopped: subcommand failed.\n', true)).toBe('end');
    expect(compilePhaseMarker('===== [SUCCESS] Took 3.2 seconds =====\n', false)).toBeNull();
  });
});

describe('ingestChunk progress publishing', () => {
  it('publishes only rising values, keeps ninja_total, and resets explicitly', () => {
    const bus = new EventBus();
    const job = createJob({ configuration: 'a.yaml', job_type: 'upload' });
    const seen: number[] = [];
    bus.on('job_progress', (p) => seen.push(p.progress));
    for (const l of ['Writing at 0x1 (10 %)\n', 'Writing at 0x1 (50 %)\n', 'Writing at 0x1 (100 %)\n', 'Writing at 0x2 (0 %)\n', 'Writing at 0x2 (100 %)\n']) {
      ingestChunk(job, bus, l);
    }
    expect(seen).toEqual([10, 50, 100]);
    resetProgress(job, bus);
    ingestChunk(job, bus, 'Uploading: [=] 5% \r');
    expect(seen).toEqual([10, 50, 100, 0, 5]);
    expect(job.progress).toBe(5);
  });

  it('first progress 0 is published; ninja bootloader counter cannot latch 100', () => {
    const bus = new EventBus();
    const job = createJob({ configuration: 'a.yaml', job_type: 'compile' });
    const seen: number[] = [];
    bus.on('job_progress', (p) => seen.push(p.progress));
    ingestChunk(job, bus, '[0/500] start\r');
    ingestChunk(job, bus, '[123/123] bootloader\r');
    ingestChunk(job, bus, '[250/500] app\r');
    expect(seen).toEqual([0, 50]);
    expect(job.ninja_total).toBe(500);
    expect(job.compile_started_at).not.toBeNull();
  });
});

// Upload lane concurrency (firmware-jobs.md §4): 4, or 9 when the installed esphome is ≥ 2026.8
// (reported through setEsphomeVersion), unless EngineOptions.uploadSlots fixes it. The engine test
// counts real concurrent fake-esphome uploads.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Lane, UPLOAD_SLOTS, UPLOAD_SLOTS_LEAN_SUBPROCESS, uploadSlotsForVersion } from '../lanes';
import { createJob } from '../model';
import { Harness } from './helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';

describe('uploadSlotsForVersion', () => {
  it('9 from 2026.8 on (pre-releases included), else 4', () => {
    expect([UPLOAD_SLOTS, UPLOAD_SLOTS_LEAN_SUBPROCESS]).toEqual([4, 9]);
    const cases: Array<[string | null | undefined, number]> = [
      ['2025.12.2', 4],
      ['2026.1.0', 4],
      ['2026.7.3', 4],
      ['2026.8.0', 9],
      ['2026.8.0b1', 9],
      ['2026.8.0-dev', 9],
      ['2026.10.1', 9], // numeric month, not string order
      ['2027.1.0', 9],
      ['v2026.9.0', 9],
      ['1.14.5', 4],
      ['', 4],
      ['unknown', 4],
      [null, 4],
      [undefined, 4],
    ];
    for (const [v, n] of cases) expect([v, uploadSlotsForVersion(v)]).toEqual([v, n]);
  });
});

describe('Lane.setSlots', () => {
  it('raising lets more jobs start; lowering keeps running ones and waits for them', () => {
    const lane = new Lane('upload', 1);
    const jobs = [0, 1, 2].map((i) => createJob({ configuration: `d${i}.yaml`, job_type: 'upload' }));
    for (const j of jobs) lane.push(j);
    expect(lane.takeNext(() => true)).toBe(jobs[0]);
    expect(lane.takeNext(() => true)).toBeNull();
    lane.setSlots(3);
    expect(lane.slots).toBe(3);
    expect(lane.takeNext(() => true)).toBe(jobs[1]);
    lane.setSlots(1);
    expect(lane.runningCount).toBe(2);
    lane.push(must(jobs[2]));
    lane.release(must(jobs[0]).job_id);
    expect(lane.takeNext(() => true)).toBeNull(); // 1 running, 1 slot
    lane.release(must(jobs[1]).job_id);
    expect(lane.takeNext(() => true)).toBe(jobs[2]);
    expect(() => lane.setSlots(0)).toThrow(/positive integer/);
  });
});

describe('engine upload slots', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('default 4; setEsphomeVersion(≥ 2026.8) → 9; an explicit uploadSlots ignores the version', async () => {
    const e = await h.engine({ persist: false });
    expect(e.uploadSlots()).toBe(4);
    expect(e.esphomeVersion).toBe('');
    e.setEsphomeVersion('2026.8.1');
    expect(e.uploadSlots()).toBe(9);
    expect(e.esphomeVersion).toBe('2026.8.1');
    e.setEsphomeVersion('2025.12.2');
    expect(e.uploadSlots()).toBe(4);
    const fixed = await h.engine({ persist: false, uploadSlots: 2 });
    fixed.setEsphomeVersion('2026.8.0');
    expect(fixed.uploadSlots()).toBe(2);
  });

  it('real concurrency follows the version: 4 flashes at once, then 9 after the version is reported', async () => {
    const e = await h.engine({ persist: false, jobEnv: () => ({ FAKE_SLEEP_MS: '20000' }) });
    const uploads = Array.from({ length: 10 }, (_, i) => e.upload({ configuration: h.fake(`dev${i}.yaml`, 'sleep'), port: 'OTA' }));
    const running = () => uploads.filter((j) => j.status === 'running').length;
    await waitUntil(() => running() === 4);
    await new Promise((r) => setTimeout(r, 150));
    expect(running()).toBe(4);
    expect(e.queueStatus('upload').queue_depth).toBe(6);

    e.setEsphomeVersion('2026.8.0');
    await waitUntil(() => running() === 9);
    expect(e.queueStatus('upload').queue_depth).toBe(1);

    // Back to 4: nothing running is stopped, and nothing new starts until fewer than 4 run.
    e.setEsphomeVersion('2026.7.0');
    const running9 = uploads.filter((j) => j.status === 'running');
    await e.cancel(must(running9[0]).job_id);
    await e.whenDone(must(running9[0]).job_id);
    await new Promise((r) => setTimeout(r, 150));
    expect(running()).toBe(8);
    expect(e.queueStatus('upload').queue_depth).toBe(1);
    await e.stop();
  });
});

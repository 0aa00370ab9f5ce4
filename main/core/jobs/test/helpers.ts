// Shared test scaffolding: temp config/data dirs, YAML files, an engine wired to a real
// subprocess (the fake esphome fixture or the simulator), and an ordered event log.
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EventBus } from '../../events';
import { JobEngine, type EngineOptions } from '../engine';
import type { FirmwareJob } from '../model';

export const FAKE_ESPHOME = resolve(__dirname, 'fixtures/fake-esphome.mjs');
export const SIM_ESPHOME = resolve(__dirname, '../../../../tools/esphome-sim/esphome');

export interface RecordedEvent {
  name: string;
  job_id: string;
  status?: string;
  line?: string;
  progress?: number;
}

export class Harness {
  readonly configDir: string;
  readonly dataDir: string;
  readonly root: string;
  readonly engines: JobEngine[] = [];
  readonly events: RecordedEvent[] = [];

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'kiln-engine-'));
    this.configDir = join(this.root, 'config');
    this.dataDir = join(this.configDir, '.kiln');
    mkdirSync(this.configDir, { recursive: true });
  }

  yaml(name: string, body: string): string {
    const p = join(this.configDir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, body);
    return name;
  }

  /** A YAML the fake esphome reads its mode from. */
  fake(name: string, mode: string): string {
    return this.yaml(name, `# fake: ${mode}\nesphome:\n  name: ${name.replace(/\W.*$/, '')}\n`);
  }

  async engine(opts: Partial<EngineOptions> = {}, how: { start?: boolean } = {}): Promise<JobEngine> {
    const bus = opts.bus ?? new EventBus();
    const engine = new JobEngine({
      configDir: this.configDir,
      esphome: [FAKE_ESPHOME],
      terminateGraceMs: 300,
      drainMs: 200,
      outputPersistMs: 50,
      report: () => undefined,
      ...opts,
      bus,
    });
    this.record(bus);
    this.engines.push(engine);
    if (how.start !== false) await engine.start();
    return engine;
  }

  record(bus: EventBus): void {
    for (const name of ['job_queued', 'job_started', 'job_completed', 'job_failed', 'job_cancelled'] as const) {
      bus.on(name, ({ job }) => this.events.push({ name, job_id: job.job_id, status: job.status }));
    }
    bus.on('job_output', (e) => this.events.push({ name: 'job_output', job_id: e.job_id, line: e.line }));
    bus.on('job_progress', (e) => this.events.push({ name: 'job_progress', job_id: e.job_id, progress: e.progress }));
  }

  names(jobId?: string, filter: (n: string) => boolean = (n) => n !== 'job_output'): string[] {
    return this.events.filter((e) => (jobId === undefined || e.job_id === jobId) && filter(e.name)).map((e) => (jobId ? e.name : `${e.name}:${e.job_id}`));
  }

  output(jobId: string): string[] {
    return this.events.filter((e) => e.name === 'job_output' && e.job_id === jobId).map((e) => e.line!);
  }

  async cleanup(): Promise<void> {
    for (const e of this.engines.splice(0)) await e.stop().catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const terminal = (j: FirmwareJob): boolean => ['completed', 'failed', 'cancelled'].includes(j.status);

/** Linux: state letter from /proc/<pid>/stat ('Z' = zombie), null if the process is gone. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** Dead = gone or a zombie waiting for its (possibly slow) reaper. */
export function processDead(pid: number): boolean {
  if (!existsSync('/proc/self/stat')) return !pidAlive(pid);
  const s = procState(pid);
  return s === null || s === 'Z';
}

/** Live (non-zombie) members of a process group. */
export function liveGroupMembers(pgid: number): number[] {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(name));
    } catch {
      // exited while scanning
    }
  }
  return out;
}

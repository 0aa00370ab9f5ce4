// Records every successful compile in the firmware library. A local compile and a remote one
// (its artifacts are staged into the local build tree before the job completes, remote-runner.ts
// §10 step 9) both end with `job_completed` and leave esphome's storage.json naming the build
// path and the firmware image; the recorder reads that sidecar, collects the images, computes
// the configuration digest and adds a write-once entry. Recording never fails the job: problems
// are reported as a warning.
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { esphomeDataDir, storageJsonPath } from '../esphome/storage-json';
import type { FirmwareJob } from '../jobs/model';
import type { ConfigDigester } from './digest';
import type { FirmwareLibrary, LibraryEntry, NewImage } from './store';

/** Other images in the firmware folder esphome/esptool use to flash over serial. */
const PART_FILES = ['bootloader.bin', 'partitions.bin', 'ota_data_initial.bin'];

export interface RecorderOptions {
  library: FirmwareLibrary;
  digester: ConfigDigester;
  configDir: string;
  /** Environment esphome ran with (ESPHOME_DATA_DIR etc.) for a job. */
  envFor: (job: FirmwareJob) => Record<string, string | undefined>;
  report: (message: string) => void;
  now?: () => number;
}

interface StorageFacts {
  name: string;
  buildPath: string;
  firmwareBin: string;
  esphomeVersion: string;
  platform: string;
  board: string;
}

export async function readStorageFacts(path: string): Promise<StorageFacts | null> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const s = (k: string): string => (typeof raw?.[k] === 'string' ? (raw[k]) : '');
  if (!s('build_path') || !s('firmware_bin_path')) return null;
  return { name: s('name'), buildPath: s('build_path'), firmwareBin: s('firmware_bin_path'), esphomeVersion: s('esphome_version'), platform: s('esp_platform') || s('core_platform'), board: s('board') };
}

function relInside(root: string, p: string): string | null {
  const r = relative(root, p);
  if (r === '' || r.startsWith('..') || isAbsolute(r)) return null;
  return r.split(sep).join('/');
}

const exists = (p: string): Promise<boolean> => stat(p).then((st) => st.isFile(), () => false);

export class FirmwareRecorder {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly opts: RecorderOptions) {}

  /** Records a completed compile without waiting; a failure is reported, never thrown. */
  recordInBackground(job: FirmwareJob): void {
    if (job.job_type !== 'compile' && job.job_type !== 'install') return;
    const p = this.record(job).catch((err: unknown) => this.opts.report(`firmware library: could not record the build of ${job.configuration}: ${(err as Error).message}`));
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Resolves once every recording started so far has ended (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async record(job: FirmwareJob): Promise<LibraryEntry> {
    const yaml = join(this.opts.configDir, job.configuration);
    const env = this.opts.envFor(job);
    const storagePath = storageJsonPath(yaml, env);
    const facts = await readStorageFacts(storagePath);
    if (!facts) throw new Error(`no usable storage.json at ${storagePath}`);
    const dataDir = esphomeDataDir(yaml, env);
    const images: NewImage[] = [];
    const add = async (role: NewImage['role'], source: string, base: 'build' | 'data'): Promise<void> => {
      const rel = relInside(base === 'build' ? facts.buildPath : dataDir, source);
      if (rel && (await exists(source))) images.push({ role, source, base, rel });
    };
    await add('ota', facts.firmwareBin, 'build');
    if (images.length === 0) throw new Error(`firmware image ${facts.firmwareBin} not found`);
    const outDir = dirname(facts.firmwareBin);
    await add('factory', join(outDir, 'firmware.factory.bin'), 'build');
    if (basename(facts.firmwareBin) !== 'firmware.ota.bin') await add('part', join(outDir, 'firmware.ota.bin'), 'build');
    for (const f of PART_FILES) await add('part', join(outDir, f), 'build');
    await add('storage', storagePath, 'data');
    if (facts.name) await add('idedata', join(dataDir, 'idedata', `${facts.name}.json`), 'data');
    const version = facts.esphomeVersion || job.source_esphome_version;
    const [full, configOnly] = await Promise.all([this.opts.digester.digest(yaml, version), this.opts.digester.configOnly(yaml)]);
    const remote = job.source === 'remote';
    return this.opts.library.add({
      device: job.configuration,
      digest: full.digest,
      config_digest: configOnly,
      esphome_version: version,
      platform: facts.platform,
      board: facts.board,
      built_on: remote ? 'remote' : 'local',
      built_on_label: remote ? job.source_label || job.remote_peer_label || 'build server' : 'this computer',
      built_at: new Date((this.opts.now ?? Date.now)()).toISOString(),
      job_id: job.job_id,
      images,
    });
  }
}

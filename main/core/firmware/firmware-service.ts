// The firmware library's parts put together for one data dir: the store, the digester (one per
// process, its cache shared by status, recording and installs), the recorder on the job bus and
// the library-aware install. Built once by the app (desktop / `kiln serve`) and by `kiln build`.
import { esphomeEnv } from '../esphome/argv';
import type { EventBus } from '../events';
import { LibraryInstall, type InstallRequest, type InstallTarget } from '../jobs/library-install';
import type { FirmwareJob } from '../jobs/model';
import { ConfigDigester } from './digest';
import { FirmwareRecorder } from './recorder';
import { FirmwareLibrary, type RetentionSettings } from './store';

export interface FirmwareServiceOptions {
  dataDir: string;
  configDir: string;
  bus: EventBus;
  esphomeVersion: () => string;
  /** Extra environment per job (the engine's jobEnv): a build server's jobs build elsewhere. */
  jobEnv?: (job: FirmwareJob) => Record<string, string | undefined>;
  /** Jobs not recorded (a build server's jobs for its senders). */
  skip?: (job: FirmwareJob) => boolean;
  retention?: () => RetentionSettings;
  report: (message: string) => void;
  now?: () => number;
}

export class FirmwareService {
  readonly library: FirmwareLibrary;
  readonly digester = new ConfigDigester();
  readonly recorder: FirmwareRecorder;
  readonly installer: LibraryInstall;
  private detach: (() => void) | null = null;

  constructor(private readonly opts: FirmwareServiceOptions) {
    this.library = new FirmwareLibrary({ dataDir: opts.dataDir, retention: opts.retention, now: opts.now });
    const baseEnv = (): Record<string, string | undefined> => esphomeEnv(process.env);
    this.recorder = new FirmwareRecorder({
      library: this.library,
      digester: this.digester,
      configDir: opts.configDir,
      envFor: (job) => esphomeEnv(process.env, opts.jobEnv?.(job) ?? {}),
      report: opts.report,
      now: opts.now,
    });
    this.installer = new LibraryInstall({ library: this.library, digester: this.digester, configDir: opts.configDir, esphomeVersion: opts.esphomeVersion, env: baseEnv, now: opts.now });
  }

  start(): void {
    if (this.detach) return;
    const skip = this.opts.skip;
    // The recorder filters job types itself; build-server jobs are skipped here.
    this.detach = this.opts.bus.on('job_completed', ({ job }) => {
      if (skip?.(job)) return;
      this.recorder.recordInBackground(job);
    });
  }

  async stop(): Promise<void> {
    this.detach?.();
    this.detach = null;
    await this.recorder.idle();
  }

  install(target: InstallTarget, req: InstallRequest): Promise<FirmwareJob> {
    return this.installer.install(target, req);
  }
}

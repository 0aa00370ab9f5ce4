// The firmware library part of the API (issue 15): device status, kept builds, "Flash this
// build", pins, and the library-aware install. Kept out of service.ts; the service spreads these
// handlers in and routes `install` through `installVia`.
import type { BackendMethods, DeviceFirmwareStatus, FirmwareBuild, FirmwareRetention, Job } from '../../../preload/contract';
import { ApiError } from '../errors';
import { deviceStatus } from '../firmware/device-status';
import type { FirmwareService } from '../firmware/firmware-service';
import { exportFirmware, FirmwareExportError } from '../firmware/export';
import { checkRetention } from '../firmware/retention';
import { DEFAULT_RETENTION, type LibraryEntry, type RetentionSettings } from '../firmware/store';
import type { FirmwareJob } from '../jobs/model';
import { listConfigurations } from './configurations';
import type { JobsPort } from './ports';

type FirmwareMethods = 'getFirmwareStatus' | 'listFirmwareBuilds' | 'flashFirmwareBuild' | 'setFirmwareBuildPinned' | 'getFirmwareRetention' | 'setFirmwareRetention' | 'saveFirmwareAs';
export type FirmwareHandlers = { [M in FirmwareMethods]: (p: BackendMethods[M][0]) => Promise<BackendMethods[M][1]> };

export interface FirmwarePort {
  service: FirmwareService;
  /** The ESPHome version a local compile uses now ('' unknown). */
  esphomeVersion: () => string;
  /** Where retention is stored (the SettingsStore); absent = the library's defaults, not changeable. */
  retention?: { get(): RetentionSettings; set(r: RetentionSettings): Promise<void> };
  /** Desktop: asks where to save (native dialog), null = cancelled. Absent (a browser): the download link. */
  chooseSavePath?: (defaultName: string) => Promise<string | null>;
}

/** `<device>-<esphome version>-<short digest>.<kind>.bin` (the download name). */
export function firmwareFileName(entry: LibraryEntry, kind: 'ota' | 'factory'): string {
  const device = entry.device.replace(/\.ya?ml$/i, '').replace(/[^A-Za-z0-9._-]/g, '_');
  return `${device}-${entry.esphome_version || 'unknown'}-${entry.digest.slice(0, 8)}.${kind}.bin`;
}

export function buildView(e: LibraryEntry): FirmwareBuild {
  const images: FirmwareBuild['images'] = [];
  for (const kind of ['ota', 'factory'] as const) {
    const im = e.images.find((i) => i.role === kind);
    if (im) images.push({ kind, size: im.size, sha256: im.sha256, fileName: firmwareFileName(e, kind) });
  }
  return {
    id: e.id,
    configuration: e.device,
    builtAt: e.built_at,
    builtOn: e.built_on,
    builtOnLabel: e.built_on_label,
    esphomeVersion: e.esphome_version,
    platform: e.platform,
    board: e.board,
    digest: e.digest,
    pinned: e.pinned,
    size: e.size,
    images,
  };
}

export function firmwareHandlers(portOf: () => FirmwarePort | undefined, jobsOf: () => JobsPort, view: (j: FirmwareJob) => Job): FirmwareHandlers {
  const port = (): FirmwarePort => {
    const p = portOf();
    if (!p) throw new ApiError('unavailable', 'the firmware library is not available in this mode');
    return p;
  };
  return {
    getFirmwareStatus: async (p) => {
      const { service, esphomeVersion } = port();
      const jobs = jobsOf();
      const names = p.configuration !== undefined ? [p.configuration] : (await listConfigurations(jobs.configDir)).map((c) => c.name);
      const entries = await service.library.list();
      const version = esphomeVersion();
      return Promise.all(
        names.map(async (configuration): Promise<DeviceFirmwareStatus> => {
          const r = await deviceStatus(service.library, service.digester, jobs.configDir, configuration, version, entries);
          return { configuration, status: r.status, build: r.build ? buildView(r.build) : null };
        }),
      );
    },
    listFirmwareBuilds: async (p) => (await port().service.library.list(p.configuration)).map(buildView),
    flashFirmwareBuild: async (p) => {
      try {
        return view(await port().service.installer.flash(jobsOf(), { configuration: p.configuration, id: p.buildId, port: p.port ?? 'OTA' }));
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw new ApiError('precondition_failed', (err as Error).message);
      }
    },
    setFirmwareBuildPinned: async (p) => {
      try {
        await port().service.library.setPinned(p.buildId, p.pinned);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw new ApiError('not_found', (err as Error).message);
      }
      return { ok: true as const };
    },
    getFirmwareRetention: async () => {
      const p = port();
      return retentionView(p, p.retention?.get() ?? DEFAULT_RETENTION);
    },
    setFirmwareRetention: async (patch) => {
      const p = port();
      if (!p.retention) throw new ApiError('unavailable', 'the firmware library settings cannot be changed in this mode');
      const next = checkRetention(p.retention.get(), patch);
      await p.retention.set(next);
      // Applied now, not at the next build: a lowered limit frees the space at once.
      await p.service.library.applyRetention();
      return retentionView(p, next);
    },
    saveFirmwareAs: async ({ buildId, kind }) => {
      const p = port();
      const entry = await p.service.library.get(buildId);
      if (!entry) throw new ApiError('not_found', `no firmware build ${buildId}`);
      if (!entry.images.some((i) => i.role === kind)) throw new ApiError('not_found', `firmware build ${buildId} has no ${kind} image`);
      if (!p.chooseSavePath) return { outcome: 'use-download-link' as const };
      const dest = await p.chooseSavePath(firmwareFileName(entry, kind));
      if (dest === null) return { outcome: 'cancelled' as const };
      try {
        return { outcome: 'saved' as const, ...(await exportFirmware(p.service.library, buildId, kind, dest)) };
      } catch (err) {
        if (err instanceof FirmwareExportError) throw new ApiError('precondition_failed', err.message);
        throw err;
      }
    },
  };
}

async function retentionView(p: FirmwarePort, r: RetentionSettings): Promise<FirmwareRetention> {
  const used = (await p.service.library.list()).reduce((n, e) => n + e.size, 0);
  return { keepPerDevice: r.perDevice, maxBytes: r.maxBytes, usedBytes: used };
}

/** The install handler's body: through the library when there is one. */
export async function installVia(portOf: () => FirmwarePort | undefined, jobs: JobsPort, p: BackendMethods['install'][0]): Promise<FirmwareJob> {
  const fw = portOf();
  const req = { configuration: p.configuration, port: p.port ?? 'OTA', forceLocal: p.forceLocal, bootloader: p.bootloader };
  if (!fw) return jobs.install(req);
  return fw.service.install(jobs, { ...req, rebuild: p.rebuild });
}

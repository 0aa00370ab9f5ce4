// "Is esphome there, which version, is it the simulator?" — the API's `EsphomeStatus` (empty
// state, simulator badge) from the one version probe (`esphome/version.ts`).
import type { EsphomeStatus } from '../../../preload/contract';
import { probeEsphomeVersion, type ProbeOptions } from '../esphome/version';

export async function probeEsphome(command: string[], opts: Pick<ProbeOptions, 'timeoutMs'> = {}): Promise<EsphomeStatus> {
  const p = await probeEsphomeVersion(command, opts);
  return p.ok
    ? { command, found: true, version: p.version, simulator: p.simulator, error: '' }
    : { command, found: false, version: '', simulator: false, error: p.reason };
}

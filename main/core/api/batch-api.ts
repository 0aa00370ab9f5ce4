// The fleet batch part of the API ("Build all" / "Update all", issue 15): start, stop and read
// the one batch (main/core/firmware/batch.ts). Kept out of api-service.ts, which spreads these
// handlers in and forwards the batch's changes as `batchChanged` events.
import type { BackendMethods } from '../../../preload/contract';
import { ApiError } from '../errors';
import type { FleetBatch } from '../firmware/batch';

type BatchMethods = 'getBatch' | 'previewBatch' | 'startBatch' | 'stopBatch';
export type BatchHandlers = { [M in BatchMethods]: (p: BackendMethods[M][0]) => Promise<BackendMethods[M][1]> };

export function batchHandlers(batchOf: () => FleetBatch | undefined): BatchHandlers {
  const batch = (): FleetBatch => {
    const b = batchOf();
    if (!b) throw new ApiError('unavailable', 'Build all / Update all are not available in this mode (no firmware library)');
    return b;
  };
  return {
    getBatch: async () => batchOf()?.summary() ?? null,
    previewBatch: async (p) => {
      const b = batch();
      return { configurations: await b.selection(p.kind), esphomeVersion: b.esphomeVersion() };
    },
    startBatch: async (p) => batch().start({ kind: p.kind, configurations: p.configurations, esphomeVersion: p.esphomeVersion }),
    stopBatch: async (p) => batch().stop(p.batchId),
  };
}

// The Toolchains part of the API: list / install (with progress events) / stop / default /
// remove / update check. Kept out of api-service.ts; the service spreads these handlers in.
import type { BackendMethods, ToolchainInfo, ToolchainsState } from '../../../preload/contract';
import { ApiError } from '../errors';
import type { ToolchainManager } from '../toolchains/manager';
import { findPython } from '../toolchains/python';
import type { ToolchainSetup } from '../toolchains/setup';
import type { Toolchain } from '../toolchains/store';
import { ToolchainError } from '../toolchains/version';
import { probeEsphome } from './esphome-status';

type ToolchainMethods = 'getToolchains' | 'installToolchain' | 'stopToolchainInstall' | 'getToolchainInstallLog' | 'setDefaultToolchain' | 'removeToolchain' | 'checkToolchainUpdate' | 'setProvisionKeep';
export type ToolchainHandlers = { [M in ToolchainMethods]: (p: BackendMethods[M][0]) => Promise<BackendMethods[M][1]> };

export interface ToolchainsPort {
  setup: ToolchainSetup;
  /** Where the effective command comes from (flag/env given?, setting set?). */
  source: () => ToolchainsState['effective']['source'];
}

function info(t: Toolchain): ToolchainInfo {
  return { version: t.version, pythonVersion: t.pythonVersion, installedAt: t.installedAt, lastUsedAt: t.lastUsedAt, origin: t.origin, isDefault: t.isDefault };
}

function toApi(err: unknown): never {
  if (err instanceof ToolchainError) {
    const code = err.code === 'invalid_version' ? 'invalid_args' : err.code === 'not_installed' ? 'not_found' : err.code === 'in_use' ? 'precondition_failed' : 'unavailable';
    throw new ApiError(code, err.message);
  }
  throw err;
}

export function toolchainHandlers(portOf: () => ToolchainsPort | undefined): ToolchainHandlers {
  const manager = (): ToolchainManager => {
    const m = portOf()?.setup.manager;
    if (!m) throw new ApiError('unavailable', 'managed ESPHome toolchains are not available in this mode');
    return m;
  };
  let pathProbe: Promise<{ found: boolean; version: string }> | null = null;
  let python: { at: number; value: Promise<{ ok: boolean; detail: string }> } | null = null;
  const state = async (): Promise<ToolchainsState> => {
    const port = portOf();
    const m = port?.setup.manager;
    pathProbe ??= probeEsphome(['esphome']).then((s) => ({ found: s.found, version: s.version }));
    if (!m || !port) {
      return { available: false, root: '', toolchains: [], defaultVersion: null, effective: { command: port?.setup.base() ?? [], source: port?.source() ?? 'path' }, path: await pathProbe, installs: [], provisionKeep: 0, python: { ok: false, detail: '' } };
    }
    if (!python || Date.now() - python.at > 60_000) {
      python = {
        at: Date.now(),
        value: findPython({ min: [3, 12] }).then(
          (p) => ({ ok: true, detail: `Python ${p.version} (${p.argv.join(' ')})` }),
          (err: Error) => ({ ok: false, detail: err.message }),
        ),
      };
    }
    return {
      available: true,
      root: m.store.root,
      toolchains: m.list().map(info),
      defaultVersion: m.store.defaultVersion(),
      effective: { command: port.setup.base(), source: port.source() },
      path: await pathProbe,
      installs: m.installsInProgress(),
      provisionKeep: m.store.provisionKeep(),
      python: await python.value,
    };
  };
  return {
    getToolchains: () => state(),
    installToolchain: async (p) => {
      try {
        const { state: s, done } = manager().install(p.version ?? null, { origin: 'user' });
        done.catch(() => undefined);
        return s;
      } catch (err) {
        return toApi(err);
      }
    },
    stopToolchainInstall: async (p) => ({ ok: manager().stop(p.id) }),
    getToolchainInstallLog: async (p) => ({ lines: manager().installLog(p.id) }),
    setDefaultToolchain: async (p) => {
      await manager().setDefault(p.version).catch(toApi);
      return state();
    },
    removeToolchain: async (p) => {
      await manager().remove(p.version).catch(toApi);
      return state();
    },
    checkToolchainUpdate: async () => manager().checkForUpdate(),
    setProvisionKeep: async (p) => {
      await manager().store.setProvisionKeep(p.keep).catch(toApi);
      return state();
    },
  };
}

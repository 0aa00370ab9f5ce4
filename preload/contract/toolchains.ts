// Part of the API contract (preload/contract.ts re-exports it): dependency-free types only.

// Managed ESPHome toolchains (one venv per ESPHome release, shared by every Kiln on the machine)

export type ToolchainInstallPhase = 'python' | 'venv' | 'resolving' | 'downloading' | 'installing' | 'verifying' | 'done';

export interface ToolchainInfo {
  version: string;
  pythonVersion: string;
  installedAt: string;
  lastUsedAt: string;
  /** 'provision': installed by this build server for a sender's version (removed oldest-unused past the limit). */
  origin: 'user' | 'provision';
  isDefault: boolean;
}

export interface ToolchainInstall {
  id: string;
  /** null while installing "the latest". */
  version: string | null;
  origin: 'user' | 'provision';
  status: 'running' | 'done' | 'failed' | 'cancelled';
  phase: ToolchainInstallPhase;
  /** 0..1 */
  fraction: number;
  message: string;
  error: string;
  startedAt: string;
  endedAt: string | null;
}

export interface ToolchainsState {
  /** false: this Kiln does not manage toolchains (the other fields are empty). */
  available: boolean;
  root: string;
  toolchains: ToolchainInfo[];
  defaultVersion: string | null;
  /** The esphome the builds use and why: flag/env, the user's setting, the managed default, the PATH. */
  effective: { command: string[]; source: 'explicit' | 'setting' | 'managed' | 'path' };
  /** `esphome` on the PATH (found, version). */
  path: { found: boolean; version: string };
  installs: ToolchainInstall[];
  /** Provisioned toolchains a build server keeps. */
  provisionKeep: number;
  /** Whether a Python that can create toolchains was found ('' when not checked yet). */
  python: { ok: boolean; detail: string };
}

export type ToolchainUpdateCheck =
  | { status: 'ok'; latest: string; current: string | null; newer: boolean; checkedAt: string }
  | { status: 'unknown'; reason: string; current: string | null; checkedAt: string };

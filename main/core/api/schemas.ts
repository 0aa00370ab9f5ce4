// Request validation: one zod schema per contract method. Every renderer and every WebSocket
// client is untrusted, so params are parsed here before the service sees them; strict objects
// reject unknown keys so a typo fails loudly instead of being ignored.
import { z } from 'zod';
import { isEsphomeVersion } from '../toolchains/version';
import {
  BATCH_KIND_VALUES,
  CLEARABLE_STATUS_VALUES,
  JOB_STATUS_VALUES,
  MAX_IMPORT_YAML_BYTES,
  VERSION_POLICY_VALUES,
  type MethodName,
  type ParamsOf,
} from '../../../preload/contract';

/** YAML leaf name in the config dir: no separators, no traversal, no hidden files. */
export const CONFIG_NAME_RE = /^(?!\.)[^/\\\0]{1,250}\.ya?ml$/i;
const configuration = z
  .string()
  .regex(CONFIG_NAME_RE, 'must be a .yaml/.yml file name in the config directory (no folders)');
const jobId = z.string().regex(/^[0-9a-f]{12}$/, 'must be a 12-character job id');
const pin = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
const dashboardId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a dashboard id');
/** Upload target: "", "OTA", a serial path, IP or hostname. Never starts with "-" (argv). */
const port = z
  .string()
  .max(256)
  .regex(/^(?!-)[^\0\r\n]*$/, 'must not start with "-" or contain control characters');
const host = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._:[\]-]+$/, 'must be a host name or IP address');
const tcpPort = z.number().int().min(1).max(65535);
const label = z.string().max(128);
const empty = z.strictObject({});
/** An installable ESPHome release (the toolchains' allowlist: never reaches pip or a path otherwise). */
const esphomeVersion = z.string().refine(isEsphomeVersion, 'must be an ESPHome release version such as 2026.10.0 or 2026.11.0b2');
const firmwareBuildId = z.string().regex(/^[0-9a-z]{6,16}-[0-9a-f]{8}$/, 'must be a firmware build id');
const installId = z.string().regex(/^i\d{1,9}$/, 'must be an install id');

const settingsPatch = z.strictObject({
  esphomeCommand: z.array(z.string().min(1).max(1024).regex(/^[^\0]*$/)).max(16).optional(),
  configDir: z.string().min(1).max(4096).optional(),
  remoteBuildsEnabled: z.boolean().optional(),
  includeLocalInPool: z.boolean().optional(),
  versionPolicy: z.enum(VERSION_POLICY_VALUES).optional(),
  notifications: z.boolean().optional(),
  launchAtLogin: z.boolean().optional(),
});

/** Upper bound of followLog `tail` (the window holds at most 200k lines). */
export const MAX_LOG_LINES = 200_000;
/** Lines one getLogRange call returns at most. */
export const MAX_LOG_RANGE = 10_000;

/** Max size of an imported YAML (bytes of UTF-8); the same number the window checks. */
export const MAX_IMPORT_BYTES = MAX_IMPORT_YAML_BYTES;

export const schemas = {
  hello: z.strictObject({
    protocol: z.number().int(),
    token: z.string().max(256).optional(),
    client: z.string().max(128).optional(),
  }),
  getEnvironment: empty,
  getJobs: z.strictObject({ status: z.enum(JOB_STATUS_VALUES).optional(), configuration: configuration.optional() }),
  getJobsPage: z.strictObject({ limit: z.number().int().min(1).max(500).optional(), cursor: z.string().max(200).optional() }),
  getJob: z.strictObject({ jobId }),
  compile: z.strictObject({ configuration, forceLocal: z.boolean().optional() }),
  upload: z.strictObject({ configuration, port: port.optional(), bootloader: z.boolean().optional() }),
  install: z.strictObject({
    configuration,
    port: port.optional(),
    forceLocal: z.boolean().optional(),
    bootloader: z.boolean().optional(),
    rebuild: z.boolean().optional(),
  }),
  clean: z.strictObject({ configuration }),
  resetBuildEnv: empty,
  cancel: z.strictObject({ jobId }),
  retry: z.strictObject({ jobId, forceLocal: z.boolean().optional() }),
  buildLocally: z.strictObject({ jobId }),
  clearJobs: z.strictObject({ status: z.enum(CLEARABLE_STATUS_VALUES).optional() }),
  followLog: z.strictObject({ jobId, tail: z.number().int().min(1).max(MAX_LOG_LINES).optional() }),
  unfollowLog: z.strictObject({ jobId }),
  getLogRange: z.strictObject({ jobId, before: z.number().int().min(0), max: z.number().int().min(1).max(MAX_LOG_RANGE) }),
  getQueuePause: empty,
  pauseQueue: empty,
  resumeQueue: empty,
  listConfigurations: empty,
  getFirmwareStatus: z.strictObject({ configuration: configuration.optional() }),
  listFirmwareBuilds: z.strictObject({ configuration }),
  flashFirmwareBuild: z.strictObject({ configuration, buildId: firmwareBuildId, port: port.optional() }),
  setFirmwareBuildPinned: z.strictObject({ buildId: firmwareBuildId, pinned: z.boolean() }),
  getBatch: empty,
  previewBatch: z.strictObject({ kind: z.enum(BATCH_KIND_VALUES) }),
  startBatch: z.strictObject({
    kind: z.enum(BATCH_KIND_VALUES),
    configurations: z.array(configuration).min(1).max(5000).optional(),
    esphomeVersion: z.string().min(1).max(64).regex(/^[0-9A-Za-z.+-]+$/, 'must be an ESPHome version').optional(),
  }),
  stopBatch: z.strictObject({ batchId: z.string().regex(/^b[0-9a-f]{8}$/, 'must be a batch id') }),
  getFirmwareRetention: empty,
  // Ranges are checked by the handler, whose refusal names the setting in plain words.
  setFirmwareRetention: z.strictObject({ keepPerDevice: z.number().finite().optional(), maxBytes: z.number().finite().optional() }),
  saveFirmwareAs: z.strictObject({ buildId: firmwareBuildId, kind: z.enum(['ota', 'factory']) }),
  importYaml: z.strictObject({
    // Leaf-name rules are checked by the importer too (with a friendlier message).
    name: z.string().min(1).max(255),
    // Characters ≤ bytes; the importer checks the exact UTF-8 size.
    content: z.string().max(MAX_IMPORT_BYTES, `content is larger than ${MAX_IMPORT_BYTES / 1024} KiB; ESPHome configurations are a few KiB`),
    overwrite: z.boolean().optional(),
  }),
  getSettings: empty,
  updateSettings: settingsPatch,
  getIdentity: empty,
  listBuildServers: empty,
  previewBuildServer: z.strictObject({ host, port: tcpPort }),
  pairBuildServer: z.strictObject({
    host,
    port: tcpPort,
    expectedPin: pin,
    label: label.optional(),
    introduceAs: label.optional(),
    pairingKey: z.string().max(64).optional(),
  }),
  getBuildServer: z.strictObject({ pin }),
  unpairBuildServer: z.strictObject({ pin }),
  setBuildServerEnabled: z.strictObject({ pin, enabled: z.boolean() }),
  listDiscoveredBuildServers: empty,
  getBuildServerRole: empty,
  setBuildServerRole: z.strictObject({ enabled: z.boolean() }),
  openPairingWindow: empty,
  extendPairingWindow: empty,
  closePairingWindow: empty,
  approvePairRequest: z.strictObject({ dashboardId }),
  rejectPairRequest: z.strictObject({ dashboardId }),
  removeSender: z.strictObject({ dashboardId }),
  getToolchains: empty,
  installToolchain: z.strictObject({ version: esphomeVersion.optional() }),
  stopToolchainInstall: z.strictObject({ id: installId }),
  getToolchainInstallLog: z.strictObject({ id: installId }),
  setDefaultToolchain: z.strictObject({ version: esphomeVersion }),
  removeToolchain: z.strictObject({ version: esphomeVersion }),
  checkToolchainUpdate: empty,
  setProvisionKeep: z.strictObject({ keep: z.number().int().min(1).max(50) }),
} satisfies { [M in MethodName]: z.ZodType };

// Compile-time: each schema's output must be exactly assignable to the contract's params.
type SchemaOut<M extends MethodName> = z.output<(typeof schemas)[M]>;
type Assignable<A, B> = [A] extends [B] ? true : false;
type Check = { [M in MethodName]: Assignable<SchemaOut<M>, ParamsOf<M>> extends true ? (Assignable<ParamsOf<M>, SchemaOut<M>> extends true ? true : M) : M };
type Mismatched = Exclude<Check[MethodName], true>;
// If this line fails, a schema and the contract disagree; the error names the method.
export const schemaContractCheck: [Mismatched] extends [never] ? true : { mismatched: Mismatched } = true;

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(schemas, name);
}

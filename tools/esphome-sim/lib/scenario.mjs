// Which outcome to simulate: a `# sim: <scenario>` comment in the YAML wins over
// ESPHOME_SIM_SCENARIO, so one test can mix outcomes per device (esphome-cli.md §7.1).

export const SCENARIOS = [
  'success',
  'config-error',
  'yaml-error',
  'compile-error',
  'link-error',
  'ota-fail',
  'serial-fail',
  'hang',
  'slow',
  'grandchild',
  'ignore-term',
];

const MARKER_RE = /^[ \t]*#[ \t]*sim:[ \t]*([A-Za-z-]+)[ \t]*$/m;

/** @returns {{ scenario: string, unknown?: string }} */
export function detectScenario(yamlText, env) {
  const marker = yamlText ? MARKER_RE.exec(yamlText)?.[1]?.toLowerCase() : undefined;
  const wanted = marker ?? (env.ESPHOME_SIM_SCENARIO ? env.ESPHOME_SIM_SCENARIO.trim().toLowerCase() : 'success');
  if (SCENARIOS.includes(wanted)) return { scenario: wanted };
  return { scenario: 'success', unknown: wanted };
}

const BUILD_MS_RE = /^[ \t]*#[ \t]*sim-build-ms:[ \t]*(\d{1,7})[ \t]*$/m;

/**
 * `# sim-build-ms: N` in the main YAML: a successful compile lasts at least N ms of real time
 * counted from the process start, whatever ESPHOME_SIM_SPEED says — a per-job build duration
 * (pool benchmarks mix durations). Travels inside bundles like the scenario marker.
 * @returns {number} 0 when absent
 */
export function detectBuildMs(yamlText) {
  const m = yamlText ? BUILD_MS_RE.exec(yamlText) : null;
  return m ? Number(m[1]) : 0;
}

const FIRMWARE_BYTES_RE = /^[ \t]*#[ \t]*sim-firmware-bytes:[ \t]*(\d{1,9})[ \t]*$/m;
/** Largest image the marker asks for: the artifacts (image + ELF twice its size + copies) stay under the 64 MiB transfer cap for ESP8266. */
export const FIRMWARE_BYTES_MAX = 16 * 1024 * 1024;

/**
 * `# sim-firmware-bytes: N` in the main YAML: the app image is N bytes (rounded down to 16,
 * at most FIRMWARE_BYTES_MAX; the ELF and factory image grow with it) instead of the
 * platform's realistic size — artifacts large enough that downloading them takes measurable
 * time (fault tests kill a build server mid-download). Travels inside bundles.
 * @returns {number} 0 when absent
 */
export function detectFirmwareBytes(yamlText) {
  const m = yamlText ? FIRMWARE_BYTES_RE.exec(yamlText) : null;
  if (!m) return 0;
  const n = Math.min(Number(m[1]), FIRMWARE_BYTES_MAX);
  return n >= 16 ? n - (n % 16) : 0;
}

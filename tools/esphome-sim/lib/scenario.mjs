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

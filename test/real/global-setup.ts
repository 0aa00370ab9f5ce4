// Creates or reuses the pinned Python environments before the real suites load test/real/envs.ts.
export default async function setup(): Promise<void> {
  // @ts-expect-error plain .mjs tool without types
  const { setup: setupEnvs } = await import('../../tools/python-envs.mjs');
  const status = setupEnvs({ log: (s: string) => console.log(`python-envs: ${s}`) });
  console.log(status.ok ? `python-envs: ready in ${status.seconds.toFixed(1)}s` : `NOT RUN (not counted as passed): the real esphome CLI and upstream suites: ${status.reason}`);
}

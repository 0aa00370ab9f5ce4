// The shape every `kiln <subcommand>` module exports, and the registry the dispatcher reads.
// To add a subcommand: write `<name>-command.ts` exporting `command: CliCommand`, then add one
// line to COMMANDS below. Modules load lazily so `kiln build` never pulls in the server code.

export interface CliCommand {
  /** One line for `kiln --help`. */
  summary: string;
  /** Full usage text for `kiln <name> --help` and usage errors. */
  usage: string;
  /** Runs with the arguments after the subcommand name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** `startsProcesses`: the command runs esphome (or pip): the process spawner is started with it. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<CliCommand>; startsProcesses?: boolean }> = {
  build: { summary: 'compile / install / upload one YAML with the local esphome, streaming its log', load: async () => (await import('./build-command')).command, startsProcesses: true },
  serve: { summary: 'serve the Kiln window to a browser on this machine (token-protected, 127.0.0.1)', load: async () => (await import('./serve-command')).command, startsProcesses: true },
  receiver: { summary: 'run a headless build server for paired senders (no GUI)', load: async () => (await import('./receiver-command')).command, startsProcesses: true },
  toolchain: { summary: 'list, install, choose and remove managed ESPHome toolchains', load: async () => (await import('./toolchain-command')).command, startsProcesses: true },
  devices: { summary: 'list configurations with their firmware status (up-to-date, config-changed, …)', load: async () => (await import('./firmware-command')).devicesCommand },
  'build-all': { summary: 'compile (or --install) every configuration that is not up to date in the firmware library', load: async () => (await import('./build-all-command')).command, startsProcesses: true },
  firmware: { summary: 'list, export and flash kept firmware builds (the firmware library)', load: async () => (await import('./firmware-command')).firmwareCommand, startsProcesses: true },
  pair: { summary: 'pair this machine with a build server (shows its fingerprint, asks, stores the pairing)', load: async () => (await import('./pair-command')).command },
};

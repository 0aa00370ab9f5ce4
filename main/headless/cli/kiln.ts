// The `kiln` command line: `kiln <subcommand> [options]`, `kiln --version`, `kiln --help`.
// Subcommands live in their own modules, registered in ./command.ts.
import { sharedProcessSpawner } from '../../core/esphome/process-spawner';
import { COMMANDS } from './command';
import { kilnVersion } from './version';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['usage: kiln <command> [options]', '       kiln --version', '', 'commands:', ...lines, '', 'Run `kiln <command> --help` for its options.'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`kiln ${kilnVersion()}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`kiln: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  // Booting beside the command's own start-up (loading its modules, opening sessions), so the
  // first esphome run does not wait for it.
  if (entry.startsProcesses) sharedProcessSpawner().warmUp();
  const command = await entry.load();
  return command.run(rest);
}

/** Exit once stdout/stderr have taken everything written (pipes may still be flushing). */
async function exitWith(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((r) => s.write('', () => r()))));
  process.exit(code);
}

main(process.argv.slice(2)).then(exitWith, async (err: unknown) => {
  process.stderr.write(`kiln: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await exitWith(1);
});

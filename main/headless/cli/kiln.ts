// The `kiln` command line. Subcommands are added by their modules (build, receiver, serve, pair).
const [command] = process.argv.slice(2);
if (!command || command === '--help' || command === '-h') {
  console.log('usage: kiln <build|receiver|serve|pair> [options]');
  process.exit(0);
}
console.error(`kiln: unknown command '${command}'`);
process.exit(2);

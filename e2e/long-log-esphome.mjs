#!/usr/bin/env node
// A stand-in `esphome` for the log e2e: `version` answers like the CLI; any config command prints
// LONG_LOG_LINES plain lines, then a block whose colour is opened on one line (esphome's literal
// `\033[` form) and only reset two lines later, then exits 0. Long enough that a finished job's
// log opens on its tail ("Load earlier lines"), and the colour must carry across lines.
const args = process.argv.slice(2).filter((a) => a !== '--dashboard');
if (args[0] === 'version' || args[0] === '--version') {
  process.stdout.write('Version: 2026.1.0\nKiln e2e long-log stand-in (not ESPHome)\n');
  process.exit(0);
}
const n = Number(process.env.LONG_LOG_LINES ?? 2500);
let out = '';
for (let i = 0; i < n; i++) out += `long log line ${i}\n`;
out += '\\033[31mred block opens here\n';
out += 'inside the red block\n';
out += 'red block closes\\033[0m\n';
out += 'after the red block\n';
process.stdout.write(out, () => process.exit(0));

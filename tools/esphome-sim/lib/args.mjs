// argparse look-alike for the esphome CLI surface Kiln uses (esphome-cli.md §1.1–§1.2, §7.2.1).
// Global options only before the subcommand; errors print `usage:` + `<prog>: error: ...`, exit 2.

export class UsageError extends Error {
  constructor(usage, prog, message) {
    super(message);
    this.usage = usage;
    this.prog = prog;
  }
}

/** Thrown for -h/--help: print text on stdout, exit 0. */
export class HelpExit extends Error {
  constructor(text) {
    super('help');
    this.text = text;
  }
}

/** Thrown for the argparse `--version` action: prints immediately, exit 0. */
export class VersionExit extends Error {
  constructor() {
    super('version');
  }
}

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

const GLOBAL_OPTIONS = [
  { flags: ['-h', '--help'], dest: 'help', kind: 'help' },
  { flags: ['-v', '--verbose'], dest: 'verbose', kind: 'flag' },
  { flags: ['-q', '--quiet'], dest: 'quiet', kind: 'flag' },
  { flags: ['-l', '--log-level'], dest: 'logLevel', kind: 'value', choices: LOG_LEVELS, metavar: `{${LOG_LEVELS.join(',')}}` },
  { flags: ['--dashboard'], dest: 'dashboard', kind: 'flag' },
  { flags: ['-s', '--substitution'], dest: 'substitution', kind: 'pair', metavar: 'key value' },
  { flags: ['--mdns-address-cache'], dest: 'mdnsAddressCache', kind: 'append', metavar: 'MDNS_ADDRESS_CACHE' },
  { flags: ['--dns-address-cache'], dest: 'dnsAddressCache', kind: 'append', metavar: 'DNS_ADDRESS_CACHE' },
  { flags: ['--testing-mode'], dest: 'testingMode', kind: 'flag' },
  { flags: ['--version'], dest: 'version', kind: 'version' },
];

const MQTT_OPTIONS = [
  { flags: ['--topic'], dest: 'topic', kind: 'value' },
  { flags: ['--username'], dest: 'username', kind: 'value' },
  { flags: ['--password'], dest: 'password', kind: 'value' },
  { flags: ['--client-id'], dest: 'clientId', kind: 'value' },
];

const DEVICE = { flags: ['--device'], dest: 'device', kind: 'append', metavar: 'DEVICE' };
const UPLOAD_SPEED = { flags: ['--upload_speed'], dest: 'uploadSpeed', kind: 'value', metavar: 'UPLOAD_SPEED' };
const RESET = { flags: ['-r', '--reset'], dest: 'reset', kind: 'flag' };
const OTA_PLATFORM = { flags: ['--ota-platform'], dest: 'otaPlatform', kind: 'value', choices: ['esphome', 'web_server'] };

/** Subcommands the simulator implements (§7.2.1). `positional` = argparse nargs of `configuration`. */
export const COMMANDS = {
  config: { positional: '+', options: [{ flags: ['--show-secrets'], dest: 'showSecrets', kind: 'flag' }] },
  compile: {
    positional: '+',
    options: [
      { flags: ['--only-generate'], dest: 'onlyGenerate', kind: 'flag' },
      { flags: ['--native-idf'], dest: 'nativeIdf', kind: 'flag' },
      { flags: ['--skip-bootloader'], dest: 'skipBootloader', kind: 'flag' },
      { flags: ['--analyze-memory'], dest: 'analyzeMemory', kind: 'flag' },
      { flags: ['--memory-report'], dest: 'memoryReport', kind: 'value', metavar: 'FILE' },
    ],
  },
  upload: {
    positional: '+',
    options: [
      DEVICE,
      UPLOAD_SPEED,
      { flags: ['--file'], dest: 'file', kind: 'value', metavar: 'FILE' },
      OTA_PLATFORM,
      { flags: ['--partition-table'], dest: 'partitionTable', kind: 'flag' },
      { flags: ['--bootloader'], dest: 'bootloader', kind: 'flag' },
      ...MQTT_OPTIONS,
    ],
  },
  logs: {
    aliases: ['log'],
    positional: 1,
    options: [DEVICE, RESET, { flags: ['--no-states'], dest: 'noStates', kind: 'flag' }, ...MQTT_OPTIONS],
  },
  run: {
    positional: '+',
    options: [
      DEVICE,
      UPLOAD_SPEED,
      { flags: ['--no-logs'], dest: 'noLogs', kind: 'flag' },
      RESET,
      { flags: ['--native-idf'], dest: 'nativeIdf', kind: 'flag' },
      { flags: ['--skip-bootloader'], dest: 'skipBootloader', kind: 'flag' },
      OTA_PLATFORM,
      ...MQTT_OPTIONS,
    ],
  },
  clean: { positional: '+', options: [] },
  'clean-all': { positional: '*', options: [] },
  bundle: {
    positional: '+',
    options: [
      { flags: ['-o', '--output'], dest: 'output', kind: 'value', metavar: 'OUTPUT' },
      { flags: ['--list-only'], dest: 'listOnly', kind: 'flag' },
    ],
  },
  version: { positional: 0, options: [] },
  idedata: { positional: 1, options: [] },
};

// esphome parses these with parse_known_args: unknown extras only warn (esphome/__main__.py).
const SIMPLE_CONFIG_ACTIONS = new Set(['clean', 'config']);

const COMMAND_NAMES = Object.keys(COMMANDS);
const ALIASES = Object.fromEntries(
  Object.entries(COMMANDS).flatMap(([name, spec]) => (spec.aliases ?? []).map((a) => [a, name])),
);

function optionUsage(opt) {
  const flag = opt.flags[0];
  switch (opt.kind) {
    case 'flag':
    case 'help':
    case 'version':
      return `[${flag}]`;
    case 'pair':
      return `[${flag} ${opt.metavar}]`;
    default:
      return `[${flag} ${opt.choices ? `{${opt.choices.join(',')}}` : (opt.metavar ?? opt.dest.toUpperCase())}]`;
  }
}

const TOP_USAGE = `usage: esphome ${GLOBAL_OPTIONS.map(optionUsage).join(' ')} command ...`;

function positionalUsage(nargs) {
  if (nargs === '+') return 'configuration [configuration ...]';
  if (nargs === '*') return '[configuration ...]';
  if (nargs === 1) return 'configuration';
  return '';
}

function subUsage(name) {
  const spec = COMMANDS[name];
  const parts = ['[-h]', ...spec.options.map(optionUsage), positionalUsage(spec.positional)].filter(Boolean);
  return `usage: esphome ${name} ${parts.join(' ')}`;
}

export function topHelp(version) {
  return [
    TOP_USAGE,
    '',
    `ESPHome ${version} (Kiln's esphome simulator, a test double)`,
    '',
    'positional arguments:',
    `  command               one of: ${COMMAND_NAMES.join(', ')}`,
    '',
  ].join('\n');
}

/** Find an option by exact flag, `--flag=value`, or unique long-option prefix (argparse allow_abbrev). */
function matchOption(table, arg) {
  const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
  const name = eq > 0 ? arg.slice(0, eq) : arg;
  const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
  const exact = table.find((o) => o.flags.includes(name));
  if (exact) return { opt: exact, inline };
  if (!name.startsWith('--')) {
    // `-lDEBUG` style: short option with attached value
    if (/^-[A-Za-z]./.test(name)) {
      const short = table.find((o) => o.flags.includes(name.slice(0, 2)) && o.kind !== 'flag' && o.kind !== 'help');
      if (short) return { opt: short, inline: name.slice(2) };
    }
    return null;
  }
  const candidates = table.filter((o) => o.flags.some((f) => f.startsWith('--') && f.startsWith(name)));
  if (candidates.length === 1) return { opt: candidates[0], inline };
  if (candidates.length > 1) return { ambiguous: candidates.map((o) => o.flags.find((f) => f.startsWith('--'))) , name };
  return null;
}

function looksLikeOption(arg) {
  return arg.length > 1 && arg.startsWith('-') && !/^-\d/.test(arg);
}

/**
 * Consume one option at argv[i]. Returns the next index.
 * @returns {number}
 */
function takeOption(match, argv, i, target, fail) {
  const { opt, inline } = match;
  const label = opt.flags.join('/');
  const needValue = () => {
    if (inline !== undefined) return inline;
    const v = argv[i + 1];
    if (v === undefined || looksLikeOption(v)) fail(`argument ${label}: expected one argument`);
    return v;
  };
  switch (opt.kind) {
    case 'help':
      throw new HelpExit('');
    case 'version':
      throw new VersionExit();
    case 'flag':
      if (inline !== undefined) fail(`argument ${label}: ignored explicit argument '${inline}'`);
      target[opt.dest] = true;
      return i + 1;
    case 'pair': {
      const a = argv[i + 1];
      const b = argv[i + 2];
      if (a === undefined || b === undefined || looksLikeOption(a) || looksLikeOption(b)) {
        fail(`argument ${label}: expected 2 arguments`);
      }
      (target[opt.dest] ??= []).push([a, b]);
      return i + 3;
    }
    case 'append': {
      const v = needValue();
      (target[opt.dest] ??= []).push(v);
      return inline !== undefined ? i + 1 : i + 2;
    }
    default: {
      const v = needValue();
      if (opt.choices && !opt.choices.includes(v)) {
        fail(`argument ${label}: invalid choice: '${v}' (choose from ${opt.choices.map((c) => `'${c}'`).join(', ')})`);
      }
      target[opt.dest] = v;
      return inline !== undefined ? i + 1 : i + 2;
    }
  }
}

/**
 * Parse `esphome` argv (without node/script).
 * @param {string[]} argv
 * @param {NodeJS.ProcessEnv} env
 * @returns {{ globals: Record<string, any>, command: string, options: Record<string, any>,
 *            configurations: string[], ignored: string[] }}
 */
export function parseArgs(argv, env = process.env) {
  const topFail = (message) => {
    throw new UsageError(TOP_USAGE, 'esphome', message);
  };
  const globals = {
    verbose: false,
    quiet: false,
    logLevel: env.ESPHOME_LOG_LEVEL || 'INFO',
    dashboard: false,
    substitution: [],
    mdnsAddressCache: [],
    dnsAddressCache: [],
    testingMode: false,
  };
  const extras = [];
  let i = 0;
  let command;
  let positionalOnly = false;
  while (i < argv.length) {
    const arg = argv[i];
    if (!positionalOnly && arg === '--') {
      positionalOnly = true;
      i++;
      continue;
    }
    if (!positionalOnly && looksLikeOption(arg)) {
      const match = matchOption(GLOBAL_OPTIONS, arg);
      if (match?.ambiguous) topFail(`ambiguous option: ${match.name} could match ${match.ambiguous.join(', ')}`);
      if (!match) {
        extras.push(arg);
        i++;
        continue;
      }
      i = takeOption(match, argv, i, globals, topFail);
      continue;
    }
    command = arg;
    i++;
    break;
  }
  if (command === undefined) topFail('the following arguments are required: command');
  const canonical = ALIASES[command] ?? command;
  if (!COMMANDS[canonical]) {
    topFail(`argument command: invalid choice: '${command}' (choose from ${[...COMMAND_NAMES, ...Object.keys(ALIASES)].map((c) => `'${c}'`).join(', ')})`);
  }
  const spec = COMMANDS[canonical];
  const usage = subUsage(canonical);
  const subFail = (message) => {
    throw new UsageError(usage, `esphome ${canonical}`, message);
  };
  const options = {};
  const positionals = [];
  const table = [{ flags: ['-h', '--help'], dest: 'help', kind: 'help' }, ...spec.options];
  while (i < argv.length) {
    const arg = argv[i];
    if (!positionalOnly && arg === '--') {
      positionalOnly = true;
      i++;
      continue;
    }
    if (!positionalOnly && looksLikeOption(arg)) {
      const match = matchOption(table, arg);
      if (match?.ambiguous) subFail(`ambiguous option: ${match.name} could match ${match.ambiguous.join(', ')}`);
      if (!match) {
        extras.push(arg);
        i++;
        continue;
      }
      try {
        i = takeOption(match, argv, i, options, subFail);
      } catch (err) {
        if (err instanceof HelpExit) throw new HelpExit(`${usage}\n`);
        throw err;
      }
      continue;
    }
    positionals.push(arg);
    i++;
  }
  const nargs = spec.positional;
  if ((nargs === '+' || nargs === 1) && positionals.length === 0) {
    subFail('the following arguments are required: configuration');
  }
  let configurations = positionals;
  if (typeof nargs === 'number') {
    extras.push(...positionals.slice(nargs));
    configurations = positionals.slice(0, nargs);
  }
  let ignored = [];
  if (extras.length > 0) {
    // Only when the subcommand is the very first argument does esphome use parse_known_args.
    if (SIMPLE_CONFIG_ACTIONS.has(argv[0]) && argv[0] === command) ignored = extras;
    else topFail(`unrecognized arguments: ${extras.join(' ')}`);
  }
  if (!LEVELS_OK(globals.logLevel)) {
    topFail(`argument -l/--log-level: invalid choice: '${globals.logLevel}' (choose from ${LOG_LEVELS.map((c) => `'${c}'`).join(', ')})`);
  }
  return { globals, command: canonical, options, configurations, ignored };
}

function LEVELS_OK(level) {
  return LOG_LEVELS.includes(level);
}

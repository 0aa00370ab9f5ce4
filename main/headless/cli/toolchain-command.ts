// `kiln toolchain list|install|use|remove`: managed ESPHome toolchains from the command line.
// Shares the per-user folder (KILN_TOOLCHAINS overrides) with every other Kiln on the machine.
import { parseArgs } from 'node:util';
import { probeEsphome } from '../../core/api/esphome-status';
import { installToolchain } from '../../core/toolchains/installer';
import type { InstallProgress } from '../../core/toolchains/pip-progress';
import { ToolchainStore } from '../../core/toolchains/store';
import { checkForUpdate } from '../../core/toolchains/update-check';
import { ToolchainError } from '../../core/toolchains/version';
import type { CliCommand } from './command';

const USAGE = `usage: kiln toolchain list [--check]
       kiln toolchain install [VERSION] [--find-links DIR|URL]... [--index-url URL] [--no-index] [--python PATH] [--verbose]
       kiln toolchain use VERSION
       kiln toolchain remove VERSION

Managed ESPHome toolchains: one virtual environment per ESPHome release, in ${'$'}KILN_TOOLCHAINS or the
per-user folder (Linux ~/.local/share/kiln/toolchains, macOS ~/Library/Application Support/Kiln/toolchains,
Windows %LOCALAPPDATA%\\Kiln\\toolchains). Kiln builds with the default one unless --esphome,
KILN_ESPHOME or the esphome-command setting says otherwise.

  list            installed toolchains, the default (*), and the esphome on the PATH; --check asks PyPI for a newer release
  install         install VERSION (default: the newest release); --find-links / --index-url / --no-index go to pip
                  (offline wheelhouses, private mirrors); --python chooses the Python; --verbose prints pip's output.
                  The first toolchain installed becomes the default.
  use             make VERSION the default (the old one stays installed until removed)
  remove          remove VERSION (not the default: choose another first)
`;

class UsageError extends Error {}

export interface Out {
  out(line: string): void;
  err(line: string): void;
}

const stdio: Out = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

export async function runToolchain(args: string[], io: Out = stdio, store = new ToolchainStore()): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'list':
        return await list(rest, io, store);
      case 'install':
        return await install(rest, io, store);
      case 'use': {
        const v = one(rest, 'VERSION');
        const t = await store.setDefault(v);
        io.out(`ESPHome ${t.version} is now the default toolchain (${t.dir}). Other installed versions stay until removed.`);
        return 0;
      }
      case 'remove': {
        const v = one(rest, 'VERSION');
        await store.remove(v);
        io.out(`removed ESPHome ${v}`);
        return 0;
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown toolchain command '${sub}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`kiln toolchain: ${err.message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof ToolchainError) {
      io.err(`kiln toolchain: ${err.message}`);
      return err.code === 'cancelled' ? 130 : 1;
    }
    throw err;
  }
}

function one(rest: string[], name: string): string {
  const only = rest[0];
  if (rest.length !== 1 || only === undefined || only.startsWith('-')) throw new UsageError(rest.length === 0 ? `missing ${name}` : `expected one ${name}`);
  return only;
}

async function list(rest: string[], io: Out, store: ToolchainStore): Promise<number> {
  let values;
  try {
    values = parseArgs({ args: rest, options: { check: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const all = store.list();
  io.out(`toolchains in ${store.root}:`);
  if (all.length === 0) io.out('  (none; install one with: kiln toolchain install)');
  for (const t of all) io.out(`${t.isDefault ? '* ' : '  '}${t.version.padEnd(14)} Python ${t.pythonVersion.padEnd(8)} ${t.origin === 'provision' ? 'provisioned for a sender' : 'installed'} ${t.installedAt.slice(0, 10)}`);
  const onPath = await probeEsphome(['esphome']);
  io.out(`esphome on the PATH: ${onPath.found ? onPath.version : 'not found'}`);
  if (values.check) {
    const c = await checkForUpdate(store.defaultVersion());
    io.out(c.status === 'ok' ? `newest release on PyPI: ${c.latest}${c.newer ? ' (newer than the default; install it and `kiln toolchain use` it when ready)' : ' (the default is current)'}` : `newest release: ${c.reason}`);
  }
  return 0;
}

async function install(rest: string[], io: Out, store: ToolchainStore): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { 'find-links': { type: 'string', multiple: true }, 'index-url': { type: 'string' }, 'no-index': { type: 'boolean' }, python: { type: 'string' }, verbose: { type: 'boolean', short: 'v' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError('expected at most one VERSION');
  const ac = new AbortController();
  const onSigint = (): void => {
    io.err('kiln toolchain: stopping the install…');
    ac.abort();
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  let last = '';
  const tail: string[] = [];
  try {
    const r = await installToolchain(store, {
      version: positionals[0],
      findLinks: values['find-links'],
      indexUrl: values['index-url'],
      noIndex: values['no-index'],
      python: values.python,
      signal: ac.signal,
      onLine: (l) => {
        if (values.verbose) io.out(`  ${l}`);
        else if (/^(Using Python|Another install)/.test(l)) io.out(l);
        tail.push(l);
        if (tail.length > 40) tail.shift();
      },
      onProgress: (p: InstallProgress) => {
        const line = `[${String(Math.round(p.fraction * 100)).padStart(3)}%] ${p.phase}: ${p.message}`;
        if (line !== last) io.out(line);
        last = line;
      },
    });
    const t = r.toolchain;
    if (store.defaultVersion() === null) {
      await store.setDefault(t.version);
      io.out(`ESPHome ${t.version} ${r.alreadyInstalled ? 'is installed' : 'installed'} and is the default toolchain (${t.dir})`);
    } else {
      io.out(`ESPHome ${t.version} ${r.alreadyInstalled ? 'is already installed' : 'installed'} (${t.dir})${t.isDefault ? ' — the default' : `; make it the default with: kiln toolchain use ${t.version}`}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ToolchainError && err.code !== 'cancelled' && !values.verbose && tail.length > 0) io.err(tail.slice(-15).map((l) => `  ${l}`).join('\n'));
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

export const command: CliCommand = {
  summary: 'list, install, choose and remove managed ESPHome toolchains (Kiln installs ESPHome itself)',
  usage: USAGE,
  run: (args) => runToolchain(args),
};

// Single-instance lock: a second launch hands its command line to the running instance, which
// focuses its window and imports any YAML path given (e.g. "Open with Kiln" from a file manager).
import { app } from 'electron';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const YAML_NAME = /\.ya?ml$/i;

/**
 * One command-line argument as a local path: the Linux .desktop entry (`Exec=kiln %U`) passes
 * `file://` URIs, which become paths with fileURLToPath (percent-decoding, host check) BEFORE any
 * validation; other URIs (http:, smb:, a file:// URL with a remote host) are not local files and
 * give null. Plain arguments are resolved against the launching shell's working directory.
 */
export function localPathFromArg(arg: string, cwd: string): string | null {
  if (/^file:/i.test(arg)) {
    try {
      return fileURLToPath(arg);
    } catch {
      return null; // remote host, encoded separator, not a URL
    }
  }
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(arg)) return null;
  return isAbsolute(arg) ? arg : resolve(cwd, arg);
}

/** YAML paths on a command line, resolved against the launching shell's working directory. */
export function yamlPathsFromArgv(argv: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  // argv[0] is the executable; in development argv[1] is the app path. Neither ends in .yaml.
  for (const arg of argv.slice(1)) {
    if (arg.startsWith('-')) continue;
    const full = localPathFromArg(arg, cwd);
    if (!full || !YAML_NAME.test(full)) continue;
    if (!out.includes(full)) out.push(full);
  }
  return out;
}

export interface SecondInstanceHandler {
  focus(): void;
  importPaths(paths: string[]): void;
}

/**
 * Returns false when another instance holds the lock (this process should quit at once; its
 * argv was delivered to the holder). Otherwise wires `second-instance` and macOS `open-file`
 * (which can arrive before `ready`: the handler must cope with that).
 */
export function acquireSingleInstance(handler: SecondInstanceHandler): boolean {
  if (!app.requestSingleInstanceLock()) return false;
  app.on('second-instance', (_event, argv, workingDirectory) => {
    handler.focus();
    const paths = yamlPathsFromArgv(argv, workingDirectory);
    if (paths.length) handler.importPaths(paths);
  });
  app.on('open-file', (event, path) => {
    event.preventDefault();
    handler.focus();
    const local = localPathFromArg(path, '/');
    if (local && YAML_NAME.test(local)) handler.importPaths([local]);
  });
  return true;
}

// Single-instance lock: a second launch hands its command line to the running instance, which
// focuses its window and imports any YAML path given (e.g. "Open with Kiln" from a file manager).
import { app } from 'electron';
import { isAbsolute, resolve } from 'node:path';

/** YAML paths on a command line, resolved against the launching shell's working directory. */
export function yamlPathsFromArgv(argv: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  // argv[0] is the executable; in development argv[1] is the app path. Neither ends in .yaml.
  for (const arg of argv.slice(1)) {
    if (arg.startsWith('-') || !/\.ya?ml$/i.test(arg)) continue;
    const full = isAbsolute(arg) ? arg : resolve(cwd, arg);
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
 * argv was delivered to the holder). Otherwise wires `second-instance` and macOS `open-file`.
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
    if (/\.ya?ml$/i.test(path)) handler.importPaths([path]);
  });
  return true;
}

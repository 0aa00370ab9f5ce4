// Child processes the browser specs run against: `kiln serve` (the window's backend) and
// `kiln receiver` (a headless build server), both from the TypeScript sources with the esphome
// simulator, on free ports, with temp directories that are removed afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { must } from '../test/support/must';

export const REPO = resolve(import.meta.dirname, '..');
export const SIM = join(REPO, 'tools/esphome-sim/esphome');
export const EXAMPLES = join(REPO, 'tools/esphome-sim/examples');
const KILN = join(REPO, 'main/headless/cli/kiln.ts');

export interface Child {
  proc: ChildProcess;
  dir: string;
  output(): string;
  stop(): Promise<void>;
}

function launch(args: string[], env: Record<string, string>, dir: string, ready: RegExp, timeoutMs = 30_000): Promise<{ child: Child; match: RegExpExecArray }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', KILN, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const child: Child = {
    proc,
    dir,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      void child.stop();
      reject(new Error(`kiln ${args[0]} did not become ready:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', check);
        resolveReady({ child, match: m });
      }
    };
    proc.stdout.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kiln ${args[0]} exited with ${code}:\n${out}`));
    });
  });
}

export interface ServeBackend extends Child {
  url: string;
  origin: string;
  token: string;
  configDir: string;
}

export interface ServeOptions {
  /** Example YAMLs copied into the config dir (secrets.yaml is always added). */
  examples?: string[];
  files?: Record<string, string>;
  simSpeed?: string;
  /** true: `--build-server` (the role is off by default); false: `--no-build-server`. */
  buildServer?: boolean;
  extraArgs?: string[];
  /** esphome command instead of the simulator (an executable path); null = no --esphome at all. */
  esphome?: string | null;
  /** Extra environment of the `kiln serve` child (e.g. KILN_TOOLCHAINS, PATH, pip's). */
  env?: Record<string, string>;
  /** Multicast (advertise + browse _esphomebuilder._tcp). Default off: test runs never multicast. */
  mdns?: boolean;
}

export async function startServe(o: ServeOptions = {}): Promise<ServeBackend> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-e2e-serve-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  for (const e of [...(o.examples ?? ['kitchen-plug.yaml', 'broken-lambda.yaml']), 'secrets.yaml']) copyFileSync(join(EXAMPLES, e), join(configDir, e));
  for (const [name, text] of Object.entries(o.files ?? {})) writeFileSync(join(configDir, name), text);
  const args = [
    'serve',
    '--config-dir', configDir,
    '--port', '0',
    ...(o.esphome === null ? [] : ['--esphome', o.esphome ?? SIM]),
    '--peer-link-port', '0',
    '--peer-link-host', '127.0.0.1',
    '--startup-grace-ms', '0',
    // Test runs never multicast unless a spec asks for it (the mDNS discovery spec).
    ...(o.mdns ? [] : ['--no-mdns']),
    '--renderer-dir', join(REPO, 'out/renderer'),
    ...(o.buildServer === true ? ['--build-server'] : o.buildServer === false ? ['--no-build-server'] : []),
    ...(o.extraArgs ?? []),
  ];
  const { child, match } = await launch(args, { ESPHOME_SIM_SPEED: o.simSpeed ?? '0.05', ...o.env }, dir, /KILN_SERVE_URL=(\S+)/);
  const url = must(match[1], 'the KILN_SERVE_URL line');
  const u = new URL(url);
  return { ...child, url, origin: u.origin, token: u.hash.replace('#token=', ''), configDir };
}

export interface BuildServerBackend extends Child {
  port: number;
  pin: string;
  pairingKey: string;
  dataDir: string;
}

export async function startBuildServer(o: { simSpeed?: string; mdns?: boolean; host?: string } = {}): Promise<BuildServerBackend> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-e2e-build-server-'));
  const dataDir = join(dir, 'data');
  const key = 'ABCD-EFGH-JKMN-PQRS';
  const { child, match } = await launch(
    ['receiver', '--data-dir', dataDir, '--port', '0', '--host', o.host ?? '127.0.0.1', '--esphome', SIM, '--pairing-key', key, ...(o.mdns ? [] : ['--no-mdns'])],
    { ESPHOME_SIM_SPEED: o.simSpeed ?? '0.05' },
    dir,
    /KILN_RECEIVER_READY (\{.*\})/,
  );
  const info = JSON.parse(must(match[1])) as { port: number; pin: string; pairing_key: string };
  return { ...child, port: info.port, pin: info.pin, pairingKey: info.pairing_key, dataDir };
}

// `kiln serve`: the whole backend (createApp) plus the hardened HTTP/WebSocket server for the
// window, in plain Node. Prints the URL to open (with the per-launch token in its fragment).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, type AppOptions, type KilnApp } from '../core/app';
import { parseEsphomeCommand } from '../core/esphome/command';
import { createBonjour } from '../core/peer-link/mdns';
import { startKilnServer, type KilnServer } from './server';

export const SERVE_READY_MARKER = 'KILN_SERVE_URL=';

export const SERVE_USAGE = `usage: kiln serve [options]

Serve the Kiln window to a browser on this machine, with the job queue running in this process.

  --config-dir D        ESPHome YAML folder (default $KILN_CONFIG_DIR or ~/esphome)
  --data-dir D          Kiln's state (default $KILN_DATA_DIR or <config-dir>/.kiln)
  --host H              HTTP bind address (default 127.0.0.1; other addresses expose the window
                        to the network, still token-protected)
  --port N              HTTP port (default 6052; 0 = any free port, printed on start)
  --esphome CMD         esphome command (default $KILN_ESPHOME, the stored setting, the default
                        managed toolchain, or esphome)
  --build-server        turn the build-server role on for this run (off by default; it can also
                        be turned on in Settings): listens on --peer-link-port and advertises
                        over mDNS so other Kiln windows can send builds here
  --peer-link-port N    build-server listener port (default 6055; 0 = any)
  --peer-link-host H    build-server listener bind address (default all interfaces)
  --no-build-server     no build-server role in this process, not even from Settings
  --no-mdns             do not advertise the build server over mDNS (_esphomebuilder._tcp)
  --startup-grace-ms N  wait before the first remote dispatch after start, so paired build
                        servers can reconnect (default 30000)
  --no-peer-link        local builds only: no pairing, no build servers
  --renderer-dir D      the built window (default out/renderer of this checkout)
  -h, --help            this help
`;

export class ServeUsageError extends Error {}

export interface ServeOptions {
  configDir: string;
  dataDir?: string;
  host: string;
  port: number;
  esphome?: string[];
  peerLinkPort: number;
  peerLinkHost?: string;
  /** 'setting' (default: off unless turned on in Settings), 'on' (--build-server), 'off' (--no-build-server). */
  buildServer: 'setting' | 'on' | 'off';
  /** Advertise the build-server role over mDNS while its listener is bound (`--no-mdns`: off). */
  mdns: boolean;
  peerLink: boolean;
  startupGraceMs?: number;
  rendererDir: string;
}

export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeOptions | 'help' {
  const o: ServeOptions = {
    configDir: env.KILN_CONFIG_DIR || join(homedir(), 'esphome'),
    // Like `kiln receiver` and the desktop; unset, createApp uses <config-dir>/.kiln.
    dataDir: env.KILN_DATA_DIR || undefined,
    host: '127.0.0.1',
    port: 6052,
    esphome: env.KILN_ESPHOME ? parseEsphomeCommand(env.KILN_ESPHOME) : undefined,
    peerLinkPort: 6055,
    buildServer: 'setting',
    mdns: true,
    peerLink: true,
    rendererDir: env.KILN_RENDERER_DIR || defaultRendererDir(),
  };
  const int = (flag: string, v: string, max = 65535) => {
    if (!/^\d+$/.test(v) || Number(v) > max) throw new ServeUsageError(`${flag} must be 0..${max}, got ${v}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!; // i < argv.length
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new ServeUsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h':
      case '--help':
        return 'help';
      case '--config-dir':
        o.configDir = value();
        break;
      case '--data-dir':
        o.dataDir = value();
        break;
      case '--host':
        o.host = value();
        break;
      case '--port':
        o.port = int(flag, value());
        break;
      case '--esphome':
        o.esphome = parseEsphomeCommand(value());
        break;
      case '--peer-link-port':
        o.peerLinkPort = int(flag, value());
        break;
      case '--peer-link-host':
        o.peerLinkHost = value();
        break;
      case '--startup-grace-ms':
        o.startupGraceMs = int(flag, value(), 3_600_000);
        break;
      case '--build-server':
        o.buildServer = 'on';
        break;
      case '--no-build-server':
        o.buildServer = 'off';
        break;
      case '--no-mdns':
        o.mdns = false;
        break;
      case '--no-peer-link':
        o.peerLink = false;
        break;
      case '--renderer-dir':
        o.rendererDir = value();
        break;
      default:
        throw new ServeUsageError(`unknown option ${arg}`);
    }
  }
  o.configDir = resolve(o.configDir);
  if (o.dataDir) o.dataDir = resolve(o.dataDir);
  o.rendererDir = resolve(o.rendererDir);
  return o;
}

/** out/renderer of the checkout this module belongs to (works from sources and from out/node). */
export function defaultRendererDir(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'kiln') return join(dir, 'out', 'renderer');
    } catch {
      // keep walking up
    }
    const up = dirname(dir);
    if (up === dir) return resolve('out', 'renderer');
    dir = up;
  }
}

export interface RunningServe {
  app: KilnApp;
  server: KilnServer;
  stop(): Promise<void>;
}

export async function startServe(o: ServeOptions, extra: Partial<AppOptions> = {}, log: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<RunningServe> {
  mkdirSync(o.configDir, { recursive: true });
  const { peerLink: extraPeerLink, mdns: extraMdns, ...rest } = extra;
  // The real multicast stack only when a build-server role can exist (it opens its socket on the
  // first advertisement); `extra.mdns` (a fake, or false) replaces it.
  const bonjour = extraMdns === undefined && o.mdns && o.peerLink && o.buildServer !== 'off' ? createBonjour((err) => log(`warning: mDNS: ${err.message}`)) : null;
  let app: KilnApp;
  try {
    app = await createApp({
      ...rest,
      configDir: o.configDir,
      dataDir: o.dataDir,
      esphome: o.esphome,
      peerLink: o.peerLink ? { listenHost: o.peerLinkHost, listenPort: o.peerLinkPort, buildServerRole: o.buildServer, startupGraceMs: o.startupGraceMs, ...(extraPeerLink || {}) } : false,
      mdns: extraMdns ?? bonjour ?? false,
      processName: rest.processName ?? 'kiln serve',
    });
  } catch (err) {
    bonjour?.destroy();
    throw err;
  }
  let server: KilnServer;
  try {
    server = await startKilnServer({ service: app.service, firmware: app.firmware.library, host: o.host, port: o.port, staticDir: o.rendererDir });
  } catch (err) {
    await app.stop();
    bonjour?.destroy();
    throw err;
  }
  const status = await app.esphomeStatus;
  if (!existsSync(join(o.rendererDir, 'index.html'))) log(`warning: the window is not built (${o.rendererDir}/index.html missing): run \`npm run build\``);
  log(`Kiln ${extra.appVersion ?? ''}`.trim() + ` — config dir ${app.configDir}`);
  log(
    status.found
      ? `esphome: ${app.esphome.join(' ')} (ESPHome ${status.version}${status.simulator ? ', Kiln simulator' : ''})`
      : `esphome: ${app.esphome.join(' ')} NOT FOUND (${status.error}) — install it from the window (one click), with \`kiln toolchain install\`, or set --esphome / KILN_ESPHOME`,
  );
  const role = app.peerLink?.role;
  if (role?.port) log(`build server: listening on port ${role.port}`);
  if (role?.advertised) log(`build server: advertised over mDNS as ${role.advertised.name} (_esphomebuilder._tcp)`);
  log('Open this URL in a browser on this machine (it carries this launch\'s access token):');
  log(`  ${server.url}`);
  log(`${SERVE_READY_MARKER}${server.url}`);
  let stopping: Promise<void> | null = null;
  return {
    app,
    server,
    stop: () =>
      (stopping ??= (async () => {
        await server.close();
        try {
          await app.stop();
        } finally {
          bonjour?.destroy();
        }
      })()),
  };
}

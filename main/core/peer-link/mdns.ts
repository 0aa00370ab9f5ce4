// mDNS for build servers (peer-link-protocol.md §16): a build server (`kiln receiver`, and the
// app's build-server role in `kiln serve` / Electron) advertises _esphomebuilder._tcp while its
// listener is bound; offloaders browse for unpaired servers. The bonjour instance is injected
// (bonjour-service through createBonjour in the product, a fake in tests).
import { Bonjour } from 'bonjour-service';
import { MDNS_SERVICE_TYPE, LABEL_MAX_CHARS, VERSION_MAX_CHARS } from './constants';
import { normaliseText } from './strict-json';

export interface MdnsPublishConfig {
  name: string;
  type: string;
  protocol: 'tcp';
  port: number;
  host: string;
  txt: Record<string, string>;
}

export interface MdnsServiceHandle {
  stop?: (cb?: () => void) => void;
}

export interface MdnsDiscoveredService {
  name: string;
  host?: string;
  port?: number;
  addresses?: string[];
  txt?: Record<string, unknown>;
}

export interface MdnsBrowserHandle {
  readonly services: MdnsDiscoveredService[];
  on(event: 'up' | 'down' | 'txt-update', fn: (s: MdnsDiscoveredService) => void): unknown;
  stop(): void;
}

/** The slice of bonjour-service's Bonjour class used here. */
export interface BonjourLike {
  publish(cfg: MdnsPublishConfig): MdnsServiceHandle;
  find(cfg: { type: string; protocol: 'tcp' }): MdnsBrowserHandle;
}

/**
 * The real multicast stack. Lazy: the UDP 5353 socket is opened on the first publish or browse,
 * so an app whose build-server role stays off never touches the network. Socket and send errors
 * go to `onError` (bonjour-service would otherwise throw them from a callback and end the
 * process). `destroy()` it on shutdown.
 */
export function createBonjour(onError: (err: Error) => void = () => undefined, socketOptions: { interface?: string } = {}): BonjourLike & { destroy(): void } {
  let b: Bonjour | null = null;
  const get = (): Bonjour => {
    if (!b) {
      // socketOptions.interface: the one interface to multicast on (tests pin it to loopback).
      // bonjour-service hands these to multicast-dns; its typings name a different shape.
      b = new Bonjour({ ...socketOptions } as unknown as ConstructorParameters<typeof Bonjour>[0], (err: Error) => onError(err));
      // multicast-dns emits bind failures (EACCES, EADDRINUSE) as 'error' on its emitter.
      (b as unknown as { server?: { mdns?: { on(e: 'error', fn: (err: Error) => void): unknown } } }).server?.mdns?.on('error', onError);
    }
    return b;
  };
  return {
    publish(cfg) {
      const service = get().publish(cfg);
      return { stop: (cb?: () => void) => (service.stop as (cb?: () => void) => void).call(service, cb) };
    },
    // Browser exposes services/on/stop with richer types; the shapes match at runtime.
    find: (cfg) => get().find(cfg),
    destroy: () => {
      b?.destroy();
      b = null;
    },
  };
}

export interface TxtInputs {
  serverVersion: string;
  esphomeVersion: string;
  friendlyName?: string;
  /** Only while the peer-link listener is bound. */
  pin?: string;
  listenerPort?: number | null;
}

/** Instance name and SRV target label: esphome-builder-<first 8 chars of dashboard_id>. */
export function instanceName(dashboardId: string): string {
  return `esphome-builder-${dashboardId.slice(0, 8)}`;
}

/** TXT keys of §16: versions always, friendly_name when set, pin + port only while bound. */
export function buildTxtRecord(i: TxtInputs): Record<string, string> {
  const txt: Record<string, string> = {
    server_version: normaliseText(i.serverVersion, VERSION_MAX_CHARS),
    esphome_version: normaliseText(i.esphomeVersion, VERSION_MAX_CHARS),
  };
  const friendly = normaliseText(i.friendlyName ?? '', LABEL_MAX_CHARS);
  if (friendly) txt.friendly_name = friendly;
  if (i.listenerPort && i.listenerPort > 0 && i.pin) {
    txt.pin_sha256 = i.pin;
    txt.remote_build_port = String(i.listenerPort);
  }
  return txt;
}

export interface AdvertiserOptions {
  bonjour: BonjourLike;
  dashboardId: string;
  serverVersion: string;
  esphomeVersion: () => string;
  friendlyName?: () => string;
  pin: () => string;
  /**
   * SRV port to keep advertising while the listener is down (e.g. the app's HTTP port). Without
   * it nothing is advertised while the listener is down.
   */
  servicePort?: number;
}

/** Publishes (and re-publishes on change) the build-server record. */
export class BuildServerAdvertiser {
  private handle: MdnsServiceHandle | undefined;
  private listenerPort: number | null = null;
  private published: MdnsPublishConfig | null = null;

  constructor(private readonly o: AdvertiserOptions) {}

  /** The record currently published (null when none). */
  get current(): MdnsPublishConfig | null {
    return this.published ? { ...this.published, txt: { ...this.published.txt } } : null;
  }

  /** Call with the bound port when the listener starts and null when it stops. */
  async setListenerPort(port: number | null): Promise<void> {
    this.listenerPort = port;
    await this.refresh();
  }

  /** Rebuilds the record (versions, name or identity changed) and re-publishes it. */
  async refresh(): Promise<void> {
    const cfg = this.recordFor();
    await this.unpublish();
    if (!cfg) return;
    this.handle = this.o.bonjour.publish(cfg);
    this.published = cfg;
  }

  async stop(): Promise<void> {
    this.listenerPort = null;
    await this.unpublish();
  }

  private recordFor(): MdnsPublishConfig | null {
    const port = this.listenerPort ?? this.o.servicePort ?? null;
    if (!port) return null;
    const name = instanceName(this.o.dashboardId);
    return {
      name,
      type: MDNS_SERVICE_TYPE,
      protocol: 'tcp',
      port,
      host: `${name}.local`,
      txt: buildTxtRecord({
        serverVersion: this.o.serverVersion,
        esphomeVersion: this.o.esphomeVersion(),
        friendlyName: this.o.friendlyName?.(),
        pin: this.o.pin(),
        listenerPort: this.listenerPort,
      }),
    };
  }

  private async unpublish(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    this.published = null;
    if (h?.stop) await new Promise<void>((resolve) => h.stop!(() => resolve()));
  }
}


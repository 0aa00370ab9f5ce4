// The sender's "Build servers on your network" (ui-and-users.md §5.1 "Known dashboards", peer-link-protocol.md §16): browses
// _esphomebuilder._tcp and keeps the build servers that advertise a bound peer-link listener,
// minus this app itself and servers already paired. Everything in an mDNS record is untrusted
// input from the LAN: a malformed record is dropped, never thrown on. The TXT pin is a hint
// only; trust still comes from the preview handshake and the user's confirmation.
import { isIP } from 'node:net';
import type { EventBus } from '../events';
import { LABEL_MAX_CHARS, MDNS_SERVICE_TYPE, VERSION_MAX_CHARS } from './constants';
import { isPin } from './fingerprint';
import { instanceName, type BonjourLike, type MdnsBrowserHandle } from './mdns';

/** One discovered, not-yet-paired build server (shape of the contract's DiscoveredBuildServer). */
export interface DiscoveredServer {
  /** mDNS instance name (unique per service type on the link); the row's key. */
  instance: string;
  /** friendly_name when advertised, else the instance name. */
  name: string;
  /** SRV target (e.g. esphome-builder-ab12cd34.local), or the first address when that is unusable. */
  host: string;
  /** remote_build_port from TXT (the peer-link listener), not the SRV port. */
  port: number;
  /** A/AAAA addresses, validated; the packet's source first, IPv4 before IPv6, no link-local. */
  addresses: string[];
  /** "" when not advertised. */
  esphomeVersion: string;
  serverVersion: string;
  /** pin_sha256 hint ("" when not advertised). */
  pin: string;
}

/** A pairing as discovery needs it (pin, and the endpoint the user paired with). */
export interface PairedEndpoint {
  pin: string;
  host: string;
  port: number;
}

export interface DiscoveryOptions {
  bonjour: BonjourLike;
  /** Emits `discovered_build_servers_changed`; `pairings_changed` re-filters the list. */
  bus?: EventBus;
  /** This app's pin and dashboard id: a Kiln that is also a build server never lists itself. */
  ownPin: () => string;
  ownDashboardId: () => string;
  paired: () => Iterable<PairedEndpoint>;
  /**
   * A fresh browse (new PTR query) every this often: live servers answer again and refresh their
   * last-seen time (bonjour-service keeps nothing fresh on its own). Default 60 s.
   */
  rebrowseMs?: number;
  /** An entry not heard from for this long is dropped (server gone without a goodbye). Default 180 s. */
  ttlMs?: number;
  /** Cap on remembered instances, so a flood of records cannot grow memory. Default 64. */
  maxEntries?: number;
  report?: (message: string) => void;
}

interface Seen {
  entry: DiscoveredServer;
  lastSeen: number;
}

type BrowserEvents = 'up' | 'down' | 'txt-update' | 'srv-update';

const MAX_ADDRESSES = 8;
const CONTROL = /[\u0000-\u001f\u007f]/;
// The SRV target is `esphome-builder-<first 8 chars of the dashboard id>.local` (§16), and a
// dashboard id is base64url: '_' anywhere and '-' at the end of a label are what peers advertise,
// not malformed. A label still may not start with '-' (it would read as an option somewhere).
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*$/;

export class BuildServerDiscovery {
  private readonly seen = new Map<string, Seen>();
  private readonly listeners = new Set<() => void>();
  private browser: MdnsBrowserHandle | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private offBus: (() => void) | null = null;
  private lastSignature = '[]';
  private floodReported = false;
  private stopped = false;

  constructor(private readonly o: DiscoveryOptions) {}

  /** Starts browsing. A stack that cannot browse is reported and leaves the list empty. */
  start(): void {
    if (this.browser || this.stopped) return;
    this.browse();
    const rebrowse = this.o.rebrowseMs ?? 60_000;
    this.timer = setInterval(() => {
      this.sweep();
      this.browse();
    }, rebrowse);
    this.timer.unref?.();
    if (this.o.bus) this.offBus = this.o.bus.on('pairings_changed', () => this.changed());
  }

  /** The current list: discovered, valid, not ourselves, not paired; sorted by name. */
  list(): DiscoveredServer[] {
    const ownPin = this.o.ownPin();
    const ownInstance = instanceName(this.o.ownDashboardId());
    const pins = new Set<string>();
    const endpoints = new Set<string>();
    for (const p of this.o.paired()) {
      pins.add(p.pin);
      endpoints.add(endpointKey(p.host, p.port));
    }
    const out: DiscoveredServer[] = [];
    for (const { entry } of this.seen.values()) {
      if (entry.instance === ownInstance || (entry.pin && entry.pin === ownPin)) continue;
      if (entry.pin ? pins.has(entry.pin) : [entry.host, ...entry.addresses].some((h) => endpoints.has(endpointKey(h, entry.port)))) continue;
      out.push({ ...entry, addresses: [...entry.addresses] });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.instance.localeCompare(b.instance));
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Drops entries not heard from within the TTL (also run before every re-browse). */
  sweep(now = Date.now()): void {
    const ttl = this.o.ttlMs ?? 180_000;
    let removed = false;
    for (const [key, s] of this.seen) {
      if (now - s.lastSeen > ttl) {
        this.seen.delete(key);
        removed = true;
      }
    }
    if (removed) this.changed();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offBus?.();
    this.offBus = null;
    this.stopBrowser(this.browser);
    this.browser = null;
    this.seen.clear();
    this.listeners.clear();
  }

  private browse(): void {
    if (this.stopped) return;
    const previous = this.browser;
    let next: MdnsBrowserHandle;
    try {
      next = this.o.bonjour.find({ type: MDNS_SERVICE_TYPE, protocol: 'tcp' });
    } catch (err) {
      this.o.report?.(`mDNS discovery failed: ${(err as Error).message}`);
      return;
    }
    const on = next.on.bind(next) as (event: BrowserEvents, fn: (s: unknown) => void) => unknown;
    const guard = (fn: (s: unknown) => void) => (s: unknown) => {
      try {
        fn(s);
      } catch (err) {
        // Never let one odd record escape into bonjour-service's socket callback.
        this.o.report?.(`mDNS discovery: ignored a record (${(err as Error).message})`);
      }
    };
    on('up', guard((s) => this.upsert(s)));
    on('txt-update', guard((s) => this.upsert(s)));
    on('srv-update', guard((s) => this.upsert(s)));
    on('down', guard((s) => this.remove(s)));
    this.browser = next;
    // The new browser answers for everything alive; the old one would only duplicate events.
    this.stopBrowser(previous);
    // Records the stack already holds (a shared stack that browsed before) count as seen now.
    for (const s of safeServices(next)) guard((x) => this.upsert(x))(s);
  }

  private stopBrowser(b: MdnsBrowserHandle | null): void {
    try {
      b?.stop();
    } catch {
      /* a stack that is already gone */
    }
  }

  private upsert(raw: unknown): void {
    const key = instanceOf(raw);
    if (!key) return;
    const entry = parseBuildServer(raw);
    if (!entry) {
      // A record that stopped advertising a listener (or turned malformed) leaves the list.
      if (this.seen.delete(key)) this.changed();
      return;
    }
    if (!this.seen.has(key) && this.seen.size >= (this.o.maxEntries ?? 64)) {
      if (!this.floodReported) this.o.report?.('mDNS discovery: too many build servers advertised; ignoring the rest');
      this.floodReported = true;
      return;
    }
    this.seen.set(key, { entry, lastSeen: Date.now() });
    this.changed();
  }

  private remove(raw: unknown): void {
    const key = instanceOf(raw);
    if (key && this.seen.delete(key)) this.changed();
  }

  /** Emits only when the visible list actually changed (re-announcements are frequent). */
  private changed(): void {
    if (this.stopped) return;
    const list = this.list();
    const signature = JSON.stringify(list);
    if (signature === this.lastSignature) return;
    this.lastSignature = signature;
    this.o.bus?.emit('discovered_build_servers_changed', { count: list.length });
    for (const fn of [...this.listeners]) {
      try {
        fn();
      } catch (err) {
        this.o.report?.(`discovery listener failed: ${(err as Error).message}`);
      }
    }
  }
}

function safeServices(b: MdnsBrowserHandle): unknown[] {
  try {
    return Array.isArray(b.services) ? [...b.services] : [];
  } catch {
    return [];
  }
}

function endpointKey(host: string, port: number): string {
  return `${host.toLowerCase().replace(/\.$/, '')}|${port}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The instance name that keys a record, or undefined for one without a usable name. */
function instanceOf(raw: unknown): string | undefined {
  if (!isRecord(raw)) return undefined;
  const name = raw.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || CONTROL.test(name)) return undefined;
  return name;
}

function txtValue(txt: Record<string, unknown>, key: string): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(txt, key)) return undefined;
  const v = txt[key];
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

/** Text from TXT: trimmed, control characters removed, capped. */
function txtText(txt: Record<string, unknown>, key: string, max: number): string {
  const v = txtValue(txt, key) ?? '';
  return [...v.replace(/[\u0000-\u001f\u007f]/g, '').trim()].slice(0, max).join('');
}

function validHost(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const h = v.replace(/\.$/, '');
  return HOSTNAME.test(h) ? h : undefined;
}

function validAddresses(raw: Record<string, unknown>): string[] {
  const list: unknown[] = Array.isArray(raw.addresses) ? raw.addresses.slice(0, 32) : [];
  const referer = isRecord(raw.referer) && typeof raw.referer.address === 'string' ? raw.referer.address : '';
  const out = new Set<string>();
  for (const a of [referer, ...list]) {
    if (typeof a !== 'string' || a.length > 45) continue;
    const family = isIP(a);
    // Link-local IPv6 is useless without its zone, which mDNS does not carry.
    if (family === 0 || (family === 6 && /^fe[89ab]/i.test(a))) continue;
    // The packet's source only counts when the record itself lists it (or lists nothing).
    if (a === referer && list.length > 0 && !list.includes(a)) continue;
    out.add(a.toLowerCase());
  }
  return [...out].sort((a, b) => (isIP(a) === isIP(b) ? 0 : isIP(a) === 4 ? -1 : 1)).slice(0, MAX_ADDRESSES);
}

/**
 * One browse result → a discovered build server, or undefined unless it is a well-formed record
 * advertising a bound peer-link listener (remote_build_port 1..65535). A pin_sha256 that is
 * present must be a valid pin; an absent one leaves `pin` "".
 */
export function parseBuildServer(raw: unknown): DiscoveredServer | undefined {
  const instance = instanceOf(raw);
  if (!instance || !isRecord(raw) || !isRecord(raw.txt)) return undefined;
  const txt = raw.txt;
  const portText = txtValue(txt, 'remote_build_port') ?? '';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) return undefined;
  const pinText = txtValue(txt, 'pin_sha256');
  if (pinText !== undefined && pinText !== '' && !isPin(pinText)) return undefined;
  const addresses = validAddresses(raw);
  const host = validHost(raw.host) ?? addresses[0];
  if (!host) return undefined;
  const friendly = txtText(txt, 'friendly_name', LABEL_MAX_CHARS);
  return {
    instance,
    name: friendly || [...instance].slice(0, LABEL_MAX_CHARS).join(''),
    host,
    port,
    addresses,
    esphomeVersion: txtText(txt, 'esphome_version', VERSION_MAX_CHARS),
    serverVersion: txtText(txt, 'server_version', VERSION_MAX_CHARS),
    pin: pinText ?? '',
  };
}

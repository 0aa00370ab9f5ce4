// Reads and "validates" a device YAML into the small model the simulator needs
// (esphome-cli.md §7.2.3): name (with substitutions), platform, board, framework, ota/api, address.
import path from 'node:path';
import YAML from 'yaml';
import { ConfigLoader, Lambda, SecretRef, plain, jsonReplacer } from './yaml-load.mjs';
import { PLATFORM_KEYS, OTA_PORTS, esp32Variant, familyOf, libretinyChip } from './platforms.mjs';
import { SimError, fnv1a32, isPlainObject } from './util.mjs';

/** `Failed config` (stdout) and exit 2. `blocks` = [{ header, lines }]. */
export class ConfigInvalid extends Error {
  constructor(blocks) {
    super('Failed config');
    this.blocks = blocks;
  }
}

/** Render a config value the way `esphome config` prints it; secrets masked unless shown. */
export function dumpYaml(value, { showSecrets = false } = {}) {
  const doc = new YAML.Document(toDumpable(value, showSecrets));
  return doc.toString({ lineWidth: 0 });
}

function toDumpable(value, showSecrets) {
  if (value instanceof SecretRef) {
    if (showSecrets) return value.value;
    const s = new YAML.Scalar(value.key);
    s.tag = '!secret';
    s.type = 'QUOTE_SINGLE';
    return s;
  }
  if (value instanceof Lambda) {
    const s = new YAML.Scalar(value.source);
    s.tag = '!lambda';
    if (value.source.includes('\n')) s.type = 'BLOCK_LITERAL';
    return s;
  }
  if (Array.isArray(value)) return value.map((v) => toDumpable(v, showSecrets));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toDumpable(v, showSecrets)]));
  }
  return value;
}

/** Line (1-based) of a top-level key in the main YAML text, for `[source file:line]`. */
export function keyLine(text, key, subkey) {
  const lines = text.split('\n');
  const esc = (k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const idx = lines.findIndex((l) => new RegExp(`^${esc(key)}\\s*:`).test(l));
  if (idx < 0) return 1;
  if (subkey) {
    // The real CLI points at the offending option's line inside the block.
    for (let i = idx + 1; i < lines.length && (lines[i] === '' || /^\s/.test(lines[i])); i += 1) {
      if (new RegExp(`^\\s+${esc(subkey)}\\s*:`).test(lines[i])) return i + 1;
    }
  }
  return idx + 1;
}

function indentBlock(value) {
  if (value === null || value === undefined) return [];
  const text = typeof value === 'object' ? dumpYaml(value) : `${String(value)}\n`;
  return text.replace(/\n$/, '').split('\n').map((l) => `  ${l}`);
}

function failedBlock(domain, file, text, value, message, subkey) {
  const header = value === undefined ? `${domain}: None` : `${domain}: [source ${file}:${keyLine(text, domain, subkey)}]`;
  return { domain, source: value === undefined ? null : header.slice(domain.length + 2), header, lines: ['  ', `  ${message}`, ...indentBlock(value)] };
}

export function renderFailedConfig(out, blocks) {
  out.line(out.paint('1;31', 'Failed config'));
  out.line();
  for (const block of blocks) {
    // Colours as esphome prints them: the domain bold red, the source cyan, the message bold red.
    out.line(block.source ? `${out.paint('1;31', `${block.domain}:`)} ${out.paint('36', block.source)}` : out.paint('31', block.header));
    block.lines.forEach((l, i) => out.line(i === 1 ? `  ${out.paint('1;31', l.slice(2))}` : l));
    out.line();
  }
}

function str(value) {
  const v = plain(value);
  return v === undefined || v === null ? undefined : String(v);
}

function otaInfo(config, family) {
  const ota = config.ota;
  if (ota === undefined || ota === null) return null;
  const entries = Array.isArray(ota) ? ota : isPlainObject(ota) ? [{ platform: 'esphome', ...ota }] : [];
  const platforms = entries.map((e) => (isPlainObject(e) ? String(plain(e.platform) ?? 'esphome') : String(e)));
  const esphomeEntry = entries.find((e) => isPlainObject(e) && String(plain(e.platform) ?? 'esphome') === 'esphome');
  return {
    platforms,
    port: Number(plain(esphomeEntry?.port) ?? OTA_PORTS[family] ?? 3232),
    password: str(esphomeEntry?.password) ?? '',
  };
}

function networkAddress(config, name) {
  for (const key of ['wifi', 'ethernet', 'openthread']) {
    const net = config[key];
    if (net === undefined) continue;
    const n = isPlainObject(net) ? net : {};
    const use = str(n.use_address);
    if (use) return use;
    const staticIp = isPlainObject(n.manual_ip) ? str(n.manual_ip.static_ip) : undefined;
    if (staticIp) return staticIp;
    return `${name}${str(n.domain) ?? '.local'}`;
  }
  return null;
}

const AUTO_LOAD = {
  api: ['socket'],
  wifi: ['network'],
  ethernet: ['network'],
  ota: ['md5', 'socket'],
  web_server: ['web_server_base', 'json'],
  captive_portal: ['web_server_base'],
  mqtt: ['json'],
};

function integrations(config, platformKey, noMdns) {
  const domains = new Set(['esphome', platformKey]);
  const platforms = new Set();
  for (const [key, value] of Object.entries(config)) {
    if (key === 'packages' || key === 'substitutions' || key === 'external_components') continue;
    domains.add(key);
    for (const extra of AUTO_LOAD[key] ?? []) domains.add(extra);
    if (Array.isArray(value)) {
      for (const item of value) {
        const p = isPlainObject(item) ? str(item.platform) : undefined;
        if (p) {
          domains.add(p);
          platforms.add(`${key}.${p}`);
        }
      }
    }
  }
  if ((config.wifi !== undefined || config.ethernet !== undefined) && !noMdns) domains.add('mdns');
  if (['esp32', 'esp8266', 'rp2040'].includes(platformKey) || familyOf(platformKey) === 'libretiny') domains.add('preferences');
  return { loadedIntegrations: [...domains].sort(), loadedPlatforms: [...platforms].sort() };
}

/**
 * Load + validate a device YAML.
 * @returns {{ configPath: string, configDir: string, text: string, config: Record<string, any>,
 *             loader: ConfigLoader, model: Record<string, any>, configHash: number }}
 */
export function readDevice(configPath, { cliSubstitutions = {}, bundleMode = false, warn } = {}) {
  const loader = new ConfigLoader({ mainPath: configPath, cliSubstitutions, bundleMode, warn });
  const { config, remotePackages } = loader.load();
  for (const url of remotePackages) warn?.(`Remote package ${url} is not fetched by Kiln's esphome simulator; ignoring it`);
  const file = loader.mainPath;
  const text = loader.mainText;

  const esphome = config.esphome;
  if (!isPlainObject(esphome)) {
    throw new ConfigInvalid([
      failedBlock('esphome', file, text, undefined,
        "'esphome' section missing from configuration. Please make sure your configuration has an 'esphome:' line in it."),
    ]);
  }
  const name = str(esphome.name);
  if (!name) {
    throw new ConfigInvalid([failedBlock('esphome', file, text, esphome, "'name' is a required option for [esphome].")]);
  }
  const badChar = [...name].find((c) => !/[a-z0-9_-]/.test(c));
  if (badChar !== undefined) {
    throw new ConfigInvalid([
      failedBlock('esphome', file, text, esphome,
        `'${badChar}' is an invalid character for names. Valid characters are: abcdefghijklmnopqrstuvwxyz0123456789-_ (lowercase, no spaces).`, 'name'),
    ]);
  }
  if (name.length > 31) {
    throw new ConfigInvalid([
      failedBlock('esphome', file, text, esphome,
        `Invalid name '${name}': at most 31 characters. [name]`, 'name'),
    ]);
  }
  const present = PLATFORM_KEYS.filter((k) => k in config);
  if (present.length === 0) {
    throw new ConfigInvalid([
      failedBlock('esphome', file, text, esphome,
        `Platform missing. You must include one of the available platform keys: ${PLATFORM_KEYS.join(', ')}.`),
    ]);
  }
  if (present.length > 1) {
    throw new ConfigInvalid([
      failedBlock(present[1], file, text, config[present[1]],
        `Found multiple target platform blocks: ${present.join(', ')}. Only one is allowed.`),
    ]);
  }
  const platformKey = present[0];
  const family = familyOf(platformKey);
  if (platformKey === 'nrf52') {
    throw new SimError("Kiln's esphome simulator does not simulate the nrf52 platform", 1);
  }
  const platformConf = isPlainObject(config[platformKey]) ? config[platformKey] : {};
  const board = str(platformConf.board);
  if (!board && platformKey !== 'host' && !(platformKey === 'esp32' && str(platformConf.variant))) {
    throw new ConfigInvalid([
      failedBlock(platformKey, file, text, platformConf, `'board' is a required option for [${platformKey}].`),
    ]);
  }

  let framework = 'arduino';
  let variant = null;
  let espPlatform;
  let chip = null;
  if (platformKey === 'esp32') {
    const fw = platformConf.framework;
    const type = isPlainObject(fw) ? str(fw.type) : str(fw);
    if (type && !['arduino', 'esp-idf', 'esp_idf', 'espidf'].includes(type)) {
      throw new ConfigInvalid([
        failedBlock(platformKey, file, text, platformConf,
          `Unknown value '${type}', valid options are 'esp-idf', 'arduino'. [type]`),
      ]);
    }
    framework = type && type !== 'arduino' ? 'esp-idf' : 'arduino';
    variant = esp32Variant(board, str(platformConf.variant));
    espPlatform = variant;
  } else if (family === 'libretiny') {
    chip = libretinyChip(platformKey, board);
    espPlatform = platformKey.toUpperCase();
  } else if (platformKey === 'host') {
    framework = 'host';
    espPlatform = 'HOST';
  } else {
    espPlatform = platformKey.toUpperCase();
  }

  const mdns = config.mdns;
  const noMdns = isPlainObject(mdns) && plain(mdns.disabled) === true;
  const logger = config.logger === undefined ? null : { baud: Number(plain(isPlainObject(config.logger) ? config.logger.baud_rate : undefined) ?? 115200) };
  const webServer = config.web_server;
  const model = {
    name,
    friendlyName: str(esphome.friendly_name) ?? null,
    comment: str(esphome.comment) ?? null,
    platformKey,
    family,
    board: board ?? (platformKey === 'host' ? 'host' : `esp32-${(variant ?? 'esp32').toLowerCase()}-generic`),
    variant,
    espPlatform,
    chip,
    framework,
    ota: otaInfo(config, family),
    api: config.api !== undefined,
    mqtt: config.mqtt !== undefined,
    logger,
    address: networkAddress(config, name),
    webPort: webServer === undefined ? null : Number(plain(isPlainObject(webServer) ? webServer.port : undefined) ?? 80),
    noMdns,
    buildPathOverride: str(esphome.build_path) ?? null,
    ...integrations(config, platformKey, noMdns),
  };
  const configHash = fnv1a32(JSON.stringify(config, jsonReplacer));
  return { configPath: file, configDir: path.dirname(file), text, config, loader, model, configHash };
}

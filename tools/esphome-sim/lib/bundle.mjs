// `esphome bundle` and consuming `*.esphomebundle.tar.gz` configs (esphome-cli.md §1.3, §7.2.12).
// Archives are real gzip tars: manifest.json first, filtered secrets, then the other files sorted;
// every member mtime 0, uid/gid 0, mode 0644, no directory entries.
import { versionAtLeast } from './util.mjs';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import YAML from 'yaml';
import { atomicWrite } from './artifacts.mjs';
import { SECRETS_FILES, SecretRef, Lambda } from './yaml-load.mjs';
import { SimError, isPlainObject } from './util.mjs';

export const BUNDLE_SUFFIX = '.esphomebundle.tar.gz';
export const MANIFEST_FILENAME = 'manifest.json';
export const CURRENT_MANIFEST_VERSION = 1;
const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_DECOMPRESSED = 500 * 1024 * 1024;
const PRESERVED_DIRS = ['.esphome', '.pioenvs', '.pio'];

const NON_PATH_PREFIXES = ['http://', 'https://', 'ftp://', 'mdi:', '<'];
const KNOWN_EXTENSIONS = new Set(['.ttf', '.otf', '.woff', '.woff2', '.pcf', '.bdf', '.png', '.jpg', '.jpeg', '.bmp', '.gif', '.svg', '.ico', '.webp', '.pem', '.crt', '.key', '.der', '.p12', '.pfx', '.h', '.hpp', '.c', '.cpp', '.ino', '.css', '.js', '.html']);

export function isBundlePath(p) {
  return p.toLowerCase().endsWith(BUNDLE_SUFFIX);
}

/** Collects bundle members in discovery order (main YAML, YAML loads, component files). */
class FileCollector {
  constructor(configDir, out) {
    this.configDir = configDir;
    this.out = out;
    this.files = [];
    this.seen = new Set();
  }

  add(absPath) {
    const abs = path.resolve(absPath);
    if (this.seen.has(abs)) return false;
    let st;
    try {
      st = fs.statSync(abs);
    } catch {
      st = null;
    }
    if (!st || !st.isFile()) {
      this.out.warning(`Bundle: skipping missing file ${abs}`);
      return false;
    }
    const rel = path.relative(this.configDir, abs);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      this.out.warning(`Bundle: skipping file outside config directory: ${abs}`);
      return false;
    }
    this.seen.add(abs);
    this.files.push({ path: rel.split(path.sep).join('/'), source: abs });
    return true;
  }

  addDirectory(absDir) {
    const dir = path.resolve(absDir);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      this.out.warning(`Bundle: skipping missing directory ${dir}`);
      return;
    }
    const walk = (d) => {
      const entries = fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (e.name === '__pycache__') continue;
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) this.add(p);
      }
    };
    walk(dir);
  }
}

// Options real validators turn into absolute paths (so no warning, and a missing file is
// reported as missing rather than silently ignored).
const PATH_OPTIONS = new Set(['file', 'includes', 'includes_c']);

function checkStringPath(collector, value, key) {
  if (NON_PATH_PREFIXES.some((p) => value.startsWith(p))) return;
  if (value.includes('\n') || value.length < 2) return;
  if (path.isAbsolute(value)) {
    if (fs.existsSync(value) && fs.statSync(value).isFile()) collector.add(value);
    else if (PATH_OPTIONS.has(key)) collector.add(value);
    return;
  }
  const ext = path.extname(value).toLowerCase();
  if (!KNOWN_EXTENSIONS.has(ext)) return;
  const resolved = path.resolve(collector.configDir, value);
  if (PATH_OPTIONS.has(key)) {
    collector.add(resolved);
    return;
  }
  collector.out.warning(`Bundle: non-absolute path in validated config: ${value} (component validator should return absolute paths)`);
  if (fs.existsSync(resolved) && fs.statSync(resolved).isFile()) collector.add(resolved);
}

function walkConfig(collector, node, key) {
  if (node instanceof SecretRef || node instanceof Lambda) return;
  if (Array.isArray(node)) for (const item of node) walkConfig(collector, item, key);
  else if (isPlainObject(node)) for (const [k, v] of Object.entries(node)) walkConfig(collector, v, k);
  else if (typeof node === 'string') checkStringPath(collector, node, key);
}

function discoverComponentFiles(collector, config) {
  walkConfig(collector, config, undefined);
  const esphome = isPlainObject(config.esphome) ? config.esphome : {};
  for (const inc of Array.isArray(esphome.includes) ? esphome.includes : []) {
    if (typeof inc !== 'string' || inc.startsWith('<')) continue;
    const p = path.resolve(collector.configDir, inc);
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) collector.addDirectory(p);
    else collector.add(p);
  }
  for (const inc of Array.isArray(esphome.includes_c) ? esphome.includes_c : []) {
    if (typeof inc === 'string' && !inc.startsWith('<')) collector.add(path.resolve(collector.configDir, inc));
  }
  const ext = config.external_components;
  for (const item of Array.isArray(ext) ? ext : []) {
    if (!isPlainObject(item)) continue;
    const src = item.source;
    let local = null;
    if (typeof src === 'string' && !/^(github:\/\/|https?:\/\/|git@)/.test(src)) local = src;
    else if (isPlainObject(src) && src.type === 'local' && typeof src.path === 'string') local = src.path;
    if (local) collector.addDirectory(path.resolve(collector.configDir, local));
  }
  const custom = path.join(collector.configDir, 'custom_components');
  if (fs.existsSync(custom) && fs.statSync(custom).isDirectory()) collector.addDirectory(custom);
}

const SECRET_RE = /!secret\s+(\S+)/g;

function usedSecretKeys(yamlSources) {
  const keys = new Set();
  for (const f of yamlSources) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(SECRET_RE)) keys.add(m[1]);
  }
  return keys;
}

function filteredSecrets(collector, secretsFiles, keys) {
  const result = new Map();
  if (keys.size === 0) return result;
  for (const file of secretsFiles) {
    const rel = path.relative(collector.configDir, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    let all;
    try {
      all = YAML.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      collector.out.warning(`Bundle: failed to load secrets file ${file}`);
      continue;
    }
    if (!isPlainObject(all)) continue;
    const filtered = Object.fromEntries(Object.entries(all).filter(([k]) => keys.has(k)));
    if (Object.keys(filtered).length > 0) result.set(rel.split(path.sep).join('/'), Buffer.from(YAML.stringify(filtered)));
  }
  return result;
}

/** gzip tar with deterministic member metadata. */
export async function packTarGz(entries) {
  const { default: tarStream } = await import('tar-stream');
  const pack = tarStream.pack();
  const chunks = [];
  const done = new Promise((resolve, reject) => {
    pack.on('data', (c) => chunks.push(c));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const { name, data } of entries) {
    await new Promise((resolve, reject) => {
      pack.entry({ name, size: data.length, mtime: new Date(0), uid: 0, gid: 0, mode: 0o644, type: 'file', uname: '', gname: '' }, data, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return zlib.gzipSync(Buffer.concat(chunks));
}

/**
 * Discover the files of a validated config and build the archive in memory.
 * @returns {Promise<{ data: Buffer|null, manifest: object, files: {path: string, source: string}[], hasSecrets: boolean }>}
 */
export async function buildBundle(device, out, version, { listOnly = false } = {}) {
  const { loader, config, configPath, configDir } = device;
  const collector = new FileCollector(configDir, out);
  collector.add(configPath);
  const secretsAbs = new Set();
  for (const f of loader.loadedFiles) {
    if (path.resolve(f) === path.resolve(configPath)) continue;
    if (SECRETS_FILES.includes(path.basename(f))) secretsAbs.add(path.resolve(f));
    collector.add(f);
  }
  discoverComponentFiles(collector, config);
  const files = collector.files;
  const manifestBase = {
    manifest_version: CURRENT_MANIFEST_VERSION,
    esphome_version: version,
    config_filename: path.basename(configPath),
    // esphome 2026.10 records the sender's config directory (absolute) in the manifest.
    ...(versionAtLeast(version, '2026.10') ? { config_dir: path.dirname(configPath) } : {}),
    files: files.map((f) => f.path),
  };
  if (listOnly) return { data: null, manifest: { ...manifestBase, has_secrets: false }, files, hasSecrets: false };
  const yamlSources = files.filter((f) => /\.ya?ml$/i.test(f.source)).map((f) => f.source);
  const secrets = filteredSecrets(collector, [...secretsAbs], usedSecretKeys(yamlSources));
  const manifest = { ...manifestBase, has_secrets: secrets.size > 0 };
  const entries = [{ name: MANIFEST_FILENAME, data: Buffer.from(JSON.stringify(manifest, null, 2)) }];
  for (const rel of [...secrets.keys()].sort()) entries.push({ name: rel, data: secrets.get(rel) });
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (secretsAbs.has(f.source)) continue;
    entries.push({ name: f.path, data: fs.readFileSync(f.source) });
  }
  return { data: await packTarGz(entries), manifest, files, hasSecrets: secrets.size > 0 };
}

/** `esphome bundle` command body. */
export async function bundleCommand(device, out, version, opts) {
  if (opts.listOnly) {
    const { files } = await buildBundle(device, out, version, { listOnly: true });
    for (const rel of files.map((f) => f.path).sort()) out.line(`  ${rel}`);
    out.info(`Found ${files.length} files`);
    return 0;
  }
  const stem = path.basename(device.configPath).replace(/\.ya?ml$/i, '');
  const target = opts.output ? path.resolve(opts.output) : path.join(device.configDir, `${stem}${BUNDLE_SUFFIX}`);
  const { data, files, hasSecrets } = await buildBundle(device, out, version);
  atomicWrite(target, data);
  if (hasSecrets) out.warning('Bundle contains secrets (e.g. Wi-Fi passwords). Do not share it with untrusted parties.');
  out.info(`Bundle created: ${target} (${files.length} files, ${(data.length / 1024).toFixed(1)} KB)`);
  return 0;
}

/** Read every member of a .tar.gz into memory, enforcing the size cap. */
async function readMembers(bundlePath) {
  let raw;
  try {
    raw = zlib.gunzipSync(fs.readFileSync(bundlePath), { maxOutputLength: MAX_DECOMPRESSED + 64 * 1024 * 1024 });
  } catch (err) {
    throw new SimError(`Failed to extract bundle: ${err.code === 'ERR_BUFFER_TOO_LARGE' ? `decompressed size exceeds ${MAX_DECOMPRESSED / (1024 * 1024)}MB limit` : err.message}`, 1);
  }
  const { default: tarStream } = await import('tar-stream');
  const extract = tarStream.extract();
  const members = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks = [];
      for await (const c of entry) chunks.push(c);
      members.push({ header: entry.header, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(raw);
  try {
    await reading;
  } catch (err) {
    throw new SimError(`Failed to extract bundle: ${err.message}`, 1);
  }
  return members;
}

function memberPathError(name) {
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) return `absolute path in archive: ${name}`;
  if (name.split(/[\\/]/).includes('..')) return `path traversal in archive: ${name}`;
  return null;
}

/**
 * Validate and extract a bundle next to itself (`<name>.esphomebundle/`), keeping build caches.
 * @returns {Promise<string>} absolute path of the extracted config YAML
 */
export async function extractBundle(bundlePath, out) {
  const abs = path.resolve(bundlePath);
  out.info(`Extracting config bundle ${abs}...`);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) throw new SimError(`Bundle file not found: ${abs}`, 1);
  const members = await readMembers(abs);
  const manifestMember = members.find((m) => m.header.name === MANIFEST_FILENAME || m.header.name === `./${MANIFEST_FILENAME}`);
  if (!manifestMember) throw new SimError('Invalid bundle: missing manifest.json', 1);
  if (manifestMember.header.type !== 'file') throw new SimError('Invalid bundle: manifest.json is not a regular file', 1);
  if (manifestMember.data.length > MAX_MANIFEST_BYTES) throw new SimError('Invalid bundle: manifest.json is larger than 1 MB', 1);
  let manifest;
  try {
    manifest = JSON.parse(manifestMember.data.toString('utf8'));
  } catch (err) {
    throw new SimError(`Invalid bundle: malformed manifest.json: ${err.message}`, 1);
  }
  if (!isPlainObject(manifest)) throw new SimError('Invalid bundle: malformed manifest.json: not an object', 1);
  const version = manifest.manifest_version;
  if (version === undefined || version === null) throw new SimError("Invalid bundle: manifest.json missing 'manifest_version'", 1);
  if (!Number.isInteger(version) || version < 1) throw new SimError(`Invalid bundle: manifest_version must be a positive integer, got ${JSON.stringify(version)}`, 1);
  if (version > CURRENT_MANIFEST_VERSION) {
    throw new SimError(`Bundle manifest version ${version} is newer than this ESPHome version supports (max ${CURRENT_MANIFEST_VERSION}). Please upgrade ESPHome to compile this bundle.`, 1);
  }
  const configFilename = manifest.config_filename;
  if (typeof configFilename !== 'string' || configFilename === '') throw new SimError("Invalid bundle: manifest.json missing 'config_filename'", 1);
  if (memberPathError(configFilename)) throw new SimError(`Invalid bundle: ${memberPathError(configFilename)}`, 1);

  const target = abs.slice(0, -'.tar.gz'.length);
  let total = 0;
  const files = [];
  for (const { header, data } of members) {
    const name = header.name;
    const bad = memberPathError(name);
    if (bad) throw new SimError(`Invalid bundle: ${bad}`, 1);
    if (header.type === 'symlink' || header.type === 'link') throw new SimError(`Invalid bundle: symlink in archive: ${name}`, 1);
    if (header.type === 'directory') continue;
    if (header.type !== 'file' && header.type !== 'contiguous-file') throw new SimError(`Invalid bundle: unsupported member type '${header.type}' in archive: ${name}`, 1);
    const dest = path.resolve(target, name);
    if (dest !== target && !dest.startsWith(`${target}${path.sep}`)) throw new SimError(`Invalid bundle: file would extract outside target: ${name}`, 1);
    total += data.length;
    if (total > MAX_DECOMPRESSED) throw new SimError(`Invalid bundle: decompressed size exceeds ${MAX_DECOMPRESSED / (1024 * 1024)}MB limit`, 1);
    files.push({ dest, data, name: path.relative(target, dest).split(path.sep).join('/') });
  }
  if (!files.some((f) => f.name === configFilename.replace(/^\.\//, ''))) {
    throw new SimError(`Bundle manifest references config '${configFilename}' but it was not found in the archive`, 1);
  }
  if (fs.existsSync(target) && !fs.statSync(target).isDirectory()) throw new SimError(`Failed to extract bundle: ${target} exists and is not a directory`, 1);
  fs.mkdirSync(target, { recursive: true });
  for (const entry of fs.readdirSync(target)) {
    if (PRESERVED_DIRS.includes(entry) && fs.statSync(path.join(target, entry)).isDirectory()) continue;
    fs.rmSync(path.join(target, entry), { recursive: true, force: true });
  }
  for (const f of files) {
    fs.mkdirSync(path.dirname(f.dest), { recursive: true });
    fs.writeFileSync(f.dest, f.data, { mode: 0o644 });
  }
  return path.join(target, configFilename);
}

// The configuration digest: one SHA-256 over every input a firmware build depends on — the files
// `esphome bundle` would put in the archive (main YAML, `!include`s and `!include_dir_*`, local
// `packages:`, `esphome: includes:`, files named by `file:` options such as fonts and images,
// `secrets.yaml` when a `!secret` is used) and the ESPHome version. Discovery reads the YAML
// itself (no esphome process), and a per-file cache keyed by (size, mtime, ctime, inode) makes an
// unchanged configuration cost only a `stat` per file, so device status stays cheap for a fleet.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseAllDocuments, type Document, type ScalarTag, type CollectionTag } from 'yaml';

/** Bumped when what goes into the digest changes, so old library entries stop matching. */
export const DIGEST_FORMAT = 1;

const SECRETS_FILES = ['secrets.yaml', 'secrets.yml'];
const YAML_EXT = new Set(['.yaml', '.yml']);
const NON_PATH_PREFIXES = ['http://', 'https://', 'ftp://', 'github://', 'mdi:', '<'];
/** Extensions of files a config names by path that end up in the build (esphome's bundle list). */
const FILE_EXT = new Set(['.ttf', '.otf', '.woff', '.woff2', '.pcf', '.bdf', '.png', '.jpg', '.jpeg', '.bmp', '.gif', '.svg', '.ico', '.webp', '.pem', '.crt', '.key', '.der', '.p12', '.pfx', '.h', '.hpp', '.c', '.cpp', '.ino', '.css', '.js', '.html']);

export interface ConfigDigest {
  /** Hex SHA-256 over the format, the ESPHome version and every input file (path relative to the config dir + content hash). */
  digest: string;
  esphomeVersion: string;
  /** Inputs, relative to the YAML's folder, '/'-separated, sorted. */
  files: Array<{ path: string; sha256: string }>;
  /** Referenced files that do not exist (they change the digest too: creating one is a change). */
  missing: string[];
}

class Include {
  constructor(readonly path: string) {}
}
class IncludeDir {
  constructor(readonly path: string) {}
}
class Secret {}

const includeTag: ScalarTag = { tag: '!include', resolve: (s) => new Include(s) };
const includeMapTag: CollectionTag = {
  tag: '!include',
  collection: 'map',
  // `!include {file: x.yaml, vars: {...}}`
  resolve: (map) => {
    const file = (map as unknown as { get(k: string): unknown }).get('file');
    return new Include(typeof file === 'string' ? file : '');
  },
};
const dirTags: ScalarTag[] = ['!include_dir_list', '!include_dir_named', '!include_dir_merge_list', '!include_dir_merge_named'].map((tag) => ({ tag, resolve: (s: string) => new IncludeDir(s) }));
const secretTag: ScalarTag = { tag: '!secret', resolve: () => new Secret() };
const passTags: ScalarTag[] = ['!lambda', '!extend', '!remove', '!force'].map((tag) => ({ tag, resolve: (s: string) => s }));
const CUSTOM_TAGS = [includeTag, includeMapTag, ...dirTags, secretTag, ...passTags];

interface FileFacts {
  key: string;
  sha256: string;
  /** For YAML files: what it references (absolute paths) and whether it uses `!secret`. */
  refs: string[];
  dirs: string[];
  usesSecret: boolean;
}

function statKey(st: { size: number; mtimeMs: number; ctimeMs: number; ino: number }): string {
  return `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
}

/** Walks a parsed YAML value collecting referenced files. */
function collectRefs(value: unknown, fileDir: string, configDir: string, out: { refs: string[]; dirs: string[]; usesSecret: boolean }, key = '', inIncludes = false): void {
  if (value instanceof Include) {
    if (value.path) out.refs.push(resolve(fileDir, value.path));
    return;
  }
  if (value instanceof IncludeDir) {
    out.dirs.push(resolve(fileDir, value.path));
    return;
  }
  if (value instanceof Secret) {
    out.usesSecret = true;
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectRefs(v, fileDir, configDir, out, key, inIncludes);
    return;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) collectRefs(v, fileDir, configDir, out, String(k), inIncludes || String(k) === 'includes' || String(k) === 'includes_c');
    return;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) collectRefs(v, fileDir, configDir, out, k, inIncludes || k === 'includes' || k === 'includes_c');
    return;
  }
  if (typeof value !== 'string' || value === '' || value.includes('\n')) return;
  if (NON_PATH_PREFIXES.some((p) => value.startsWith(p))) return;
  // `esphome: includes:` entries and `file:` options are relative to the config dir (esphome's
  // CORE.relative_config_path); other strings count only when they look like a file with a known extension.
  if (inIncludes || key === 'file') {
    out.refs.push(resolve(configDir, value));
  } else if (FILE_EXT.has(extname(value).toLowerCase()) && !value.includes(' ')) {
    out.refs.push(resolve(configDir, value));
  }
}

export interface DigestCacheOptions {
  /** Upper bound on cached files; the oldest are dropped. Default 20 000. */
  maxFiles?: number;
}

/**
 * Computes configuration digests, remembering each file's hash and references by its stat
 * identity. One instance per process is enough; it is safe to share across configurations.
 */
export class ConfigDigester {
  private readonly facts = new Map<string, FileFacts>();
  private readonly maxFiles: number;

  constructor(opts: DigestCacheOptions = {}) {
    this.maxFiles = opts.maxFiles ?? 20_000;
  }

  /** The digest of `yamlAbsPath` for `esphomeVersion`. Throws when the main YAML cannot be read. */
  async digest(yamlAbsPath: string, esphomeVersion: string): Promise<ConfigDigest> {
    const configDir = dirname(yamlAbsPath);
    const seen = new Map<string, string>();
    const missing = new Set<string>();
    let usesSecret = false;
    const queue: string[] = [yamlAbsPath];
    const main = await this.factsOf(yamlAbsPath, configDir);
    if (!main) throw new Error(`configuration not found: ${yamlAbsPath}`);
    while (queue.length > 0) {
      const batch = queue.splice(0, queue.length).filter((p) => !seen.has(p) && !missing.has(p));
      const results = await Promise.all(batch.map(async (p) => [p, await this.factsOf(p, configDir)] as const));
      for (const [p, facts] of results) {
        if (seen.has(p)) continue;
        if (!facts) {
          missing.add(p);
          continue;
        }
        seen.set(p, facts.sha256);
        usesSecret ||= facts.usesSecret;
        queue.push(...facts.refs);
        for (const dir of facts.dirs) queue.push(...(await listYamlFiles(dir)));
      }
    }
    if (usesSecret) {
      for (const name of SECRETS_FILES) {
        const p = join(configDir, name);
        const facts = await this.factsOf(p, configDir);
        if (facts) seen.set(p, facts.sha256);
      }
    }
    const rel = (p: string): string => (isAbsolute(relative(configDir, p)) ? p : relative(configDir, p)).split(sep).join('/');
    const files = [...seen].map(([p, sha256]) => ({ path: rel(p), sha256 })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const missingRel = [...missing].map(rel).sort();
    const h = createHash('sha256');
    h.update(JSON.stringify([DIGEST_FORMAT, esphomeVersion, files.map((f) => [f.path, f.sha256]), missingRel]));
    return { digest: h.digest('hex'), esphomeVersion, files, missing: missingRel };
  }

  /** The configuration-only digest (no ESPHome version): tells `config-changed` from `esphome-changed`. */
  async configOnly(yamlAbsPath: string): Promise<string> {
    return (await this.digest(yamlAbsPath, '')).digest;
  }

  private async factsOf(path: string, configDir: string): Promise<FileFacts | null> {
    let st;
    try {
      st = await stat(path);
    } catch {
      return null;
    }
    if (!st.isFile()) return null;
    const key = statKey(st);
    const cached = this.facts.get(path);
    if (cached && cached.key === key) return cached;
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch {
      return null;
    }
    const facts: FileFacts = { key, sha256: createHash('sha256').update(data).digest('hex'), refs: [], dirs: [], usesSecret: false };
    if (YAML_EXT.has(extname(path).toLowerCase())) {
      let docs: Document[] = [];
      try {
        docs = parseAllDocuments(data.toString('utf8'), { customTags: CUSTOM_TAGS, uniqueKeys: false });
      } catch {
        docs = [];
      }
      for (const doc of docs) {
        // A YAML esphome cannot parse still has a content hash; its references are unknown.
        let value: unknown;
        try {
          value = doc.toJS({ mapAsMap: true, maxAliasCount: 1000 });
        } catch {
          continue;
        }
        collectRefs(value, dirname(path), configDir, facts);
      }
    }
    this.facts.delete(path);
    this.facts.set(path, facts);
    while (this.facts.size > this.maxFiles) this.facts.delete(this.facts.keys().next().value!);
    return facts;
  }
}

async function listYamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && YAML_EXT.has(extname(e.name).toLowerCase())) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

// ESPHome-flavoured YAML loading: custom tags (!secret, !include, !include_dir_*, !lambda,
// !extend, !remove), secrets files, local packages and substitutions. Tracks every file it
// loads (in load order) because `bundle` ships exactly those (esphome-cli.md §1.3).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { isPlainObject } from './util.mjs';

export const SECRETS_FILES = ['secrets.yaml', 'secrets.yml'];

/** A `!secret key` value: keeps the key so `config` can mask it and `bundle` can filter. */
export class SecretRef {
  constructor(key, value) {
    this.key = key;
    this.value = value;
  }
}

export class Lambda {
  constructor(source) {
    this.source = source;
  }
}

class IncludeRef {
  constructor(spec) {
    this.spec = spec;
  }
}

class IncludeDirRef {
  constructor(kind, dir) {
    this.kind = kind;
    this.dir = dir;
  }
}

class SecretTag {
  constructor(key) {
    this.key = key;
  }
}

/** Unreadable file or invalid YAML: `ERROR Error while reading config: Invalid YAML syntax: ...`, exit 2. */
export class YamlReadError extends Error {}

const scalarTag = (tag, make) => ({ tag, resolve: (str) => make(str) });

const TAGS = [
  scalarTag('!secret', (s) => new SecretTag(s.trim())),
  scalarTag('!lambda', (s) => new Lambda(s)),
  scalarTag('!include', (s) => new IncludeRef(s.trim())),
  { tag: '!include', collection: 'map', resolve: (m) => new IncludeRef(m.toJSON()) },
  scalarTag('!include_dir_list', (s) => new IncludeDirRef('list', s.trim())),
  scalarTag('!include_dir_named', (s) => new IncludeDirRef('named', s.trim())),
  scalarTag('!include_dir_merge_list', (s) => new IncludeDirRef('merge_list', s.trim())),
  scalarTag('!include_dir_merge_named', (s) => new IncludeDirRef('merge_named', s.trim())),
  scalarTag('!extend', (s) => s.trim()),
  scalarTag('!remove', () => null),
];

const SUBST_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Replace `${name}` / `$name` in a string with known substitutions (unknown ones stay). */
export function substituteString(text, vars) {
  return text.replace(SUBST_RE, (whole, braced, bare) => {
    const key = braced ?? bare;
    if (!Object.prototype.hasOwnProperty.call(vars, key)) return whole;
    const v = vars[key];
    return v instanceof SecretRef ? String(v.value) : String(v);
  });
}

/** Apply substitutions to every string value (not keys) of a loaded tree. */
export function substituteTree(node, vars) {
  if (typeof node === 'string') {
    // A value that is exactly one substitution keeps the substitution's type (numbers, bools).
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$|^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(node);
    if (whole) {
      const key = whole[1] ?? whole[2];
      if (Object.prototype.hasOwnProperty.call(vars, key)) return vars[key];
    }
    return substituteString(node, vars);
  }
  if (node instanceof Lambda) return new Lambda(substituteString(node.source, vars));
  if (node instanceof IncludeRef) {
    const spec = typeof node.spec === 'string' ? substituteString(node.spec, vars) : substituteTree(node.spec, vars);
    return new IncludeRef(spec);
  }
  if (Array.isArray(node)) return node.map((n) => substituteTree(n, vars));
  if (isPlainObject(node)) {
    const out = {};
    for (const [k, v] of Object.entries(node)) out[k] = substituteTree(v, vars);
    return out;
  }
  return node;
}

/** esphome's merge_config, simplified: maps merge recursively, lists concatenate, `b` wins on scalars. */
export function mergeConfig(a, b) {
  if (isPlainObject(a) && isPlainObject(b)) {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? mergeConfig(out[k], v) : v;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  return b;
}

function lineCol(text, offset) {
  let line = 1;
  let last = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i + 1;
    }
  }
  return { line, col: offset - last + 1 };
}

function isRemotePackage(pkg) {
  if (typeof pkg === 'string') return /^(github:\/\/|https?:\/\/|git@)/.test(pkg);
  return isPlainObject(pkg) && typeof pkg.url === 'string';
}

export class ConfigLoader {
  /**
   * @param {{ mainPath: string, cliSubstitutions?: Record<string, string>,
   *           bundleMode?: boolean, warn?: (msg: string) => void }} opts
   */
  constructor(opts) {
    this.mainPath = path.resolve(opts.mainPath);
    this.configDir = path.dirname(this.mainPath);
    this.cliSubstitutions = opts.cliSubstitutions ?? {};
    this.bundleMode = opts.bundleMode ?? false;
    this.warn = opts.warn ?? (() => {});
    /** Every YAML file read, in load order (absolute). */
    this.loadedFiles = [];
    /** Secrets files read (absolute). */
    this.secretsFiles = [];
    this.secretsCache = new Map();
    this.mainText = '';
    this.topSubstitutions = {};
  }

  track(file) {
    if (!this.loadedFiles.includes(file)) this.loadedFiles.push(file);
  }

  readText(file) {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      const reason = err.code === 'ENOENT' ? `[Errno 2] No such file or directory: '${file}'` : err.message;
      throw new YamlReadError(`Error reading file ${file}: ${reason}`);
    }
  }

  /** Parse one file into a tree that still holds tag markers. */
  parseFile(file) {
    this.track(file);
    const text = this.readText(file);
    if (file === this.mainPath) this.mainText = text;
    const doc = YAML.parseDocument(text, { customTags: TAGS, merge: true, prettyErrors: false });
    if (doc.errors.length > 0) {
      const err = doc.errors[0];
      const { line, col } = lineCol(text, err.pos?.[0] ?? 0);
      const first = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new YamlReadError(`${first}\n  in "${file}", line ${line}, column ${col}`);
    }
    // Remember where each `!secret` stands: the real CLI's "Secret 'x' not defined" names it.
    YAML.visit(doc, {
      Scalar(_, node) {
        if (node.value instanceof SecretTag && node.range) {
          const tagAt = text.lastIndexOf('!secret', node.range[0]); // PyYAML's mark is the tag
          node.value.at = { file, ...lineCol(text, tagAt >= 0 ? tagAt : node.range[0]) };
        }
      },
    });
    const value = doc.toJS({ maxAliasCount: 1000 });
    return value ?? {};
  }

  loadSecrets(file) {
    if (this.secretsCache.has(file)) return this.secretsCache.get(file);
    this.track(file);
    if (!this.secretsFiles.includes(file)) this.secretsFiles.push(file);
    const text = this.readText(file);
    const doc = YAML.parseDocument(text, { customTags: TAGS });
    if (doc.errors.length > 0) throw new YamlReadError(`${doc.errors[0].message.split('\n')[0]}\n  in "${file}"`);
    const value = doc.toJS() ?? {};
    this.secretsCache.set(file, value);
    return value;
  }

  secretsPathFor(dir) {
    for (const name of SECRETS_FILES) {
      const p = path.join(dir, name);
      if (fs.existsSync(p)) return p;
    }
    return path.join(dir, SECRETS_FILES[0]);
  }

  /** `!secret` looks next to the file using it, then next to the main config. */
  resolveSecret(key, fromFile) {
    const dirs = [path.dirname(fromFile)];
    if (!dirs.includes(this.configDir)) dirs.push(this.configDir);
    let lastError;
    for (const dir of dirs) {
      const file = this.secretsPathFor(dir);
      if (!fs.existsSync(file)) {
        lastError = new YamlReadError(`Error reading file ${file}: [Errno 2] No such file or directory: '${file}'`);
        continue;
      }
      const secrets = this.loadSecrets(file);
      if (isPlainObject(secrets) && Object.prototype.hasOwnProperty.call(secrets, key)) {
        return new SecretRef(key, secrets[key]);
      }
      lastError = new YamlReadError(`Secret '${key}' not defined`);
    }
    throw lastError;
  }

  includeFile(spec, fromFile, vars) {
    let file;
    let localVars = {};
    if (typeof spec === 'string') file = spec;
    else if (isPlainObject(spec) && typeof spec.file === 'string') {
      file = spec.file;
      localVars = isPlainObject(spec.vars) ? spec.vars : {};
    } else throw new YamlReadError(`Invalid !include in ${fromFile}: expected a file name or {file, vars}`);
    const allVars = { ...this.topSubstitutions, ...vars, ...localVars };
    file = substituteString(file, allVars);
    if (file.includes('${')) {
      if (this.bundleMode) {
        this.warn(`Bundle: cannot resolve !include ${file} in ${fromFile}`);
        return null;
      }
      throw new YamlReadError(`Error reading file ${file}: unresolved substitution in !include path`);
    }
    const abs = path.resolve(path.dirname(fromFile), file);
    let tree = this.parseFile(abs);
    if (Object.keys(localVars).length > 0) tree = substituteTree(tree, localVars);
    return this.resolveTree(tree, abs, { ...vars, ...localVars });
  }

  includeDir(ref, fromFile, vars) {
    const dir = path.resolve(path.dirname(fromFile), ref.dir);
    const files = [];
    const walk = (d) => {
      let entries;
      try {
        entries = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        throw new YamlReadError(`Error reading file ${d}: [Errno 2] No such file or directory: '${d}'`);
      }
      for (const e of entries.sort((x, y) => (x.name < y.name ? -1 : 1))) {
        if (e.name.startsWith('.')) continue;
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.ya?ml$/.test(e.name) && !SECRETS_FILES.includes(e.name)) files.push(p);
      }
    };
    walk(dir);
    const loaded = files.map((f) => [f, this.resolveTree(this.parseFile(f), f, vars)]);
    switch (ref.kind) {
      case 'list':
        return loaded.map(([, v]) => v);
      case 'named':
        return Object.fromEntries(loaded.map(([f, v]) => [path.basename(f).replace(/\.ya?ml$/, ''), v]));
      case 'merge_list':
        return loaded.flatMap(([, v]) => (Array.isArray(v) ? v : []));
      default:
        return loaded.reduce((acc, [, v]) => (isPlainObject(v) ? { ...acc, ...v } : acc), {});
    }
  }

  /** Replace tag markers with their values, depth first in document order. */
  resolveTree(node, file, vars) {
    if (node instanceof SecretTag) {
      try {
        return this.resolveSecret(node.key, file);
      } catch (err) {
        if (err instanceof YamlReadError && node.at && err.message.startsWith('Secret ')) {
          throw new YamlReadError(`${err.message}\n  in "${node.at.file}", line ${node.at.line}, column ${node.at.col}`);
        }
        throw err;
      }
    }
    if (node instanceof IncludeRef) return this.includeFile(node.spec, file, vars);
    if (node instanceof IncludeDirRef) return this.includeDir(node, file, vars);
    if (Array.isArray(node)) return node.map((n) => this.resolveTree(n, file, vars));
    if (isPlainObject(node)) {
      const out = {};
      for (const [k, v] of Object.entries(node)) out[k] = this.resolveTree(v, file, vars);
      return out;
    }
    return node;
  }

  /** Merge local packages (recursively) under the config; remote ones are not fetched. */
  applyPackages(config, remoteSkipped) {
    if (!isPlainObject(config) || !('packages' in config)) return config;
    const { packages, ...rest } = config;
    const list = Array.isArray(packages) ? packages : isPlainObject(packages) ? Object.values(packages) : [];
    let merged = {};
    for (const pkg of list) {
      if (pkg === null || pkg === undefined) continue;
      if (isRemotePackage(pkg)) {
        remoteSkipped.push(typeof pkg === 'string' ? pkg : pkg.url);
        continue;
      }
      if (!isPlainObject(pkg)) continue;
      merged = mergeConfig(merged, this.applyPackages(pkg, remoteSkipped));
    }
    return mergeConfig(merged, rest);
  }

  /**
   * Load the main YAML into the final config (includes, secrets, packages, substitutions applied).
   * @returns {{ config: Record<string, any>, remotePackages: string[] }}
   */
  load() {
    const raw = this.parseFile(this.mainPath);
    if (!isPlainObject(raw)) {
      if (raw === null || raw === undefined || (typeof raw === 'object' && Object.keys(raw).length === 0)) {
        return { config: {}, remotePackages: [] };
      }
      throw new YamlReadError(`Invalid YAML syntax: the top level of ${this.mainPath} must be a mapping`);
    }
    if (isPlainObject(raw.substitutions)) {
      this.topSubstitutions = { ...raw.substitutions, ...this.cliSubstitutions };
    } else this.topSubstitutions = { ...this.cliSubstitutions };
    const resolved = this.resolveTree(raw, this.mainPath, {});
    const remotePackages = [];
    const merged = this.applyPackages(resolved, remotePackages);
    let subs = isPlainObject(merged.substitutions) ? { ...merged.substitutions } : {};
    subs = { ...subs, ...this.cliSubstitutions };
    // Substitutions may reference each other.
    for (let pass = 0; pass < 5; pass++) {
      const next = substituteTree(subs, subs);
      if (JSON.stringify(next, jsonReplacer) === JSON.stringify(subs, jsonReplacer)) break;
      subs = next;
    }
    const { substitutions: _drop, ...withoutSubs } = merged;
    const config = substituteTree(withoutSubs, subs);
    return { config, remotePackages };
  }
}

/** JSON.stringify replacer that renders the marker classes (for hashing and debug output). */
export function jsonReplacer(_key, value) {
  if (value instanceof SecretRef) return { '!secret': value.key, value: value.value };
  if (value instanceof Lambda) return { '!lambda': value.source };
  return value;
}

/** The plain value behind a config node (secrets unwrapped). */
export function plain(value) {
  return value instanceof SecretRef ? value.value : value;
}

// Sender-side allow-list for a build server's artifact tarball (peer-link-protocol.md §10.1,
// firmware-jobs.md §10 step 9). The receiver is paired, not trusted: a hostile one sent
// `platformio.ini` with `extra_scripts`, a Python script and `src/main.cpp` for ANOTHER device,
// which the next local build of that device would have run. So the sender accepts exactly:
//   - the metadata members (storage.json, idedata.json, platformio.ini, build_info.json,
//     validated.yaml), with storage.json naming the job's own device;
//   - the platform's build-tree members for that name (the §10.1 table, shared with the packer);
//   - the download-list files next to the firmware image (firmware images only);
// and a platformio.ini that cannot run anything the local esphome did not write itself.
import { posix } from 'node:path';
import { buildFilesForPlatform, METADATA_MEMBERS } from './artifact-pack';
import type { MemberData } from './safe-tar';

/** File types a download list may name (libretiny's firmware.json); never sources or scripts. */
const FIRMWARE_EXT = /\.(bin|uf2|img|rbl|ota|hex|zip|elf)$/i;
/** ESPHome device names: hostname-like (esphome validates `name` the same way). */
const DEVICE_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,254}$/i;

export interface ArtifactCheck {
  members: readonly MemberData[];
  storage: Record<string, unknown>;
  /** storage.json `name`. */
  name: string;
  /** The job's device (from its YAML); `${…}` parts the YAML could not resolve match any text. */
  deviceName: string;
  /** firmware_bin_path relative to build_path (POSIX). */
  firmwareRel: string;
}

/** Returns why the tarball is refused, or null when every member is allowed. */
export function checkArtifactMembers(c: ArtifactCheck): string | null {
  if (!DEVICE_NAME_RE.test(c.name)) return `storage.json names the device ${JSON.stringify(c.name)}, which is not a valid device name`;
  if (!nameMatches(c.deviceName, c.name)) return `storage.json is for device "${c.name}", but this job builds "${c.deviceName}"`;
  const platform = typeof c.storage.esp_platform === 'string' ? c.storage.esp_platform.toLowerCase() : '';
  const tree = buildFilesForPlatform(platform, c.name);
  if (!tree) return `storage.json names an unknown platform ${JSON.stringify(c.storage.esp_platform)}`;
  const allowed = new Set<string>([...METADATA_MEMBERS, ...tree]);
  const firmwareDir = posix.dirname(c.firmwareRel);
  const nextToFirmware = (m: string) => posix.dirname(m) === firmwareDir && FIRMWARE_EXT.test(m) && (firmwareDir.startsWith(`.pioenvs/${c.name}`) || firmwareDir === 'build');
  if (!allowed.has(c.firmwareRel) && !nextToFirmware(c.firmwareRel)) return `firmware_bin_path points at ${c.firmwareRel}, which is not a firmware image of ${c.name}`;
  for (const m of c.members) {
    if (!allowed.has(m.name) && !nextToFirmware(m.name)) return `unexpected member ${JSON.stringify(m.name)} (only §10.1 firmware files of ${c.name} are accepted)`;
  }
  const ini = c.members.find((m) => m.name === 'platformio.ini');
  if (ini) {
    const why = unsafePlatformioIni(ini.data.toString('utf8'));
    if (why) return `platformio.ini ${why}`;
  }
  return null;
}

/** `${sub}` / `$sub` parts of the YAML's name that could not be resolved match any name text. */
function nameMatches(expected: string, got: string): boolean {
  if (!expected.includes('$')) return expected === got;
  const parts = expected.split(/\$\{[A-Za-z0-9_]+\}|\$[A-Za-z0-9_]+/);
  const re = new RegExp(`^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[A-Za-z0-9_-]+')}$`);
  return re.test(got);
}

/**
 * ESPHome's own platformio.ini names its helper scripts by leaf name (`post:post_build.py`),
 * which the local esphome writes itself (a tarball never carries a .py). Anything that could
 * run a command — a script path elsewhere, an `upload_command`-style key — is refused.
 */
function unsafePlatformioIni(text: string): string | null {
  const lines = text.split(/\r?\n/);
  let key = '';
  for (const raw of lines) {
    const line = raw.replace(/[;#].*$/, '');
    if (line.trim() === '') continue;
    const kv = /^([^\s=][^=]*?)\s*=\s*(.*)$/.exec(line);
    let values: string[];
    if (/^\s/.test(line) && key) values = [line.trim()]; // continuation of a multi-line value
    else if (kv?.[1] !== undefined && kv[2] !== undefined) {
      key = kv[1].trim().toLowerCase();
      values = [kv[2].trim()];
      if (/_command$|^custom_/.test(key) || key === 'upload_protocol' && /custom/i.test(kv[2])) return `sets ${key}`;
    } else {
      key = '';
      continue;
    }
    if (key === 'extra_scripts') {
      for (const v of values.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean)) {
        if (!/^((pre|post):)?[A-Za-z0-9_.-]+\.py$/.test(v)) return `names an extra script outside the build tree (${JSON.stringify(v)})`;
      }
    }
  }
  return null;
}

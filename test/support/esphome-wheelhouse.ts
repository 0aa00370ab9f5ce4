// Test wheelhouse: small real wheels named `esphome` (built here with Python's zipfile, RECORD
// hashes and all) whose `esphome` runs Kiln's simulator and reports a chosen version. Installed
// by real pip from `--find-links DIR --no-index`, so tests exercise real venvs and real pip
// offline. Also: a broken wheel (not a zip) and a Python for the tests (3.12 from pyenv).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const SIM = join(REPO, 'tools/esphome-sim/esphome');

/** A pyenv Python of this minor version (the tests' machine has 3.11, 3.12, 3.13), or null. */
export function pyenvPython(minor: '3.11' | '3.12' | '3.13'): string | null {
  const root = process.env.PYENV_ROOT || join(homedir(), '.pyenv');
  try {
    const versions = execFileSync('ls', [join(root, 'versions')], { encoding: 'utf8' }).split('\n');
    const v = versions.find((x) => x.startsWith(`${minor}.`));
    const exe = v ? join(root, 'versions', v, 'bin', 'python3') : '';
    return exe && existsSync(exe) ? exe : null;
  } catch {
    return null;
  }
}

const BUILD = String.raw`
import base64, hashlib, sys, zipfile
out, version, sim, node, broken_run = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
main = f'''import os, sys
VERSION = {version!r}
def main():
    if {broken_run!r}:
        raise SystemExit("this esphome is broken on purpose")
    env = dict(os.environ, ESPHOME_SIM_VERSION=VERSION)
    os.execvpe({node!r}, [{node!r}, {sim!r}] + sys.argv[1:], env)
if __name__ == "__main__":
    main()
'''
di = f"esphome-{version}.dist-info"
files = {
    "esphome/__init__.py": f"__version__ = {version!r}\n",
    "esphome/__main__.py": main,
    f"{di}/METADATA": f"Metadata-Version: 2.1\nName: esphome\nVersion: {version}\nSummary: Kiln test double\n",
    f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: kiln-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    f"{di}/entry_points.txt": "[console_scripts]\nesphome = esphome.__main__:main\n",
}
record = []
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{di}/RECORD,,")
    z.writestr(f"{di}/RECORD", "\n".join(record) + "\n")
`;

export interface WheelSpec {
  version: string;
  /** The wheel is not a zip at all (pip must refuse it). */
  corrupt?: boolean;
  /** Installs fine but `esphome` exits with an error (the verify step must refuse it). */
  brokenRun?: boolean;
}

/** Writes one wheel per spec into `dir` and returns `dir`. */
export function buildWheelhouse(dir: string, specs: WheelSpec[], python = pyenvPython('3.12') ?? 'python3'): string {
  mkdirSync(dir, { recursive: true });
  for (const s of specs) {
    const file = join(dir, `esphome-${s.version}-py3-none-any.whl`);
    if (s.corrupt) {
      writeFileSync(file, 'this is not a zip file\n');
      continue;
    }
    execFileSync(python, ['-c', BUILD, file, s.version, SIM, process.execPath, s.brokenRun ? '1' : '0'], { stdio: 'pipe' });
  }
  return dir;
}

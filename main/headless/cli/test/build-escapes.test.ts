// Issue 11 defect 8 (kiln build half): a build server's output reaches the user's terminal with
// its colours (SGR) but without any other escape or control sequence. Real processes: a `kiln
// receiver` whose esphome prints an OSC title change, a clear screen, cursor moves, a DCS string
// and a fake prompt, `kiln pair`, and `kiln build --server` whose stdout is checked byte by byte.
// Before the fix every one of these sequences came through raw.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, SIM, spawnKiln, type BuildServerChild } from '../../../../test/e2e-remote/helpers';
import { waitUntil } from '../../../../test/support/wait-until';
import { plainText, sanitizeBuildOutput } from '../terminal-text';

const HOSTILE =
  '\x1b]0;pwned title\x07' + // OSC: window title
  '\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\\n' + // OSC 8 hyperlink
  '\x1b[2J\x1b[H' + // clear screen, cursor home
  '\x1b[10;20H\x1b[5A\x1b[?25l' + // cursor moves, hide cursor
  '\x1bP1$r0m\x1b\\' + // DCS
  '\x1bc' + // full reset
  '\x9b2J' + // 8-bit CSI clear
  '\x1b[1;32mGREEN-BOLD\x1b[0m plain \x1b[38;5;196mRED256\x1b[m\n' + // SGR: kept
  'sudo password for you: \x07\x08\x08\rOVERWRITE\n';

const FORBIDDEN = ['\x1b]', '\x1b[2J', '\x1b[H', '\x1b[10;20H', '\x1b[5A', '\x1b[?25l', '\x1bP', '\x1bc', '\x9b', '\x07', '\x08', '\r'];

describe('sanitizeBuildOutput', () => {
  it('keeps SGR and text, drops every other sequence and control character', () => {
    const out = sanitizeBuildOutput(HOSTILE);
    for (const f of FORBIDDEN) expect(out).not.toContain(f);
    expect(out).toContain('\x1b[1;32mGREEN-BOLD\x1b[0m plain \x1b[38;5;196mRED256\x1b[m\n');
    expect(out).toContain('link\n');
    expect(out).toContain('sudo password for you: \nOVERWRITE\n');
    expect(sanitizeBuildOutput('a\r\nb\tc')).toBe('a\nb\tc');
    expect(plainText('la\x1b[2Jbel\x07\n\x9b')).toBe('label');
  });
});

let root: string;
let recv: BuildServerChild | undefined;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'kiln-escapes-'));
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), join(root, 'config'), { recursive: true });
  // The build server's esphome: the simulator, preceded by hostile output on compile.
  const hostile = join(root, 'hostile-esphome.mjs');
  writeFileSync(
    hostile,
    `import { spawnSync } from 'node:child_process';
const args = process.argv.slice(2);
if (args.includes('compile')) process.stdout.write(${JSON.stringify(HOSTILE)});
const r = spawnSync(process.execPath, [${JSON.stringify(SIM)}, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
`,
  );
  const child = spawnKiln(['receiver', '--host', '127.0.0.1', '--port', '0', '--no-mdns', '--esphome', `${process.execPath} ${hostile}`, '--data-dir', join(root, 'recv'), '--pairing-key', 'ABCD-EFGH-JKMN-PQRS'], {
    ESPHOME_SIM_SPEED: '0',
    ESPHOME_NOGITIGNORE: '1',
  }) as BuildServerChild;
  const line = await waitUntil(() => child.out.find((l) => l.startsWith('KILN_RECEIVER_READY ')), { timeoutMs: 30_000, what: () => `receiver ready:\n${child.text()}` });
  child.ready = JSON.parse(line.slice('KILN_RECEIVER_READY '.length));
  recv = child;
}, 90_000);

afterAll(async () => {
  if (recv && recv.proc.exitCode === null && recv.proc.signalCode === null) {
    recv.proc.kill('SIGTERM');
    await recv.exit;
  }
  rmSync(root, { recursive: true, force: true });
});

describe('kiln build --server shows a hostile build server\'s output safely (issue 11 defect 8)', () => {
  it('SGR colours kept; OSC, clear screen, cursor moves, DCS, resets, BEL/BS/CR dropped', async () => {
    const senderData = join(root, 'sender');
    const pair = spawnKiln(['pair', `127.0.0.1:${recv!.ready.port}`, '--pairing-key', 'ABCD-EFGH-JKMN-PQRS', '--yes', '--label', 'box', '--data-dir', senderData]);
    expect((await pair.exit).code, pair.text()).toBe(0);
    const config = join(root, 'config');
    const build = spawnKiln(['build', join(config, 'kitchen-plug.yaml'), '--config-dir', config, '--data-dir', senderData, '--server', 'box', '--esphome', `${process.execPath} ${SIM}`], { ESPHOME_SIM_SPEED: '0' });
    const raw: Buffer[] = [];
    build.proc.stdout.on('data', (d: Buffer) => raw.push(d));
    const { code } = await build.exit;
    expect(code, build.text()).toBe(0);
    const stdout = Buffer.concat(raw).toString('utf8');
    // The hostile text did arrive (the test would be empty otherwise) …
    expect(stdout).toContain('GREEN-BOLD');
    expect(stdout).toContain('OVERWRITE');
    // … with its colours …
    expect(stdout).toContain('\x1b[1;32mGREEN-BOLD\x1b[0m');
    expect(stdout).toContain('\x1b[38;5;196mRED256\x1b[m');
    // … and nothing else that a terminal would act on.
    for (const f of FORBIDDEN) expect(stdout, JSON.stringify(f)).not.toContain(f);
    expect(stdout).not.toMatch(/\x1b(?!\[[0-9;:]*m)/);
  }, 120_000);
});

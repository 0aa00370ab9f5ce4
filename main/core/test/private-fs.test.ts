import { describe, expect, it } from 'vitest';
import { mkdtempSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirPrivate, mkdirPrivateSync, writeFileAtomicPrivate, writeFilePrivate } from '../private-fs.js';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('private-fs', () => {
  it('creates every missing directory 0700 and files 0600 whatever the umask', async () => {
    const old = process.umask(0o022);
    try {
      const root = mkdtempSync(join(tmpdir(), 'kiln-priv-'));
      await mkdirPrivate(join(root, 'a', 'b', 'c'));
      expect(mode(join(root, 'a'))).toBe(0o700);
      expect(mode(join(root, 'a', 'b', 'c'))).toBe(0o700);
      mkdirPrivateSync(join(root, 's', 't'));
      expect(mode(join(root, 's'))).toBe(0o700);
      const f = join(root, 'a', 'secrets.yaml');
      writeFileSync(f, 'x', { mode: 0o644 });
      chmodSync(f, 0o644);
      await writeFilePrivate(f, 'wifi: y');
      expect(mode(f)).toBe(0o600);
      const g = join(root, 'n', 'jobs.json');
      await writeFileAtomicPrivate(g, '{}');
      expect(mode(g)).toBe(0o600);
      expect(mode(join(root, 'n'))).toBe(0o700);
    } finally {
      process.umask(old);
    }
  });
});

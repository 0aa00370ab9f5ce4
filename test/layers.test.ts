import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JS tool without types
import { findElectronImports } from '../tools/check-layers.mjs';

describe('layering lint', () => {
  it('finds no electron import reachable from main/core, main/headless or the renderer', () => {
    const { violations, scanned } = findElectronImports();
    expect(violations).toEqual([]);
    expect(scanned).toBeGreaterThan(0);
  });

  it('catches a direct and an indirect electron import', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-layers-'));
    mkdirSync(join(dir, 'core'));
    writeFileSync(join(dir, 'core', 'a.ts'), "import { helper } from './b';\nexport const a = helper;\n");
    writeFileSync(join(dir, 'core', 'b.ts'), "import { app } from 'electron';\nexport const helper = app;\n");
    writeFileSync(join(dir, 'core', 'c.ts'), "// import 'electron' in a comment is fine\nexport const c = 1;\n");
    const { violations } = findElectronImports([join(dir, 'core', 'a.ts'), join(dir, 'core', 'c.ts')]);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(/a\.ts -> .*b\.ts imports 'electron'/);
  });
});

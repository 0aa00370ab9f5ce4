#!/usr/bin/env node
// Generates Kiln's icon set into assets/ with no image tooling: shapes are rasterised here with
// 4x4 supersampling and written as PNG (zlib), then packed into .ico and .icns containers that
// embed those PNGs (both formats accept PNG payloads). Re-run after changing the artwork:
//   node tools/gen-icons.mjs
// Output (committed):
//   assets/icons/<n>x<n>.png       n = 16 32 48 64 128 256 512 (Linux icon dir for electron-builder)
//   assets/icon.png                512 px (window icon, fallback)
//   assets/icon.ico / icon.icns    Windows / macOS app icons built from the PNGs above
//   assets/tray/<state>-<n>.png    state = idle | running | failed, n = 22 32 (Linux/Windows tray)
//   assets/tray/trayTemplate.png + trayTemplate@2x.png   macOS template image (black + alpha)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const assets = join(root, 'assets');

// ---------- PNG encoding ----------
const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** RGBA (straight alpha) → PNG bytes. */
export function encodePng(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------- shapes (unit square, y down) ----------
const hex = (h) => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];

function roundedSquare(x, y, inset, r) {
  const lo = inset + r;
  const hi = 1 - inset - r;
  const dx = Math.max(lo - x, 0, x - hi);
  const dy = Math.max(lo - y, 0, y - hi);
  return dx * dx + dy * dy <= r * r && x >= inset && x <= 1 - inset && y >= inset && y <= 1 - inset;
}

/** Teardrop: the convex hull of a circle (cx, cy, r) and an apex point above it. */
function teardrop(x, y, cx, cy, r, ay) {
  const dx = x - cx;
  const dy = y - cy;
  if (dx * dx + dy * dy <= r * r) return true;
  const d = cy - ay; // apex distance above the centre
  if (y < ay || y > cy) return false;
  // tangent points from the apex touch the circle at height cy - r*r/d, half-width r*sqrt(1-(r/d)^2)
  const ty = cy - (r * r) / d;
  const tw = r * Math.sqrt(1 - (r / d) ** 2);
  if (y <= ty) return Math.abs(dx) <= (tw * (y - ay)) / (ty - ay);
  return false;
}

/** Kiln's mark: a flame standing on a hearth bar. */
function flame(x, y, scale = 1, oy = 0) {
  const sx = 0.5 + (x - 0.5) / scale;
  const sy = 0.5 + (y - 0.5 - oy) / scale;
  return teardrop(sx, sy, 0.5, 0.6, 0.22, 0.12);
}
function flameCore(x, y, scale = 1, oy = 0) {
  const sx = 0.5 + (x - 0.5) / scale;
  const sy = 0.5 + (y - 0.5 - oy) / scale;
  return teardrop(sx, sy, 0.5, 0.68, 0.11, 0.4);
}
function hearth(x, y) {
  return x >= 0.24 && x <= 0.76 && y >= 0.84 && y <= 0.9;
}

/** Rasterise `paint(x, y) → [r, g, b, a] | null` (topmost layer wins) with 4x4 supersampling. */
function render(size, paint) {
  const out = Buffer.alloc(size * size * 4);
  const S = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const c = paint((px + (sx + 0.5) / S) / size, (py + (sy + 0.5) / S) / size);
          if (!c) continue;
          const ca = (c[3] ?? 255) / 255;
          r += c[0] * ca;
          g += c[1] * ca;
          b += c[2] * ca;
          a += ca;
        }
      }
      const i = (py * size + px) * 4;
      if (a > 0) {
        out[i] = Math.round(r / a);
        out[i + 1] = Math.round(g / a);
        out[i + 2] = Math.round(b / a);
      }
      out[i + 3] = Math.round((a / (S * S)) * 255);
    }
  }
  return out;
}

const BG_TOP = hex('#9a3412');
const BG_BOTTOM = hex('#431407');
const FLAME = hex('#fb923c');
const CORE = hex('#fef3c7');
const HEARTH = hex('#fed7aa');

function appIcon(x, y) {
  if (flameCore(x, y, 0.78, -0.04)) return [...CORE, 255];
  if (flame(x, y, 0.78, -0.04)) return [...FLAME, 255];
  if (hearth(x, y)) return [...HEARTH, 255];
  if (roundedSquare(x, y, 0.04, 0.18)) {
    const t = y;
    return [0, 1, 2].map((k) => Math.round(BG_TOP[k] * (1 - t) + BG_BOTTOM[k] * t)).concat(255);
  }
  return null;
}

const TRAY = {
  idle: { flame: hex('#9ca3af'), core: hex('#e5e7eb'), badge: null },
  running: { flame: hex('#f97316'), core: hex('#fde68a'), badge: null },
  failed: { flame: hex('#9ca3af'), core: hex('#e5e7eb'), badge: hex('#dc2626') },
};
function trayIcon(state) {
  const s = TRAY[state];
  return (x, y) => {
    if (s.badge) {
      const dx = x - 0.76;
      const dy = y - 0.76;
      const d = dx * dx + dy * dy;
      if (d <= 0.2 * 0.2) return [...s.badge, 255];
      if (d <= 0.26 * 0.26) return null; // cut-out ring so the badge reads on any panel colour
    }
    if (flameCore(x, y, 1.1, -0.02)) return [...s.core, 255];
    if (flame(x, y, 1.1, -0.02)) return [...s.flame, 255];
    return null;
  };
}
function templateIcon(x, y) {
  // macOS template images: only alpha matters; the core is cut out so the shape reads at 16 px.
  if (flameCore(x, y, 1.1, -0.02)) return null;
  if (flame(x, y, 1.1, -0.02)) return [0, 0, 0, 255];
  return null;
}

// ---------- containers ----------
function ico(entries) {
  // ICONDIR + ICONDIRENTRY[] + PNG payloads (PNG-in-ICO, Windows Vista and later).
  const header = Buffer.alloc(6);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(entries.length, 4);
  const dir = Buffer.alloc(16 * entries.length);
  let offset = 6 + dir.length;
  entries.forEach(({ size, png }, i) => {
    const o = i * 16;
    dir[o] = size >= 256 ? 0 : size;
    dir[o + 1] = size >= 256 ? 0 : size;
    dir[o + 2] = 0;
    dir[o + 3] = 0;
    dir.writeUInt16LE(1, o + 4); // planes
    dir.writeUInt16LE(32, o + 6); // bpp
    dir.writeUInt32LE(png.length, o + 8);
    dir.writeUInt32LE(offset, o + 12);
    offset += png.length;
  });
  return Buffer.concat([header, dir, ...entries.map((e) => e.png)]);
}
function icns(entries) {
  const parts = entries.map(({ type, png }) => {
    const h = Buffer.alloc(8);
    h.write(type, 0, 'ascii');
    h.writeUInt32BE(png.length + 8, 4);
    return Buffer.concat([h, png]);
  });
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(8);
  h.write('icns', 0, 'ascii');
  h.writeUInt32BE(body.length + 8, 4);
  return Buffer.concat([h, body]);
}

// ---------- write ----------
function write(rel, bytes) {
  const file = join(assets, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  console.log(`  ${rel} (${bytes.length} bytes)`);
}

console.log('generating Kiln icons into assets/');
const png = new Map();
for (const n of [16, 32, 48, 64, 128, 256, 512, 1024]) png.set(n, encodePng(n, render(n, appIcon)));
for (const n of [16, 32, 48, 64, 128, 256, 512]) write(`icons/${n}x${n}.png`, png.get(n));
write('icon.png', png.get(512));
write('icon.ico', ico([16, 32, 48, 64, 128, 256].map((size) => ({ size, png: png.get(size) }))));
write(
  'icon.icns',
  icns([
    { type: 'icp4', png: png.get(16) },
    { type: 'icp5', png: png.get(32) },
    { type: 'icp6', png: png.get(64) },
    { type: 'ic07', png: png.get(128) },
    { type: 'ic08', png: png.get(256) },
    { type: 'ic09', png: png.get(512) },
    { type: 'ic10', png: png.get(1024) },
    { type: 'ic11', png: png.get(32) },
    { type: 'ic12', png: png.get(64) },
    { type: 'ic13', png: png.get(256) },
    { type: 'ic14', png: png.get(512) },
  ]),
);
for (const state of Object.keys(TRAY)) {
  for (const n of [22, 32]) write(`tray/${state}-${n}.png`, encodePng(n, render(n, trayIcon(state))));
}
write('tray/trayTemplate.png', encodePng(16, render(16, templateIcon)));
write('tray/trayTemplate@2x.png', encodePng(32, render(32, templateIcon)));

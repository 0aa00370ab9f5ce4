// Per-platform facts the transcripts and artifacts need (esphome-cli.md §4.2, §5).

export const PLATFORM_KEYS = ['bk72xx', 'esp32', 'esp8266', 'host', 'ln882x', 'nrf52', 'rp2040', 'rtl87xx'];
export const LIBRETINY_KEYS = ['bk72xx', 'rtl87xx', 'ln882x'];

/** OTA default ports (esphome-cli.md §5.1). */
export const OTA_PORTS = { esp32: 3232, esp8266: 8266, rp2040: 2040, libretiny: 8892, host: 6053 };

export function familyOf(platformKey) {
  if (LIBRETINY_KEYS.includes(platformKey)) return 'libretiny';
  return platformKey;
}

/** ESP32 variant from `variant:` or the board name (esp32-s3-devkitc-1 → ESP32S3). */
export function esp32Variant(board, explicit) {
  if (typeof explicit === 'string' && explicit.trim() !== '') {
    return explicit.toUpperCase().replace(/[-_]/g, '');
  }
  const b = String(board ?? '').toLowerCase();
  const m = /(?:^|[-_])(s2|s3|c2|c3|c5|c6|c61|h2|p4)(?:[-_]|$)/.exec(b) ?? /esp32(s2|s3|c2|c3|c5|c6|h2|p4)/.exec(b);
  return m ? `ESP32${m[1].toUpperCase()}` : 'ESP32';
}

const ESP32_HARDWARE = {
  ESP32: { mhz: 240, xtensa: true, bootloader: 0x1000, chip: 'ESP32-D0WD-V3 (revision v3.1)', chipShort: 'ESP32' },
  ESP32S2: { mhz: 240, xtensa: true, bootloader: 0x1000, chip: 'ESP32-S2FNR2 (revision v0.0)', chipShort: 'ESP32-S2' },
  ESP32S3: { mhz: 240, xtensa: true, bootloader: 0x0, chip: 'ESP32-S3 (QFN56) (revision v0.2)', chipShort: 'ESP32-S3' },
  ESP32C2: { mhz: 120, xtensa: false, bootloader: 0x0, chip: 'ESP32-C2 (revision v1.0)', chipShort: 'ESP32-C2' },
  ESP32C3: { mhz: 160, xtensa: false, bootloader: 0x0, chip: 'ESP32-C3 (QFN32) (revision v0.4)', chipShort: 'ESP32-C3' },
  ESP32C5: { mhz: 240, xtensa: false, bootloader: 0x2000, chip: 'ESP32-C5 (revision v1.0)', chipShort: 'ESP32-C5' },
  ESP32C6: { mhz: 160, xtensa: false, bootloader: 0x0, chip: 'ESP32-C6 (QFN40) (revision v0.1)', chipShort: 'ESP32-C6' },
  ESP32H2: { mhz: 96, xtensa: false, bootloader: 0x0, chip: 'ESP32-H2 (revision v0.1)', chipShort: 'ESP32-H2' },
  ESP32P4: { mhz: 360, xtensa: false, bootloader: 0x2000, chip: 'ESP32-P4 (revision v1.0)', chipShort: 'ESP32-P4' },
};

export function esp32Hardware(variant) {
  return ESP32_HARDWARE[variant] ?? ESP32_HARDWARE.ESP32;
}

export function libretinyChip(platformKey, board) {
  const b = String(board ?? '').toLowerCase();
  if (platformKey === 'bk72xx') return b.includes('bk7231t') ? 'BK7231T' : b.includes('bk7252') ? 'BK7252' : 'BK7231N';
  if (platformKey === 'rtl87xx') return b.includes('8720') ? 'RTL8720CF' : 'RTL8710BN';
  return 'LN882H';
}

/** UF2 family ids (UF2 spec / LibreTiny). */
export const UF2_FAMILY = {
  RP2040: 0xe48bff56,
  BK7231N: 0x7b3ef230,
  BK7231T: 0x675a40b0,
  BK7252: 0x6a82cc42,
  RTL8710BN: 0x22e0d6fc,
  RTL8720CF: 0x3379cfe2,
  LN882H: 0xa38090a8,
};

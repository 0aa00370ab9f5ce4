// Display forms of a peer-link pin (ui-and-users.md §5.3). Pure and dependency-free: the React
// renderer imports this module too, so no node: imports here.

export const PIN_EMOJI_COUNT = 7;

export interface PinEmoji {
  readonly emoji: string;
  readonly name: string;
}

// Matrix SAS v1 vocabulary, in order; code points exactly as upstream (variation selectors kept).
export const PIN_EMOJI_TABLE: readonly PinEmoji[] = [
  { emoji: '\u{1F436}', name: 'Dog' },
  { emoji: '\u{1F431}', name: 'Cat' },
  { emoji: '\u{1F981}', name: 'Lion' },
  { emoji: '\u{1F40E}', name: 'Horse' },
  { emoji: '\u{1F984}', name: 'Unicorn' },
  { emoji: '\u{1F437}', name: 'Pig' },
  { emoji: '\u{1F418}', name: 'Elephant' },
  { emoji: '\u{1F430}', name: 'Rabbit' },
  { emoji: '\u{1F43C}', name: 'Panda' },
  { emoji: '\u{1F413}', name: 'Rooster' },
  { emoji: '\u{1F427}', name: 'Penguin' },
  { emoji: '\u{1F422}', name: 'Turtle' },
  { emoji: '\u{1F41F}', name: 'Fish' },
  { emoji: '\u{1F419}', name: 'Octopus' },
  { emoji: '\u{1F98B}', name: 'Butterfly' },
  { emoji: '\u{1F337}', name: 'Flower' },
  { emoji: '\u{1F333}', name: 'Tree' },
  { emoji: '\u{1F335}', name: 'Cactus' },
  { emoji: '\u{1F344}', name: 'Mushroom' },
  { emoji: '\u{1F30F}', name: 'Globe' },
  { emoji: '\u{1F319}', name: 'Moon' },
  { emoji: '\u{2601}\u{FE0F}', name: 'Cloud' },
  { emoji: '\u{1F525}', name: 'Fire' },
  { emoji: '\u{1F34C}', name: 'Banana' },
  { emoji: '\u{1F34E}', name: 'Apple' },
  { emoji: '\u{1F353}', name: 'Strawberry' },
  { emoji: '\u{1F33D}', name: 'Corn' },
  { emoji: '\u{1F355}', name: 'Pizza' },
  { emoji: '\u{1F382}', name: 'Cake' },
  { emoji: '\u{2764}\u{FE0F}', name: 'Heart' },
  { emoji: '\u{1F600}', name: 'Smiley' },
  { emoji: '\u{1F916}', name: 'Robot' },
  { emoji: '\u{1F3A9}', name: 'Hat' },
  { emoji: '\u{1F453}', name: 'Glasses' },
  { emoji: '\u{1F527}', name: 'Wrench' },
  { emoji: '\u{1F385}', name: 'Santa' },
  { emoji: '\u{1F44D}', name: 'Thumbs up' },
  { emoji: '\u{2602}\u{FE0F}', name: 'Umbrella' },
  { emoji: '\u{231B}\u{FE0F}', name: 'Hourglass' },
  { emoji: '\u{23F0}', name: 'Clock' },
  { emoji: '\u{1F381}', name: 'Gift' },
  { emoji: '\u{1F4A1}', name: 'Light bulb' },
  { emoji: '\u{1F4D5}', name: 'Book' },
  { emoji: '\u{270F}\u{FE0F}', name: 'Pencil' },
  { emoji: '\u{1F4CE}', name: 'Paperclip' },
  { emoji: '\u{2702}\u{FE0F}', name: 'Scissors' },
  { emoji: '\u{1F512}', name: 'Lock' },
  { emoji: '\u{1F511}', name: 'Key' },
  { emoji: '\u{1F528}', name: 'Hammer' },
  { emoji: '\u{260E}\u{FE0F}', name: 'Telephone' },
  { emoji: '\u{1F3C1}', name: 'Flag' },
  { emoji: '\u{1F682}', name: 'Train' },
  { emoji: '\u{1F6B2}', name: 'Bicycle' },
  { emoji: '\u{2708}\u{FE0F}', name: 'Aeroplane' },
  { emoji: '\u{1F680}', name: 'Rocket' },
  { emoji: '\u{1F3C6}', name: 'Trophy' },
  { emoji: '\u{26BD}\u{FE0F}', name: 'Ball' },
  { emoji: '\u{1F3B8}', name: 'Guitar' },
  { emoji: '\u{1F3BA}', name: 'Trumpet' },
  { emoji: '\u{1F514}', name: 'Bell' },
  { emoji: '\u{2693}\u{FE0F}', name: 'Anchor' },
  { emoji: '\u{1F3A7}', name: 'Headphones' },
  { emoji: '\u{1F4C1}', name: 'Folder' },
  { emoji: '\u{1F4CC}', name: 'Pin' },
];

const HEX_DIGIT = /^[0-9a-fA-F]$/;
const BITS_PER_EMOJI = 6;

/**
 * The 7-emoji fingerprint: the leading 42 bits of the pin in 6-bit groups, most significant
 * first. Only the leading run of hex digits counts, so a non-hex character ends the list early
 * and an empty pin gives an empty list (the UI's loading state).
 */
export function emojiFingerprint(pin: string): PinEmoji[] {
  let bits = '';
  for (const ch of pin.slice(0, 11)) {
    if (!HEX_DIGIT.test(ch)) break;
    bits += parseInt(ch, 16).toString(2).padStart(4, '0');
  }
  const out: PinEmoji[] = [];
  for (let i = 0; i < PIN_EMOJI_COUNT && (i + 1) * BITS_PER_EMOJI <= bits.length; i++) {
    // 6 bits → 0..63, and the table has 64 entries (asserted in fingerprint.test.ts).
    out.push(PIN_EMOJI_TABLE[parseInt(bits.slice(i * BITS_PER_EMOJI, (i + 1) * BITS_PER_EMOJI), 2)]!);
  }
  return out;
}

/** Emoji only, space separated (UI row; one string for copy/paste). */
export function emojiString(pin: string): string {
  return emojiFingerprint(pin)
    .map((e) => e.emoji)
    .join(' ');
}

/** Combined names, for aria-label and for terminals with weak emoji fonts ("Trophy, Fire, …"). */
export function emojiNames(pin: string): string {
  return emojiFingerprint(pin)
    .map((e) => e.name)
    .join(', ');
}

/** Hex grouped as space-separated byte pairs ("ab cd ef …"), lowercased. */
export function groupedHex(pin: string): string {
  const clean = pin.toLowerCase();
  const pairs: string[] = [];
  for (let i = 0; i < clean.length; i += 2) pairs.push(clean.slice(i, i + 2));
  return pairs.join(' ');
}

/** A well-formed pin_sha256: 64 lowercase hex chars. */
export function isPin(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}

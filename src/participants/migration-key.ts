import { randomInt } from 'node:crypto';

/**
 * Migration keys that BDMSL accepts (PrepareToMigrate): 8 to 24 characters with at least
 * two lower-case letters, two upper-case letters, two digits and two of its special
 * characters, no white space. Pure: no I/O besides the CSPRNG.
 */
export const KEY_LENGTH = 24;
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
export const KEY_SPECIALS = '@#$%()[]{}*^-!~|+=';
const ALPHABET = LOWER + UPPER + DIGITS + KEY_SPECIALS;
const CLASSES = [LOWER, UPPER, DIGITS, KEY_SPECIALS];

/**
 * Draws every character uniformly from the whole alphabet with crypto.randomInt (no modulo
 * bias) and rejects strings that break the rule: the result is uniform over all valid keys,
 * with no class pinned to a position. About 20 % of draws are rejected (mostly for too few digits).
 */
export function generateMigrationKey(): string {
  for (;;) {
    let key = '';
    for (let i = 0; i < KEY_LENGTH; i++) key += ALPHABET[randomInt(ALPHABET.length)];
    if (satisfiesSmlKeyRule(key)) return key;
  }
}

export function satisfiesSmlKeyRule(key: string): boolean {
  if (key.length < 8 || key.length > 24) return false;
  for (const ch of key) if (!ALPHABET.includes(ch)) return false;
  return CLASSES.every((cls) => countIn(key, cls) >= 2);
}

function countIn(key: string, cls: string): number {
  let n = 0;
  for (const ch of key) if (cls.includes(ch)) n++;
  return n;
}
